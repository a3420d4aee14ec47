"""Render the status comment and the bot's other replies (pure).

The status comment (DESIGN.md §1.3) starts with the hidden marker
``<!-- devin-bridge:session=<id> -->`` on its own line, so the bridge finds it
again after a restart or in a later Action run. Everything echoed from Devin
or from users is redacted, stripped of HTML and de-fanged (mentions cannot
ping, fences cannot be broken), and the whole comment stays under GitHub's
65,536-character limit.

Only trust a marker found in a comment the bot itself wrote: anyone can type
one into their own comment.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.core.commands import DEFAULT_TRIGGER, help_text
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
    Session,
)
from bot.core.markdown import (
    code_span,
    details,
    escape_text,
    link,
    login_ref,
    one_line,
    quote,
    safe_url,
    table_cell,
    truncate,
)
from bot.core.sanitize import fence, neutralize_mentions, redact_secrets, strip_html

MARKER_PREFIX = "<!-- devin-bridge:session="
MARKER_SUFFIX = " -->"
# Marks the bridge's other comments (help, refusals, config errors) and a
# status comment whose session does not exist yet.
REPLY_MARKER = "<!-- devin-bridge:reply -->"
PENDING_MARKER = "<!-- devin-bridge:pending -->"
STOPPED_MARKER = "<!-- devin-bridge:stopped -->"

COMMENT_LIMIT = 65_536
_COMMENT_BUDGET = 60_000  # headroom below GitHub's limit
_SUMMARY_BUDGET = 900_000  # job summaries allow 1 MiB per step
_MESSAGE_CHARS = 600
_ERROR_CHARS = 500
_STRUCTURED_CHARS = 8_000
_PREVIEW_CHARS = 2_000
_PREVIEWS_TOTAL = 12_000
_MAX_ATTACHMENTS = 30

_MARKER_RE = re.compile(r"<!--\s*devin-bridge:session=(\S+?)\s*-->")
_ANY_MARKER_RE = re.compile(r"<!--\s*devin-bridge:")
_PR_URL = re.compile(r"^https?://[^/]+/([^/]+)/([^/]+)/pull/(\d+)")

# Display-only state: no session could be created (reported as ``failed``).
_STATE_ERROR = "error"


@dataclass(frozen=True)
class AttachmentView:
    name: str
    url: str
    text_preview: str | None = None  # a small text file's content, shown inline


@dataclass(frozen=True)
class StatusView:
    session: Session | None
    requested_by: str
    trigger_url: str | None = None
    started_at: float | None = None  # epoch seconds
    now: float = 0.0
    latest_message: str | None = None
    attachments: tuple[AttachmentView, ...] = ()
    stopped: bool = False  # the bridge terminated the session
    timed_out: bool = False  # the Action stopped waiting; the session goes on
    error: str | None = None
    note: str | None = None  # e.g. "Follow-up sent by @x"
    trigger: str = DEFAULT_TRIGGER


# --- markers ------------------------------------------------------------------


def marker(session_id: str) -> str:
    """The hidden marker line, with the id exactly as the API returned it."""
    return f"{MARKER_PREFIX}{session_id}{MARKER_SUFFIX}"


def find_session_id(body: str | None) -> str | None:
    """The session id in a status comment's marker, or None."""
    if not body:
        return None
    m = _MARKER_RE.search(body)
    return m.group(1) if m else None


def is_bridge_comment(body: str | None) -> bool:
    """Whether a comment body carries any devin-bridge marker."""
    return bool(body) and bool(_ANY_MARKER_RE.search(body or ""))


# --- state --------------------------------------------------------------------


def view_state(view: StatusView) -> str:
    """The bridge's state word for the view (DESIGN.md §2.4 ``state``).

    No session yet: ``queued``, or ``failed`` when creating it failed.
    """
    state = _display_state(view)
    return STATE_FAILED if state == _STATE_ERROR else state


def _display_state(view: StatusView) -> str:
    s = view.session
    if s is None:
        return _STATE_ERROR if view.error else STATE_QUEUED
    state = s.state(stopped=view.stopped)
    if view.stopped and state != STATE_FAILED:
        return STATE_STOPPED
    if view.timed_out and state in (STATE_WORKING, STATE_QUEUED):
        return STATE_STILL_RUNNING
    return state


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
    _STATE_ERROR: ("⚠️", "Devin could not start"),
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


