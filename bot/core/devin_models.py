"""Typed views of Devin API v3 responses, built by tolerant parsers.

Every parser ignores unknown fields (they stay in ``raw``), accepts the
documented variants, and never raises on a missing optional field. The
session status model lives here so that the rest of the code asks
``session.needs_input`` instead of comparing strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

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


# --- parsing helpers --------------------------------------------------------


def _s(d: Mapping[str, Any], key: str, default: str = "") -> str:
    v = d.get(key)
    return v if isinstance(v, str) else default


def _opt_s(d: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        v = d.get(key)
        if isinstance(v, str):
            return v
    return None


def _int(d: Mapping[str, Any], key: str, default: int = 0) -> int:
    v = d.get(key)
    if isinstance(v, bool):
        return default
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    return default


def _opt_int(d: Mapping[str, Any], key: str) -> int | None:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return int(v)


def _float(d: Mapping[str, Any], key: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return 0.0
    return float(v)


def _bool(d: Mapping[str, Any], key: str, default: bool = False) -> bool:
    v = d.get(key)
    return v if isinstance(v, bool) else default


def _strs(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    v = d.get(key)
    if not isinstance(v, list):
        return ()
    return tuple(x for x in v if isinstance(x, str))


def _dict(d: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    v = d.get(key)
    return v if isinstance(v, dict) else None


def as_mapping(data: Any) -> Mapping[str, Any]:
    return data if isinstance(data, Mapping) else {}


def parse_optional(parse: Callable[[Any], T], data: Any) -> T | None:
    """Parse a response body that may be empty (some endpoints answer null or {})."""
    return parse(data) if isinstance(data, Mapping) and data else None


# --- sessions ---------------------------------------------------------------


@dataclass(frozen=True)
class PullRequest:
    url: str
    state: str | None = None

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> PullRequest | None:
        # v3: pr_url/pr_state; v2 and some docs: url/state.
        url = _opt_s(d, "pr_url", "url")
        if not url:
            return None
        return cls(url=url, state=_opt_s(d, "pr_state", "state"))


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
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Session:
        d = as_mapping(data)
        sid = _opt_s(d, "session_id", "devin_id", "id") or ""
        prs: list[PullRequest] = []
        raw_prs = d.get("pull_requests")
        if isinstance(raw_prs, list):
            prs = [p for p in (PullRequest.from_api(as_mapping(x)) for x in raw_prs) if p]
        legacy_pr = _dict(d, "pull_request")  # v1 shape
        if legacy_pr and not prs:
            pr = PullRequest.from_api(legacy_pr)
            if pr:
                prs.append(pr)
        fallback = f"https://app.devin.ai/sessions/{bare_session_id(sid)}" if sid else ""
        url = _s(d, "url") or fallback
        return cls(
            session_id=sid,
            url=url,
            status=_s(d, "status", STATUS_NEW),
            status_detail=_opt_s(d, "status_detail"),
            title=_opt_s(d, "title"),
            tags=_strs(d, "tags"),
            org_id=_opt_s(d, "org_id"),
            user_id=_opt_s(d, "user_id"),
            service_user_id=_opt_s(d, "service_user_id"),
            playbook_id=_opt_s(d, "playbook_id"),
            created_at=_int(d, "created_at"),
            updated_at=_int(d, "updated_at"),
            acus_consumed=_float(d, "acus_consumed"),
            pull_requests=tuple(prs),
            structured_output=_dict(d, "structured_output"),
            is_archived=_bool(d, "is_archived"),
            parent_session_id=_opt_s(d, "parent_session_id"),
            origin=_opt_s(d, "origin"),
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
        """The bridge's summary state (see DESIGN.md §2.4 ``state``)."""
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
            event_id=_s(d, "event_id") or _s(d, "id"),
            source=_s(d, "source") or _s(d, "type") or "devin",
            message=_s(d, "message"),
            created_at=_int(d, "created_at"),
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
            attachment_id=_s(d, "attachment_id") or _s(d, "id"),
            name=_s(d, "name") or _s(d, "filename"),
            url=_s(d, "url"),
            source=_opt_s(d, "source"),
            content_type=_opt_s(d, "content_type"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    end_cursor: str | None = None
    has_next_page: bool = False
    total: int | None = None

    @classmethod
    def from_api(cls, data: Any, parse: Callable[[Any], T]) -> Page[T]:
        if isinstance(data, list):  # bare arrays occur in older docs
            return cls(items=tuple(parse(x) for x in data))
        d = as_mapping(data)
        raw_items = d.get("items")
        items: Sequence[Any] = raw_items if isinstance(raw_items, list) else []
        cursor = _opt_s(d, "end_cursor", "next_cursor")
        has_next = d.get("has_next_page", d.get("has_more"))
        return cls(
            items=tuple(parse(x) for x in items),
            end_cursor=cursor,
            has_next_page=bool(has_next) if isinstance(has_next, bool) else cursor is not None,
            total=_opt_int(d, "total"),
        )


# --- identity and organisations ---------------------------------------------


@dataclass(frozen=True)
class Identity:
    principal_type: str
    id: str | None
    name: str | None
    org_id: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Identity:
        d = as_mapping(data)
        return cls(
            principal_type=_s(d, "principal_type", "unknown"),
            id=_opt_s(d, "service_user_id", "user_id", "id"),
            name=_opt_s(d, "service_user_name", "user_name", "name"),
            org_id=_opt_s(d, "org_id"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Organization:
    org_id: str
    name: str
    max_session_acu_limit: int | None = None
    max_cycle_acu_limit: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Organization:
        d = as_mapping(data)
        return cls(
            org_id=_s(d, "org_id") or _s(d, "id"),
            name=_s(d, "name"),
            max_session_acu_limit=_opt_int(d, "max_session_acu_limit"),
            max_cycle_acu_limit=_opt_int(d, "max_cycle_acu_limit"),
            raw=dict(d),
        )


# --- knowledge, playbooks, schedules ----------------------------------------


@dataclass(frozen=True)
class KnowledgeNote:
    note_id: str
    name: str
    body: str
    trigger: str
    folder_id: str | None = None
    folder_path: str | None = None
    is_enabled: bool = True
    pinned_repo: str | None = None
    macro: str | None = None
    created_at: int = 0
    updated_at: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> KnowledgeNote:
        d = as_mapping(data)
        return cls(
            note_id=_s(d, "note_id") or _s(d, "id"),
            name=_s(d, "name"),
            body=_s(d, "body"),
            trigger=_s(d, "trigger") or _s(d, "trigger_description"),
            folder_id=_opt_s(d, "folder_id", "parent_folder_id"),
            folder_path=_opt_s(d, "folder_path"),
            is_enabled=_bool(d, "is_enabled", True),
            pinned_repo=_opt_s(d, "pinned_repo"),
            macro=_opt_s(d, "macro"),
            created_at=_int(d, "created_at"),
            updated_at=_int(d, "updated_at"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class KnowledgeFolder:
    folder_id: str
    name: str
    path: str
    note_count: int = 0
    parent_folder_id: str | None = None

    @classmethod
    def from_api(cls, data: Any) -> KnowledgeFolder:
        d = as_mapping(data)
        return cls(
            folder_id=_s(d, "folder_id") or _s(d, "id"),
            name=_s(d, "name"),
            path=_s(d, "path"),
            note_count=_int(d, "note_count"),
            parent_folder_id=_opt_s(d, "parent_folder_id"),
        )


@dataclass(frozen=True)
class FolderTree:
    folders: tuple[KnowledgeFolder, ...]
    root_note_count: int = 0

    @classmethod
    def from_api(cls, data: Any) -> FolderTree:
        d = as_mapping(data)
        raw = d.get("folders")
        folders = raw if isinstance(raw, list) else []
        return cls(
            folders=tuple(KnowledgeFolder.from_api(f) for f in folders),
            root_note_count=_int(d, "root_note_count"),
        )


@dataclass(frozen=True)
class Playbook:
    playbook_id: str
    title: str
    body: str
    macro: str | None = None
    created_by: str | None = None
    updated_by: str | None = None
    created_at: int = 0
    updated_at: int = 0
    structured_output_schema: dict[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Playbook:
        d = as_mapping(data)
        return cls(
            playbook_id=_s(d, "playbook_id") or _s(d, "id"),
            # The Common Flows page says name/instructions; the spec says title/body.
            title=_s(d, "title") or _s(d, "name"),
            body=_s(d, "body") or _s(d, "instructions"),
            macro=_opt_s(d, "macro"),
            created_by=_opt_s(d, "created_by"),
            updated_by=_opt_s(d, "updated_by"),
            created_at=_int(d, "created_at"),
            updated_at=_int(d, "updated_at"),
            structured_output_schema=_dict(d, "structured_output_schema"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Schedule:
    schedule_id: str
    name: str
    prompt: str
    frequency: str | None = None
    schedule_type: str | None = None
    scheduled_at: str | None = None
    enabled: bool = True
    agent: str | None = None
    notify_on: str | None = None
    playbook_id: str | None = None
    tags: tuple[str, ...] = ()
    last_executed_at: str | None = None
    last_error_message: str | None = None
    consecutive_failures: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Schedule:
        d = as_mapping(data)
        playbook = _dict(d, "playbook")
        playbook_id = _opt_s(d, "playbook_id") or (
            _opt_s(playbook, "playbook_id") if playbook else None
        )
        enabled = d.get("enabled", d.get("is_enabled", True))
        return cls(
            # The spec names the id scheduled_session_id; Common Flows says schedule_id.
            schedule_id=_opt_s(d, "scheduled_session_id", "schedule_id", "id") or "",
            name=_s(d, "name"),
            prompt=_s(d, "prompt"),
            frequency=_opt_s(d, "frequency", "cron_schedule"),
            schedule_type=_opt_s(d, "schedule_type"),
            scheduled_at=_opt_s(d, "scheduled_at"),
            enabled=bool(enabled),
            agent=_opt_s(d, "agent"),
            notify_on=_opt_s(d, "notify_on"),
            playbook_id=playbook_id,
            tags=_strs(d, "tags"),
            last_executed_at=_ts_text(d.get("last_executed_at")),
            last_error_message=_opt_s(d, "last_error_message"),
            consecutive_failures=_int(d, "consecutive_failures"),
            created_at=_ts_text(d.get("created_at")),
            updated_at=_ts_text(d.get("updated_at")),
            raw=dict(d),
        )


def _ts_text(v: Any) -> str | None:
    # Schedules use ISO strings; tolerate epoch integers too.
    if isinstance(v, str):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(int(v))
    return None
