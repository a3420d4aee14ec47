"""Mutable in-memory records. Only `Emulator` touches them, under its lock."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.scenarios import Scenario, Step


@dataclass(eq=False)
class Message:
    seq: int
    event_id: str
    source: str  # "devin" | "user"
    message: str
    created_at: int


@dataclass(eq=False)
class Attachment:
    seq: int
    attachment_id: str  # a UUID: the `{uuid}` of the download path
    name: str
    content_type: str | None
    source: str  # "devin" | "user"
    content: bytes | None  # None: `size` filler bytes, generated on download
    size: int
    external_url: str | None = None  # a user attachment_url the emulator did not issue

    def data(self) -> bytes:
        if self.content is not None:
            return self.content
        return (b"emulator attachment\n" * (self.size // 20 + 1))[: self.size]


@dataclass(eq=False)
class Session:
    seq: int
    hex_id: str
    prompt: str
    title: str
    tags: list[str]
    org_id: str
    user_id: str | None
    service_user_id: str | None
    playbook_id: str | None
    created_at: int
    updated_at: int
    scenario: Scenario
    status: str = "new"
    status_detail: str | None = None
    acus_consumed: float = 0.0
    pull_requests: list[dict[str, Any]] = field(default_factory=list)
    structured_output: Any = None
    structured_output_schema: dict[str, Any] | None = None
    is_archived: bool = False
    parent_hex: str | None = None
    child_hexes: list[str] = field(default_factory=list)
    origin: str = "api"
    devin_mode: str | None = None
    repos: list[str] = field(default_factory=list)
    schedule_id: str | None = None
    max_acu_limit: int | None = None
    messages: list[Message] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    # Lifecycle engine state.
    pending: deque[Step] = field(default_factory=deque)
    polls_since_step: int = 0
    polls_total: int = 0
    waiting_for_message: bool = False
    resume_pending: bool = False
    insights_generated: bool = False
    last_pr_number: int | None = None


@dataclass(eq=False)
class Folder:
    folder_id: str
    name: str
    path: str
    parent_folder_id: str | None = None


@dataclass(eq=False)
class Note:
    seq: int
    note_id: str
    name: str
    body: str
    trigger: str
    folder_id: str | None
    is_enabled: bool
    pinned_repo: str | None
    created_at: int
    updated_at: int


@dataclass(eq=False)
class Playbook:
    seq: int
    playbook_id: str
    title: str
    body: str
    macro: str | None
    structured_output_schema: dict[str, Any] | None
    created_by: str
    updated_by: str
    created_at: int
    updated_at: int


@dataclass(eq=False)
class Schedule:
    seq: int
    schedule_id: str
    fields: dict[str, Any]  # the writable ScheduleCreate/Update fields
    enabled: bool
    created_by: str
    last_edited_by: str | None
    created_at: float
    updated_at: float
    deleted: bool = False
    last_executed_at: float | None = None


@dataclass(eq=False)
class Secret:
    seq: int
    secret_id: str
    key: str
    secret_type: str
    is_sensitive: bool
    note: str | None
    created_by: str
    created_at: int
    updated_at: int