def suspend_reason_text(reason: str | None, trigger: str = DEFAULT_TRIGGER) -> str:
    """A suspension reason in plain words, with what to do about it."""
    r = (reason or "").strip()
    words = _SUSPEND_WORDS.get(r) or (r.replace("_", " ") if r else "suspended")
    if r in USAGE_SUSPEND_REASONS:
        return f"{words}: raise the limit or wait, then reply `{trigger} continue`"
    return f"{words}: reply `{trigger} <message>` to wake it"


# --- the status comment -------------------------------------------------------


def render(view: StatusView) -> str:
    """The status comment's Markdown. Line 1 is the marker."""
    return _render(view, show_elapsed=True, budget=_COMMENT_BUDGET)


def fingerprint(view: StatusView) -> str:
    """A hash of what the comment shows, ignoring the elapsed time: edit only
    when it changes."""
    shown = _render(view, show_elapsed=False, budget=_COMMENT_BUDGET)
    return hashlib.sha256(shown.encode()).hexdigest()


def _render(view: StatusView, *, show_elapsed: bool, budget: int) -> str:
    full = _compose(view, show_elapsed=show_elapsed, previews=True, structured=True)
    if len(full) <= budget:
        return full
    lean = _compose(view, show_elapsed=show_elapsed, previews=False, structured=False)
    if len(lean) <= budget:
        return lean
    return truncate(lean, budget - 40, suffix="\n\n…(status trimmed to fit GitHub's limit)")


def _compose(view: StatusView, *, show_elapsed: bool, previews: bool, structured: bool) -> str:
    s = view.session
    state = _display_state(view)
    trigger = _trigger(view)
    out = [marker(s.session_id) if s is not None else PENDING_MARKER]
    out.append(_headline(view, state))
    detail = _details_line(view, show_elapsed=show_elapsed)
    if detail:
        out.append(f"<sub>{detail}</sub>")

    callout = _callout(view, state, trigger)
    if callout:
        out += ["", callout]
    if view.error and state != _STATE_ERROR:
        out += ["", f"⚠️ {_echo_line(view.error, _ERROR_CHARS)}"]
    if view.note:
        out += ["", f"_{_plain_line(view.note, 300)}_"]

    message = _echo_block(view.latest_message or "", _MESSAGE_CHARS)
    if message:
        out += ["", "**Latest from Devin:**", quote(message)]

    if s is not None and s.pull_requests:
        out += ["", "**Pull requests:**"]
        out += [f"- {_pr_line(pr.url, pr.state)}" for pr in s.pull_requests[:20]]

    if structured and s is not None and s.structured_output:
        out += [
            "",
            details("Structured output", _structured_block(s.structured_output, _STRUCTURED_CHARS)),
        ]

    out += _attachment_lines(view.attachments, previews=previews)
    out += ["", "---", f"<sub>{_footer(view, trigger)}</sub>"]
    if view.stopped:
        out.append(STOPPED_MARKER)  # so a later `/devin status` still shows it stopped
    return "\n".join(out)


def _headline(view: StatusView, state: str) -> str:
    emoji, words = _HEADLINES.get(state, ("🟡", "Devin"))
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


_TRIGGER_KINDS = (
    ("#discussion_r", "this review comment"),
    ("#pullrequestreview-", "this review"),
    ("#issuecomment-", "this comment"),
)


def _trigger_phrase(url: str) -> str:
    """``in [this comment](url)``, or ``([trigger](url))`` for labels and workflows."""
    for fragment, what in _TRIGGER_KINDS:
        if fragment in url:
            return f"in {link(what, url)}"
    return f"({link('trigger', url)})"


def _details_line(view: StatusView, *, show_elapsed: bool) -> str:
    s = view.session
    bits: list[str] = []
    if show_elapsed:
        elapsed = _elapsed(view)
        if elapsed:
            bits.append(f"⏱ {elapsed}")
    if s is not None:
        bits.append(f"{_acus(s.acus_consumed)} ACUs")
        status = s.status + (f"/{s.status_detail}" if s.status_detail else "")
        bits.append(code_span(one_line(status)[:60]))
    return " · ".join(bits)


