"""The lifecycle engine: applies scenario steps to a session (see `scenarios`)."""

from __future__ import annotations

import re
from collections import deque
from typing import Protocol

from bot.emulator.records import Session
from bot.emulator.scenarios import UNSET, USAGE_REASONS, AttachmentSpec, Step, sample_from_schema

TERMINAL_STATUSES = ("exit", "error")
_PLACEHOLDER = re.compile(r"\{(session_id|repo|pr_number|pr_url|title|last_user_message)\}")


class StepHost(Protocol):
    """What the engine needs from the store (implemented by `Emulator`)."""

    def now(self) -> int: ...

    def next_pr_number(self) -> int: ...

    def public_session_id(self, session: Session) -> str: ...

    def add_message(self, session: Session, source: str, text: str) -> None: ...

    def add_session_attachment(self, session: Session, spec: AttachmentSpec) -> None: ...


def session_repo(session: Session) -> str:
    if session.repos:
        return session.repos[0]
    for tag in session.tags:
        if tag.startswith("repo:") and "/" in tag:
            return tag[len("repo:") :]
    return "emulator/example"


def _render(text: str, session: Session, host: StepHost) -> str:
    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "session_id":
            return host.public_session_id(session)
        if key == "repo":
            return session_repo(session)
        if key == "pr_number":
            return str(session.last_pr_number or 1)
        if key == "pr_url":
            return session.pull_requests[-1]["pr_url"] if session.pull_requests else "(no PR)"
        if key == "title":
            return session.title
        last = next((m.message for m in reversed(session.messages) if m.source == "user"), "")
        return last if len(last) <= 200 else last[:199] + "…"

    return _PLACEHOLDER.sub(value, text)


def start(session: Session, host: StepHost) -> None:
    """Queue the scenario and apply its leading `after_polls: 0` steps."""
    session.pending = deque(session.scenario.steps)
    _drain(session, host)


def is_frozen(session: Session) -> bool:
    return session.status in TERMINAL_STATUSES or session.is_archived


def poll(session: Session, host: StepHost) -> None:
    """One `GET` of the session."""
    session.polls_total += 1
    if is_frozen(session):
        return
    if session.resume_pending:
        session.resume_pending = False
        session.polls_since_step = 0
        _set_status(session, host, "running", "working")
        return
    if session.waiting_for_message or session.status == "suspended":
        return
    session.polls_since_step += 1
    _drain(session, host)


def force(session: Session, host: StepHost, steps: int) -> None:
    """Apply the next `steps` steps now, ignoring `after_polls` and waits (admin)."""
    for _ in range(steps):
        if session.resume_pending:
            session.resume_pending = False
            _set_status(session, host, "running", "working")
            continue
        if not session.pending or is_frozen(session):
            return
        session.waiting_for_message = False
        _apply(session, host, session.pending.popleft())
        session.polls_since_step = 0


def user_message(session: Session, host: StepHost) -> None:
    """React to a user message (already appended): wake up, release a wait, follow up."""
    was_waiting = session.waiting_for_message
    session.waiting_for_message = False
    if session.status == "suspended":
        session.resume_pending = True
        _set_status(session, host, "resuming", None)
    elif session.status == "running" and session.status_detail != "working":
        _set_status(session, host, "running", "working")
    if not was_waiting and not session.pending:
        session.pending.extend(session.scenario.on_message)
    session.polls_since_step = 0


def usage_block(session: Session) -> str | None:
    """The reason a suspended session cannot be resumed by a message, if any."""
    if session.status == "suspended" and session.status_detail in USAGE_REASONS:
        return session.status_detail
    return None


def _drain(session: Session, host: StepHost) -> None:
    while (
        session.pending
        and not session.waiting_for_message
        and not is_frozen(session)
        and session.status != "suspended"
        and session.polls_since_step >= session.pending[0].after_polls
    ):
        _apply(session, host, session.pending.popleft())
        session.polls_since_step = 0


def _set_status(session: Session, host: StepHost, status: str, detail: str | None) -> None:
    session.status = status
    session.status_detail = detail
    session.updated_at = host.now()


def _apply(session: Session, host: StepHost, step: Step) -> None:
    if step.title is not None:
        session.title = _render(step.title, session, host)
    if step.status is not None:
        default_detail = "working" if step.status == "running" else None
        session.status = step.status
        session.status_detail = default_detail
    if step.status_detail is not UNSET:
        session.status_detail = step.status_detail
    if step.pull_request is not None:
        session.last_pr_number = host.next_pr_number()
        url = _render(step.pull_request.pr_url, session, host)
        existing = next((p for p in session.pull_requests if p["pr_url"] == url), None)
        if existing is not None:
            existing["pr_state"] = step.pull_request.pr_state
        else:
            session.pull_requests.append({"pr_url": url, "pr_state": step.pull_request.pr_state})
    if step.attachment is not None:
        spec = step.attachment
        if spec.content is not None:
            content = _render(spec.content.decode(), session, host).encode()
            spec = AttachmentSpec(spec.name, content, len(content), spec.content_type)
        host.add_session_attachment(session, spec)
    if step.message is not None:
        host.add_message(session, "devin", _render(step.message, session, host))
    if step.structured_output == "auto":
        if session.structured_output_schema is not None:
            session.structured_output = sample_from_schema(session.structured_output_schema)
    elif step.structured_output is not UNSET:
        session.structured_output = step.structured_output
    if step.acus is not None:
        session.acus_consumed = step.acus
    if step.acus_delta is not None:
        session.acus_consumed = round(session.acus_consumed + step.acus_delta, 4)
    if step.wait_for_message:
        session.waiting_for_message = True
    limit = session.max_acu_limit
    if limit is not None and session.acus_consumed >= limit and not is_frozen(session):
        # Devin stops a session at its ACU cap; the emulator's scenario ends there too.
        session.acus_consumed = float(limit)
        session.status = "suspended"
        session.status_detail = "usage_limit_exceeded"
        session.pending.clear()
        session.waiting_for_message = False
    session.updated_at = host.now()
