"""``devin-bridge sessions watch``: follow a session until it settles.

Cheap by design: one GET of the session per tick; the messages are fetched
only when the session's ``updated_at`` (or its state) changed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_WAITING,
    acus,
    err,
    out,
    print_json,
    raw_of,
)

if TYPE_CHECKING:
    from bot.core.devin_models import Message, Session
    from bot.devin.client import DevinClient

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_FRAME_SECONDS = 0.2


def exit_code_for(session: Session) -> int:
    """0 finished; 3 waiting for input or approval; 4 failed or suspended."""
    if session.needs_input or session.needs_approval:
        return EXIT_WAITING
    if session.status == "error" or session.is_suspended:
        return EXIT_FAILED
    return EXIT_OK


@dataclass
class _Seen:
    updated_at: int | None = None
    state: str | None = None
    messages: set[str] = field(default_factory=set)
    prs: set[str] = field(default_factory=set)


def watch_session(
    client: DevinClient,
    session_id: str,
    interval: float,
    timeout: float | None,
    *,
    json_mode: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    tty: bool | None = None,
) -> int:
    from bot.devin.errors import DevinRateLimited, DevinServerError, DevinUnavailable

    progress = _Progress(enabled=(sys.stderr.isatty() if tty is None else tty) and not json_mode)
    started = clock()
    deadline = None if timeout is None else started + timeout
    seen = _Seen()
    session: Session | None = None
    while True:
        try:
            session = client.get_session(session_id)
        except (DevinUnavailable, DevinServerError, DevinRateLimited) as exc:
            progress.clear()
            err(f"{exc} (still watching)")
        else:
            _report_changes(client, session, seen, progress, quiet=json_mode)
            if session.is_settled:
                progress.clear()
                return _finish(session, json_mode)
        now = clock()
        if deadline is not None and now >= deadline:
            progress.clear()
            return _timed_out(session, session_id, timeout or 0.0, json_mode)
        wait = interval if deadline is None else min(interval, deadline - now)
        progress.wait(wait, sleep, session, now - started)


def _report_changes(
    client: DevinClient, session: Session, seen: _Seen, progress: _Progress, *, quiet: bool
) -> None:
    state = session.state()
    if session.updated_at == seen.updated_at and state == seen.state:
        return
    seen.updated_at = session.updated_at
    if quiet:  # JSON mode prints only the settled session
        seen.state = state
        return
    messages = list(client.iter_messages(session.session_id))
    for message in messages:
        key = message.event_id or f"{message.created_at}:{message.message}"
        if key not in seen.messages:
            seen.messages.add(key)
            progress.clear()
            _print_message(message)
    for pr in session.pull_requests:
        if pr.url not in seen.prs:
            seen.prs.add(pr.url)
            progress.clear()
            _line(time.time(), "pr", pr.url + (f" ({pr.state})" if pr.state else ""))
    if state != seen.state:
        seen.state = state
        progress.clear()
        _line(time.time(), "state", f"{state}  ({acus(session.acus_consumed)} ACUs)")


def _print_message(message: Message) -> None:
    _line(message.created_at or time.time(), message.source, message.message)


def _line(when: float, label: str, text: str) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(when if when < 1e12 else when / 1000))
    lines = text.rstrip().splitlines() or [""]
    out(f"{stamp}  {label:<6} {lines[0]}")
    for extra in lines[1:]:
        out(f"{'':<16}{extra}")


def _finish(session: Session, json_mode: bool) -> int:
    code = exit_code_for(session)
    if json_mode:
        print_json(raw_of(session))
        return code
    sid = session.session_id
    if code == EXIT_WAITING:
        what = "approval" if session.needs_approval else "your input"
        out(f"session {sid} is waiting for {what}: devin-bridge sessions send {sid} '…'")
    elif session.is_suspended:
        out(f"session {sid} is suspended ({session.status_detail or 'no reason given'})")
    elif code == EXIT_FAILED:
        out(f"session {sid} failed: {session.url}")
    else:
        out(f"session {sid} finished: {session.url}")
    return code


def _timed_out(session: Session | None, session_id: str, timeout: float, json_mode: bool) -> int:
    if json_mode and session is not None:
        print_json(raw_of(session))
    state = session.state() if session is not None else "unknown"
    err(f"timed out after {timeout:g} s; session {session_id} is still {state}")
    return EXIT_TIMEOUT


class _Progress:
    """A one-line spinner on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._frame = 0
        self._shown = False

    def wait(
        self,
        seconds: float,
        sleep: Callable[[float], None],
        session: Session | None,
        elapsed: float,
    ) -> None:
        if not self.enabled:
            sleep(max(0.0, seconds))
            return
        left = seconds
        while left > 0:
            state = session.state() if session is not None else "connecting"
            cost = f" · {acus(session.acus_consumed)} ACUs" if session is not None else ""
            frame = SPINNER[self._frame % len(SPINNER)]
            sys.stderr.write(f"\r\033[K{frame} {state}{cost} · {_clock_text(elapsed)}")
            sys.stderr.flush()
            self._shown = True
            self._frame += 1
            step = min(_FRAME_SECONDS, left)
            sleep(step)
            left -= step
            elapsed += step

    def clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._shown = False


def _clock_text(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