def _callout(view: StatusView, state: str, trigger: str) -> str:
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
        return "**Stopped** by the bridge." if view.stopped else "**Stopped.**"
    if state == STATE_FAILED:
        return f"**The session ended with an error.** Details are in the {session_link}."
    if state == _STATE_ERROR:
        error = _echo_line(view.error or "unknown error", _ERROR_CHARS)
        return (
            f"**Error:** {error}\n\nFix the problem, then comment `{trigger} <instructions>` again."
        )
    if state == STATE_QUEUED and s is None:
        return "Creating the Devin session…"
    return ""


def _footer(view: StatusView, trigger: str) -> str:
    s = view.session
    live = s is not None and s.is_live and not view.stopped
    t = trigger
    if s is None and not view.error:
        return f"`{t} help` lists the commands"
    if live:
        return (
            f"`{t} <message>` sends Devin a message · `{t} stop` stops the session · "
            f"`{t} status` refreshes this comment · `{t} help`"
        )
    return f"`{t} <instructions>` starts a new session · `{t} help`"


def _pr_line(url: str, state: str | None) -> str:
    m = _PR_URL.match(url or "")
    label = f"{m.group(1)}/{m.group(2)}#{m.group(3)}" if m else one_line(url)
    shown = link(label, url)
    return f"{shown} ({escape_text(state)})" if state else shown


def _structured_block(data: object, limit: int) -> str:
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(data)
    text = redact_secrets(text)
    if len(text) > limit:
        text = text[:limit] + "\n… (truncated; the full output is in the session)"
    return fence(text, "json")


def _attachment_lines(attachments: Iterable[AttachmentView], *, previews: bool) -> list[str]:
    items = list(attachments)
    if not items:
        return []
    out = ["", "**Attachments:**"]
    for a in items[:_MAX_ATTACHMENTS]:
        out.append(f"- {link(_plain_line(a.name, 120) or 'attachment', a.url)}")
    if len(items) > _MAX_ATTACHMENTS:
        out.append(f"- … and {len(items) - _MAX_ATTACHMENTS} more in the session")
    if previews:
        budget = _PREVIEWS_TOTAL
        for a in items[:_MAX_ATTACHMENTS]:
            if not a.text_preview or budget <= 0:
                continue
            limit = min(_PREVIEW_CHARS, budget)
            # Redact a window wider than what is shown, so no secret is cut in half first.
            text = redact_secrets(a.text_preview[: limit + 1_000].replace("\r\n", "\n"))
            # A marker inside a preview must not make this comment look like another's.
            text = text.replace("<!--", "<\u200b!--")
            text = truncate(text, limit, suffix="\n… (truncated)")
            budget -= len(text)
            out += ["", details(f"📄 {one_line(_defang(a.name, 120))[:120]}", fence(text))]
    return out


# --- other replies ------------------------------------------------------------


def render_help(
    trigger: str = DEFAULT_TRIGGER,
    commands: Mapping[str, str | None] | Iterable[str] = (),
    labels: Mapping[str, str | None] | Iterable[str] = (),
    *,
    error: str | None = None,
    login: str | None = None,
) -> str:
    """The reply to ``/devin help`` and to malformed commands."""
    out = [REPLY_MARKER]
    if error:
        who = f"{login_ref(login)}: " if login else ""
        out += [f"{who}{_plain_line(error, 300)}", ""]
    out.append(help_text(trigger, commands, labels))
    return "\n".join(out)


def render_refusal(login: str, reason: str) -> str:
    """A polite one-line reply to someone who may not start Devin here."""
    why = _plain_line(reason, 300).rstrip(".") if reason else "you need write access"
    return (
        f"{REPLY_MARKER}\n"
        f"Sorry {login_ref(login)}, I can't start Devin for you on this repository: {why}. "
        "Ask a maintainer to trigger it for you."
    )


