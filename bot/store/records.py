"""The values that cross the store's boundary (frozen dataclasses, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lease:
    owner: str
    version: int  # the fencing value: every write under this lease must match it
    until: float


@dataclass(frozen=True)
class NewJob:
    dedupe_key: str
    kind: str
    thread_key: str
    payload: str  # JSON


@dataclass(frozen=True)
class Accepted:
    """What recording a delivery did: "seen" (GUID known), "recorded" (nothing to do),
    "queued" (a new job) or "duplicate" (a job with the same dedupe key exists)."""

    outcome: str
    job_id: int | None = None


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    dedupe_key: str
    kind: str
    thread_key: str
    payload: str
    delivery_id: str | None
    attempts: int  # including this one
    lease: Lease


@dataclass(frozen=True)
class ClaimedSession:
    session_id: str
    thread_key: str | None
    repo: str
    number: int | None
    installation_id: int | None
    comment_id: int | None
    track: str  # JSON TrackState
    status: str
    errors: int
    thread_closed: bool
    created_at: float
    lease: Lease
    # The row's next poll time when it was claimed: a poll requested while the tick runs
    # (the change feed, `/devin status`) changes it, and the tick's own schedule then
    # does not push it back (see finish_tick).
    next_poll_at: float | None = None


@dataclass(frozen=True)
class SessionRecord:
    """A session as a trigger job leaves it (written with a fresh fencing version)."""

    session_id: str
    thread_key: str | None
    repo: str
    number: int | None
    installation_id: int | None
    comment_id: int | None
    track: str
    status: str
    status_detail: str | None
    state: str
    next_poll_at: float


@dataclass(frozen=True)
class TickWrite:
    track: str
    status: str
    status_detail: str | None
    state: str
    comment_id: int | None
    next_poll_at: float
    done: bool
