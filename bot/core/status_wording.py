"""The status comment's state in words: headline, call-out and suspension reason.

Each state gets an emoji and a headline, and, when someone has to act, a
call-out that says what to do; the wording is shared by the status comment and
the Action's job summary.
"""

from __future__ import annotations

from bot.core.commands import DEFAULT_TRIGGER
from bot.core.comment_text import echo_line
from bot.core.devin_message import neutralize_prose
from bot.core.devin_models import (
    STATE_FAILED,
    STATE_FINISHED,
    STATE_QUEUED,
    STATE_STILL_RUNNING,
    STATE_STOPPED,
    STATE_SUSPENDED,
    STATE_WAITING_FOR_APPROVAL,
    STATE_WAITING_FOR_INPUT,
    STATE_WORKING,
    USAGE_SUSPEND_REASONS,
)
from bot.core.markdown import escape_text, link, login_ref, one_line, safe_url, truncate
from bot.core.sanitize import ZWSP, redact_secrets, strip_invisible
from bot.core.status_view import STATE_ERROR, StatusView

ERROR_CHARS = 500

_HEADLINES = {
    STATE_QUEUED: ("⏳", "Devin is starting"),
    STATE_WORKING: ("🟡", "Devin is working"),
    STATE_WAITING_FOR_INPUT: ("💬", "Devin needs your input"),
    STATE_WAITING_FOR_APPROVAL: ("✋", "Devin is waiting for approval"),
    STATE_FINISHED: ("✅", "Devin finished"),
    STATE_STOPPED: ("⏹️", "Devin was stopped"),
    STATE_FAILED: ("❌", "Devin failed"),
    STATE_SUSPENDED: ("💤", "Devin is suspended"),
    STATE_STILL_RUNNING: ("🔄", "Devin is still working"),
    STATE_ERROR: ("⚠️", "Devin could not start"),
}

_SUSPEND_WORDS = {
    "usage_limit_exceeded": "usage limit exceeded",
    "out_of_credits": "out of credits",
    "out_of_quota": "out of quota",
    "no_quota_allocation": "no quota allocated",
    "payment_declined": "payment declined",
    "org_usage_limit_exceeded": "the organisation's usage limit was reached",
    "total_session_limit_exceeded": "the session limit was reached",
    "user_usage_limit_exceeded": "the user's usage limit was reached",
    "inactivity": "paused after a period of inactivity",
    "user_request": "paused on request",
    "error": "paused after an error",
}

_TRIGGER_KINDS = (
    ("#discussion_r", "this review comment"),
    ("#pullrequestreview-", "this review"),
    ("#issuecomment-", "this comment"),
)


def headline_words(state: str) -> tuple[str, str]:
    """The emoji and the words that head a status for ``state``."""
    return _HEADLINES.get(state, ("🟡", "Devin"))


def suspend_reason_text(reason: str | None, trigger: str = DEFAULT_TRIGGER) -> str:
    """A suspension reason in plain words, with what to do about it."""
    r = (reason or "").strip()
    words = _SUSPEND_WORDS.get(r) or (r.replace("_", " ") if r else "suspended")
    if r in USAGE_SUSPEND_REASONS:
        return f"{words}: raise the limit or wait, then reply `{trigger} continue`"
    return f"{words}: reply `{trigger} <message>` to wake it"


def stopped_words(login: str | None, trigger: str) -> str:
    """The one wording for a session the bridge stopped (``stopper_in`` reads it back)."""
    # Named, not pinged: the person who stopped it knows.
    who = (
        f" by {login_ref(login or '').replace('@', '@' + ZWSP, 1)}" if (login or "").strip() else ""
    )
    return f"**Stopped**{who} with `{trigger} stop`."


def title_line(view: StatusView) -> str:
    """The task's title, as Devin named the session, or "" without one."""
    s = view.session
    raw = one_line(redact_secrets(strip_invisible(s.title or ""))) if s is not None else ""
    # Shown as typed (`<T>` included) but inert: no HTML, pings or issue links.
    title = neutralize_prose(escape_text(truncate(raw, 200)))
    return f"**Task:** {title}" if title else ""


def headline(view: StatusView, state: str) -> str:
    """The status comment's first visible line: state, session link, who asked where."""
    emoji, words = headline_words(state)
    parts = [f"{emoji} **{words}**"]
    s = view.session
    if s is not None and safe_url(s.url):
        parts.append(link("Devin session", s.url))
    requester = (view.requested_by or "").strip()
    who = f"requested by {login_ref(requester)}" if requester else ""
    if who and safe_url(view.trigger_url):
        who += f" {_trigger_phrase(view.trigger_url or '')}"
    if who:
        parts.append(who)
    return " · ".join(parts)


def _trigger_phrase(url: str) -> str:
    """``in [this comment](url)``, or ``([trigger](url))`` for labels and workflows."""
    for fragment, what in _TRIGGER_KINDS:
        if fragment in url:
            return f"in {link(what, url)}"
    return f"({link('trigger', url)})"


def callout(view: StatusView, state: str, trigger: str) -> str:
    """What the reader should do or know in ``state``, or "" when nothing."""
    s = view.session
    session_link = link("Devin session", s.url) if s is not None else "Devin session"
    if state == STATE_WAITING_FOR_INPUT:
        return f"**Devin needs your input.** Reply with `{trigger} <your answer>`."
    if state == STATE_WAITING_FOR_APPROVAL:
        return (
            f"**Devin is waiting for approval.** Approve or reject in the {session_link}, "
            f"or reply with `{trigger} <your answer>`."
        )
    if state == STATE_SUSPENDED and s is not None:
        return f"**Suspended:** {suspend_reason_text(s.suspend_reason, trigger)}."
    if state == STATE_STILL_RUNNING:
        return (
            f"**Still running.** This run stopped waiting, but the session goes on: "
            f"follow it at {session_link}. Reply `{trigger} status` to refresh this comment."
        )
    if state == STATE_STOPPED:
        return stopped_words(view.stopped_by, trigger) if view.stopped else "**Stopped.**"
    if state == STATE_FAILED:
        return f"**The session ended with an error.** Details are in the {session_link}."
    if state == STATE_ERROR:
        error = echo_line(view.error or "unknown error", ERROR_CHARS)
        return (
            f"**Error:** {error}\n\nFix the problem, then comment `{trigger} <instructions>` again."
        )
    if state == STATE_QUEUED and s is None:
        return "Creating the Devin session…"
    return ""