def render_config_error(errors: Iterable[str], path: str = ".github/devin.yml") -> str:
    """A comment listing the problems in the repository config."""
    items = [e for e in errors if e]
    out = [
        REPLY_MARKER,
        f"⚠️ **{code_span(path)} has problems.** devin-bridge ignores the entries named "
        "below and uses the defaults for them until the file is fixed:",
        "",
    ]
    out += [f"- {_plain_line(e, 400)}" for e in items[:30]]
    if len(items) > 30:
        out.append(f"- … and {len(items) - 30} more")
    return "\n".join(out)


def job_summary(view: StatusView) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``."""
    s = view.session
    state = _display_state(view)
    emoji, words = _HEADLINES.get(state, ("🟡", "Devin"))
    rows = [("State", f"{emoji} {words} ({code_span(view_state(view))})")]
    if s is not None:
        rows.append(("Session", link(s.session_id or "session", s.url)))
    if (view.requested_by or "").strip():
        rows.append(("Requested by", login_ref(view.requested_by)))
    if safe_url(view.trigger_url):
        rows.append(("Trigger", link("comment", view.trigger_url)))
    elapsed = _elapsed(view)
    if elapsed:
        rows.append(("Elapsed", elapsed))
    if s is not None:
        rows.append(("ACUs", _acus(s.acus_consumed)))
        if s.pull_requests:
            prs = ", ".join(_pr_line(pr.url, pr.state) for pr in s.pull_requests[:20])
            rows.append(("Pull requests", prs))
    out = [f"## {emoji} {words}", "", "| | |", "|---|---|"]
    out += [f"| {name} | {table_cell(value)} |" for name, value in rows]
    callout = _callout(view, state, _trigger(view))
    if callout:
        out += ["", callout]
    if view.error and state != _STATE_ERROR:
        out += ["", f"⚠️ {_echo_line(view.error, _ERROR_CHARS)}"]
    message = _echo_block(view.latest_message or "", 4_000)
    if message:
        out += ["", "### Latest message from Devin", "", quote(message)]
    if view.attachments:
        out += ["", "### Attachments", ""]
        out += [
            f"- {link(_plain_line(a.name, 200) or 'attachment', a.url)}" for a in view.attachments
        ]
    if s is not None and s.structured_output:
        out += ["", "### Structured output", "", _structured_block(s.structured_output, 200_000)]
    text = "\n".join(out)
    return truncate(text, _SUMMARY_BUDGET, suffix="\n\n…(summary trimmed)")


# --- helpers ------------------------------------------------------------------


def _trigger(view: StatusView) -> str:
    t = one_line(view.trigger or "")
    return t.replace("`", "") or DEFAULT_TRIGGER


def _echo_line(text: str, limit: int) -> str:
    """Untrusted text for a single line of a comment: Markdown is escaped too."""
    return escape_text(truncate(one_line(_defang(text, limit)), limit))


def _plain_line(text: str, limit: int) -> str:
    """The bridge's own text (which may quote config values) for one line:
    Markdown kept, HTML, pings and secrets removed."""
    return truncate(one_line(_defang(text, limit)), limit)


def _echo_block(text: str, limit: int) -> str:
    """Untrusted multi-line text for a quote: HTML stripped, no pings, no secrets."""
    cleaned = _defang(text, limit).strip()
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    return truncate(cleaned, limit)


def _defang(text: str, limit: int) -> str:
    # Work on a window wider than what will be shown (HTML and redaction shrink
    # text), so huge messages stay cheap and no secret is cut in half first.
    window = (text or "")[: limit * 4 + 2_000]
    return neutralize_mentions(redact_secrets(strip_html(window)))


def _elapsed(view: StatusView) -> str:
    start = view.started_at
    if start is None and view.session is not None and view.session.created_at:
        start = float(view.session.created_at)
        if start > 1e12:  # milliseconds
            start /= 1000.0
    if start is None or not view.now:
        return ""
    return format_duration(view.now - start)


def format_duration(seconds: float) -> str:
    """``<1m``, ``12m``, ``1h 05m``, ``2d 3h``."""
    total = max(0, int(seconds))
    minutes = total // 60
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _acus(value: float) -> str:
    if value <= 0:
        return "0"
    if value < 0.1:
        return "<0.1"
    return f"{value:.1f}"
