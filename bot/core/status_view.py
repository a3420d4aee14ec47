"""What a status comment shows, and the state it is in.

``StatusView`` gathers everything the renderers need (the session, who asked,
the latest message, attachments, what the bridge did); the functions here
derive the facts every rendering of it shares: the state, the trigger word and
the elapsed time.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.commands import DEFAULT_TRIGGER
from bot.core.comment_text import format_duration
from bot.core.devin_models import (
    STATE_FAILED,
    STATE_FINISHED,
    STATE_QUEUED,
    STATE_STILL_RUNNING,
    STATE_STOPPED,
    STATE_WORKING,
    Session,
)
from bot.core.markdown import one_line

# Display-only state: no session could be created (reported as ``failed``).
STATE_ERROR = "error"


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
    stopped_by: str | None = None  # who sent `/devin stop`, when the bridge stopped it


def view_state(view: StatusView) -> str:
    """The bridge's state word for the view (DESIGN.md §2.4 ``state``).

    No session yet: ``queued``, or ``failed`` when creating it failed.
    """
    state = display_state(view)
    return STATE_FAILED if state == STATE_ERROR else state


def display_state(view: StatusView) -> str:
    """Like ``view_state``, but keeps ``error`` apart so the comment can say why."""
    s = view.session
    if s is None:
        return STATE_ERROR if view.error else STATE_QUEUED
    state = s.state(stopped=view.stopped)
    if view.stopped and state != STATE_FAILED:
        return STATE_STOPPED
    if view.timed_out and state in (STATE_WORKING, STATE_QUEUED):
        return STATE_STILL_RUNNING
    return state


def trigger_word(view: StatusView) -> str:
    """The trigger as it may appear inside a code span of the comment."""
    t = one_line(view.trigger or "")
    return t.replace("`", "") or DEFAULT_TRIGGER


ENDED_STATES = frozenset({STATE_FINISHED, STATE_STOPPED, STATE_FAILED})


def elapsed_text(view: StatusView) -> str:
    """How long the session ran: counting while it is open, fixed once it ended
    ("finished in 1h 23m"), so a comment re-rendered days later says the same."""
    start = view.started_at
    if start is None and view.session is not None and view.session.created_at:
        start = _epoch(view.session.created_at)
    if start is None or not view.now:
        return ""
    state = display_state(view)
    if view.session is None or state not in ENDED_STATES:
        return format_duration(view.now - start)
    end = _epoch(view.session.updated_at) or view.now
    words = "finished in" if state == STATE_FINISHED else "ended after"
    return f"{words} {format_duration(min(end, view.now) - start)}"


def is_ended(view: StatusView) -> bool:
    """The session ended (finished, stopped or failed): its duration no longer changes."""
    return view.session is not None and display_state(view) in ENDED_STATES


def _epoch(value: float) -> float:
    value = float(value or 0)
    return value / 1000.0 if value > 1e12 else value  # the API may give milliseconds
