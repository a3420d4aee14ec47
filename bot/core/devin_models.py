"""Typed views of Devin API v3 sessions, built by tolerant parsers.

Sessions, their messages, attachments and pull requests, the session id forms,
and the status model: the rest of the code asks ``session.needs_input`` instead
of comparing strings. Every parser ignores unknown fields (they stay in ``raw``),
accepts the documented variants, and never raises on a missing optional field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.parsing import (
    as_mapping,
    get_bool,
    get_dict,
    get_float,
    get_int,
    get_opt_str,
    get_str,
    get_strs,
)

_HEX_ID = re.compile(r"^(?:devin-)?([0-9a-zA-Z_-]+)$")

# --- status model -----------------------------------------------------------

STATUS_NEW = "new"
STATUS_CREATING = "creating"
STATUS_CLAIMED = "claimed"
STATUS_RUNNING = "running"
STATUS_EXIT = "exit"
STATUS_ERROR = "error"
STATUS_SUSPENDED = "suspended"
STATUS_RESUMING = "resuming"

TERMINAL_STATUSES = frozenset({STATUS_EXIT, STATUS_ERROR})
QUEUED_STATUSES = frozenset({STATUS_NEW, STATUS_CREATING, STATUS_CLAIMED})

DETAIL_WORKING = "working"
DETAIL_WAITING_FOR_USER = "waiting_for_user"
DETAIL_WAITING_FOR_APPROVAL = "waiting_for_approval"
DETAIL_FINISHED = "finished"

# Suspension reasons that a message cannot lift: the org or user must act first.
USAGE_SUSPEND_REASONS = frozenset(
    {
        "usage_limit_exceeded",
        "out_of_credits",
        "out_of_quota",
        "no_quota_allocation",
        "payment_declined",
        "org_usage_limit_exceeded",
        "total_session_limit_exceeded",
        "user_usage_limit_exceeded",
    }
)

# The bridge's own summary of a session, used in comments and Action outputs.
STATE_QUEUED = "queued"
STATE_WORKING = "working"
STATE_WAITING_FOR_INPUT = "waiting-for-input"
STATE_WAITING_FOR_APPROVAL = "waiting-for-approval"
STATE_FINISHED = "finished"
STATE_STOPPED = "stopped"
# Put on a session before the bridge or the CLI terminates it: the API shows a stopped
# session as `exit`, like one that ended by itself.
STOPPED_TAG = "devin-bridge:stopped"
STATE_FAILED = "failed"
STATE_SUSPENDED = "suspended"
STATE_STILL_RUNNING = "still-running"


def bare_session_id(session_id: str) -> str:
    """The id without the ``devin-`` prefix (both forms occur in responses)."""
    sid = session_id.strip()
    return sid[len("devin-") :] if sid.startswith("devin-") else sid


def path_session_id(session_id: str) -> str:
    """The ``devin-<id>`` form that every per-session path requires."""
    sid = session_id.strip()
    if not _HEX_ID.match(sid) or not bare_session_id(sid):
        raise ValueError(f"not a Devin session id: {session_id!r}")
    return "devin-" + bare_session_id(sid)


def same_session(a: str, b: str) -> bool:
    return bare_session_id(a) == bare_session_id(b)


# --- sessions ---------------------------------------------------------------


@dataclass(frozen=True)
class PullRequest:
    url: str
    state: str | None = None

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> PullRequest | None:
        # v3: pr_url/pr_state; v2 and some docs: url/state.
        url = get_opt_str(d, "pr_url", "url")
        if not url:
            return None
        return cls(url=url, state=get_opt_str(d, "pr_state", "state"))


@dataclass(frozen=True)
class Session:
    session_id: str
    url: str
    status: str
    status_detail: str | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    org_id: str | None = None
    user_id: str | None = None
    service_user_id: str | None = None
    playbook_id: str | None = None
    created_at: int = 0
    updated_at: int = 0
    acus_consumed: float = 0.0
    pull_requests: tuple[PullRequest, ...] = ()
    structured_output: dict[str, Any] | None = None
    is_archived: bool = False
    parent_session_id: str | None = None
    origin: str | None = None
    child_session_ids: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Session:
        d = as_mapping(data)
        sid = get_opt_str(d, "session_id", "devin_id", "id") or ""
        prs: list[PullRequest] = []
        raw_prs = d.get("pull_requests")
        if isinstance(raw_prs, list):
            prs = [p for p in (PullRequest.from_api(as_mapping(x)) for x in raw_prs) if p]
        legacy_pr = get_dict(d, "pull_request")  # v1 shape
        if legacy_pr and not prs:
            pr = PullRequest.from_api(legacy_pr)
            if pr:
                prs.append(pr)
        fallback = f"https://app.devin.ai/sessions/{bare_session_id(sid)}" if sid else ""
        url = get_str(d, "url") or fallback
        return cls(
            session_id=sid,
            url=url,
            status=get_str(d, "status", STATUS_NEW),
            status_detail=get_opt_str(d, "status_detail"),
            title=get_opt_str(d, "title"),
            tags=get_strs(d, "tags"),
            org_id=get_opt_str(d, "org_id"),
            user_id=get_opt_str(d, "user_id"),
            service_user_id=get_opt_str(d, "service_user_id"),
            playbook_id=get_opt_str(d, "playbook_id"),
            created_at=get_int(d, "created_at"),
            updated_at=get_int(d, "updated_at"),
            acus_consumed=get_float(d, "acus_consumed"),
            pull_requests=tuple(prs),
            structured_output=get_dict(d, "structured_output"),
            is_archived=get_bool(d, "is_archived"),
            parent_session_id=get_opt_str(d, "parent_session_id"),
            origin=get_opt_str(d, "origin"),
            child_session_ids=get_strs(d, "child_session_ids"),
            raw=dict(d),
        )

    # -- questions the rest of the code asks --

    @property
    def path_id(self) -> str:
        return path_session_id(self.session_id)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_live(self) -> bool:
        return not self.is_terminal and not self.is_archived

    @property
    def is_queued(self) -> bool:
        return self.status in QUEUED_STATUSES

    @property
    def is_running(self) -> bool:
        return self.status == STATUS_RUNNING

    @property
    def needs_input(self) -> bool:
        return self.is_running and self.status_detail == DETAIL_WAITING_FOR_USER

    @property
    def needs_approval(self) -> bool:
        return self.is_running and self.status_detail == DETAIL_WAITING_FOR_APPROVAL

    @property
    def is_finished(self) -> bool:
        """The task is complete (``running`` + ``finished``) or the session exited."""
        return (self.is_running and self.status_detail == DETAIL_FINISHED) or (
            self.status == STATUS_EXIT
        )

    @property
    def is_suspended(self) -> bool:
        return self.status == STATUS_SUSPENDED

    @property
    def suspend_reason(self) -> str | None:
        return self.status_detail if self.is_suspended else None

    @property
    def blocked_by_usage(self) -> bool:
        return self.is_suspended and (self.status_detail or "") in USAGE_SUSPEND_REASONS

    @property
    def is_working(self) -> bool:
        if self.status == STATUS_RESUMING or self.is_queued:
            return True
        return self.is_running and self.status_detail in (None, DETAIL_WORKING)

    @property
    def is_settled(self) -> bool:
        """Nothing will happen without someone acting: stop waiting, poll slowly."""
        return (
            self.is_terminal
            or self.is_suspended
            or self.needs_input
            or self.needs_approval
            or (self.is_running and self.status_detail == DETAIL_FINISHED)
        )

    def state(self, *, stopped: bool = False) -> str:
        """The bridge's summary state (the Action's ``state`` output)."""
        stopped = stopped or STOPPED_TAG in self.tags
        if self.status == STATUS_ERROR:
            return STATE_FAILED
        if self.status == STATUS_EXIT:
            return STATE_STOPPED if stopped else STATE_FINISHED
        if self.is_suspended:
            return STATE_STOPPED if stopped else STATE_SUSPENDED
        if self.is_queued:
            return STATE_QUEUED
        if self.needs_input:
            return STATE_WAITING_FOR_INPUT
        if self.needs_approval:
            return STATE_WAITING_FOR_APPROVAL
        if self.is_running and self.status_detail == DETAIL_FINISHED:
            return STATE_FINISHED
        return STATE_WORKING


@dataclass(frozen=True)
class Message:
    event_id: str
    source: str
    message: str
    created_at: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Message:
        d = as_mapping(data)
        return cls(
            event_id=get_str(d, "event_id") or get_str(d, "id"),
            source=get_str(d, "source") or get_str(d, "type") or "devin",
            message=get_str(d, "message"),
            created_at=get_int(d, "created_at"),
            raw=dict(d),
        )

    @property
    def from_devin(self) -> bool:
        return self.source.startswith("devin")


@dataclass(frozen=True)
class Attachment:
    """A session attachment or the result of an upload."""

    attachment_id: str
    name: str
    url: str
    source: str | None = None
    content_type: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Attachment:
        d = as_mapping(data)
        return cls(
            attachment_id=get_str(d, "attachment_id") or get_str(d, "id"),
            name=get_str(d, "name") or get_str(d, "filename"),
            url=get_str(d, "url"),
            source=get_opt_str(d, "source"),
            content_type=get_opt_str(d, "content_type"),
            raw=dict(d),
        )
