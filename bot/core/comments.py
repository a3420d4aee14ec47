"""Render the status comment and the bot's other replies (pure).

The status comment (DESIGN.md §1.3) starts with its hidden marker (see
``comment_markers``), then the state, the latest message from Devin and the
detail sections. Everything echoed from Devin or from users goes through
``comment_text`` first, and the whole comment stays under GitHub's
65,536-character limit.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from bot.core.commands import DEFAULT_TRIGGER, help_text
from bot.core.comment_markers import PENDING_MARKER, REPLY_MARKER, STOPPED_MARKER, marker
from bot.core.comment_text import echo_line, format_acus, plain_line
from bot.core.devin_message import render_message
from bot.core.markdown import (
    code_span,
    details,
    link,
    login_ref,
    one_line,
    quote,
    safe_url,
    table_cell,
    truncate,
)
from bot.core.status_sections import attachment_line, attachment_lines, pr_line, structured_block
from bot.core.status_view import (
    STATE_ERROR,
    StatusView,
    display_state,
    elapsed_text,
    is_ended,
    trigger_word,
    view_state,
)
from bot.core.status_wording import ERROR_CHARS, callout, headline, headline_words, title_line

COMMENT_LIMIT = 65_536
_COMMENT_BUDGET = 60_000  # headroom below GitHub's limit
_SUMMARY_BUDGET = 900_000  # job summaries allow 1 MiB per step
_MESSAGE_CHARS = 4_000
_SUMMARY_MESSAGE_CHARS = 20_000
_STRUCTURED_CHARS = 8_000


# --- the status comment -------------------------------------------------------


def render(view: StatusView) -> str:
    """The status comment's Markdown. Line 1 is the marker."""
    return _render(view, show_elapsed=True, budget=_COMMENT_BUDGET)


def fingerprint(view: StatusView) -> str:
    """A hash of what the comment shows, ignoring the elapsed time: edit only
    when it changes."""
    shown = _render(view, show_elapsed=False, budget=_COMMENT_BUDGET)
    return hashlib.sha256(shown.encode()).hexdigest()


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` with lone UTF-16 surrogates (which Devin's JSON may spell as ``\\udfff``)
    replaced by U+FFFD: GitHub, a hash or a log line can take the result."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _render(view: StatusView, *, show_elapsed: bool, budget: int) -> str:
    return valid_text(_render_raw(view, show_elapsed=show_elapsed, budget=budget))


def _render_raw(view: StatusView, *, show_elapsed: bool, budget: int) -> str:
    full = _compose(view, show_elapsed=show_elapsed, previews=True, structured=True)
    if len(full) <= budget:
        return full
    lean = _compose(view, show_elapsed=show_elapsed, previews=False, structured=False)
    if len(lean) <= budget:
        return lean
    return truncate(lean, budget - 40, suffix="\n\n…(status trimmed to fit GitHub's limit)")


def _compose(view: StatusView, *, show_elapsed: bool, previews: bool, structured: bool) -> str:
    s = view.session
    state = display_state(view)
    trigger = trigger_word(view)
    out = [marker(s.session_id) if s is not None else PENDING_MARKER]
    out.append(headline(view, state))
    title = title_line(view)
    if title:
        out.append(title)
    detail = _details_line(view, show_elapsed=show_elapsed)
    if detail:
        out.append(f"<sub>{detail}</sub>")

    call = callout(view, state, trigger)
    if call:
        out += ["", call]
    if view.error and state != STATE_ERROR:
        out += ["", f"⚠️ {echo_line(view.error, ERROR_CHARS)}"]
    if view.note:
        out += ["", f"_{plain_line(view.note, 300)}_"]

    message = render_message(view.latest_message or "", _MESSAGE_CHARS, s.url if s else None)
    if message:
        out += ["", "**Latest from Devin:**", "", quote(message)]

    if s is not None and s.pull_requests:
        out += ["", "**Pull requests:**"]
        out += [f"- {pr_line(pr.url, pr.state)}" for pr in s.pull_requests[:20]]

    if structured and s is not None and s.structured_output:
        out += [
            "",
            details("Structured output", structured_block(s.structured_output, _STRUCTURED_CHARS)),
        ]

    session_url = s.url if s is not None else None
    out += attachment_lines(view.attachments, previews=previews, session_url=session_url)
    out += ["", "---", f"<sub>{_footer(view, trigger)}</sub>"]
    if view.stopped:
        out.append(STOPPED_MARKER)  # so a later `/devin status` still shows it stopped
    return "\n".join(out)


def _details_line(view: StatusView, *, show_elapsed: bool) -> str:
    s = view.session
    bits: list[str] = []
    if show_elapsed or is_ended(view):  # an ended session's duration is fixed
        elapsed = elapsed_text(view)
        if elapsed:
            bits.append(f"⏱ {elapsed}")
    if s is not None:
        bits.append(f"{format_acus(s.acus_consumed)} ACUs")
        status = s.status + (f"/{s.status_detail}" if s.status_detail else "")
        bits.append(code_span(one_line(status)[:60]))
    return " · ".join(bits)


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
        out += [f"{who}{plain_line(error, 300)}", ""]
    out.append(help_text(trigger, commands, labels))
    return "\n".join(out)


def render_refusal(login: str, reason: str) -> str:
    """A polite one-line reply to someone who may not start Devin here."""
    why = plain_line(reason, 300).rstrip(".") if reason else "you need write access"
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
    out += [f"- {plain_line(e, 400)}" for e in items[:30]]
    if len(items) > 30:
        out.append(f"- … and {len(items) - 30} more")
    return "\n".join(out)


def job_summary(view: StatusView) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``."""
    s = view.session
    state = display_state(view)
    emoji, words = headline_words(state)
    rows = [("State", f"{emoji} {words} ({code_span(view_state(view))})")]
    if s is not None:
        rows.append(("Session", link(s.session_id or "session", s.url)))
    if (view.requested_by or "").strip():
        rows.append(("Requested by", login_ref(view.requested_by)))
    if safe_url(view.trigger_url):
        rows.append(("Trigger", link("comment", view.trigger_url)))
    elapsed = elapsed_text(view)
    if elapsed:
        rows.append(("Elapsed", elapsed))
    if s is not None:
        rows.append(("ACUs", format_acus(s.acus_consumed)))
        if s.pull_requests:
            prs = ", ".join(pr_line(pr.url, pr.state) for pr in s.pull_requests[:20])
            rows.append(("Pull requests", prs))
    out = [f"## {emoji} {words}", "", "| | |", "|---|---|"]
    out += [f"| {name} | {table_cell(value)} |" for name, value in rows]
    call = callout(view, state, trigger_word(view))
    if call:
        out += ["", call]
    if view.error and state != STATE_ERROR:
        out += ["", f"⚠️ {echo_line(view.error, ERROR_CHARS)}"]
    session_url = s.url if s is not None else None
    message = render_message(view.latest_message or "", _SUMMARY_MESSAGE_CHARS, session_url)
    if message:
        out += ["", "### Latest message from Devin", "", quote(message)]
    if view.attachments:
        out += ["", "### Attachments", ""]
        out += [attachment_line(a, session_url) for a in view.attachments]
    if s is not None and s.structured_output:
        out += ["", "### Structured output", "", structured_block(s.structured_output, 200_000)]
    text = valid_text("\n".join(out))
    return truncate(text, _SUMMARY_BUDGET, suffix="\n\n…(summary trimmed)")
