"""Typed views of a Devin organisation's resources, built by tolerant parsers.

The caller's identity, the organisation and its limits, knowledge notes and
folders, playbooks and scheduled sessions. Like the session records, every
parser ignores unknown fields (they stay in ``raw``) and never raises on a
missing optional field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.parsing import (
    as_mapping,
    get_bool,
    get_dict,
    get_int,
    get_opt_int,
    get_opt_str,
    get_str,
    get_strs,
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
            principal_type=get_str(d, "principal_type", "unknown"),
            id=get_opt_str(d, "service_user_id", "user_id", "id"),
            name=get_opt_str(d, "service_user_name", "user_name", "name"),
            org_id=get_opt_str(d, "org_id"),
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
            org_id=get_str(d, "org_id") or get_str(d, "id"),
            name=get_str(d, "name"),
            max_session_acu_limit=get_opt_int(d, "max_session_acu_limit"),
            max_cycle_acu_limit=get_opt_int(d, "max_cycle_acu_limit"),
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
            note_id=get_str(d, "note_id") or get_str(d, "id"),
            name=get_str(d, "name"),
            body=get_str(d, "body"),
            trigger=get_str(d, "trigger") or get_str(d, "trigger_description"),
            folder_id=get_opt_str(d, "folder_id", "parent_folder_id"),
            folder_path=get_opt_str(d, "folder_path"),
            is_enabled=get_bool(d, "is_enabled", True),
            pinned_repo=get_opt_str(d, "pinned_repo"),
            macro=get_opt_str(d, "macro"),
            created_at=get_int(d, "created_at"),
            updated_at=get_int(d, "updated_at"),
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
            folder_id=get_str(d, "folder_id") or get_str(d, "id"),
            name=get_str(d, "name"),
            path=get_str(d, "path"),
            note_count=get_int(d, "note_count"),
            parent_folder_id=get_opt_str(d, "parent_folder_id"),
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
            root_note_count=get_int(d, "root_note_count"),
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
            playbook_id=get_str(d, "playbook_id") or get_str(d, "id"),
            # The Common Flows page says name/instructions; the spec says title/body.
            title=get_str(d, "title") or get_str(d, "name"),
            body=get_str(d, "body") or get_str(d, "instructions"),
            macro=get_opt_str(d, "macro"),
            created_by=get_opt_str(d, "created_by"),
            updated_by=get_opt_str(d, "updated_by"),
            created_at=get_int(d, "created_at"),
            updated_at=get_int(d, "updated_at"),
            structured_output_schema=get_dict(d, "structured_output_schema"),
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
        playbook = get_dict(d, "playbook")
        playbook_id = get_opt_str(d, "playbook_id") or (
            get_opt_str(playbook, "playbook_id") if playbook else None
        )
        enabled = d.get("enabled", d.get("is_enabled", True))
        return cls(
            # The spec names the id scheduled_session_id; Common Flows says schedule_id.
            schedule_id=get_opt_str(d, "scheduled_session_id", "schedule_id", "id") or "",
            name=get_str(d, "name"),
            prompt=get_str(d, "prompt"),
            frequency=get_opt_str(d, "frequency", "cron_schedule"),
            schedule_type=get_opt_str(d, "schedule_type"),
            scheduled_at=get_opt_str(d, "scheduled_at"),
            enabled=bool(enabled),
            agent=get_opt_str(d, "agent"),
            notify_on=get_opt_str(d, "notify_on"),
            playbook_id=playbook_id,
            tags=get_strs(d, "tags"),
            last_executed_at=_ts_text(d.get("last_executed_at")),
            last_error_message=get_opt_str(d, "last_error_message"),
            consecutive_failures=get_int(d, "consecutive_failures"),
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


# --- session insights and organisation secrets --------------------------------------


@dataclass(frozen=True)
class SessionInsights:
    """``SessionInsightsResponse``: the session plus Devin's analysis (null until generated)."""

    session_id: str
    analysis: dict[str, Any] | None = None
    num_devin_messages: int = 0
    num_user_messages: int = 0
    session_size: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> SessionInsights:
        d = as_mapping(data)
        return cls(
            session_id=get_str(d, "session_id"),
            analysis=get_dict(d, "analysis"),
            num_devin_messages=get_int(d, "num_devin_messages"),
            num_user_messages=get_int(d, "num_user_messages"),
            session_size=get_opt_str(d, "session_size"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class OrgSecret:
    """An organisation secret's metadata; the API never returns the value."""

    secret_id: str
    key: str
    secret_type: str | None = None
    is_sensitive: bool = True
    note: str | None = None
    created_by: str | None = None
    created_at: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> OrgSecret:
        d = as_mapping(data)
        # Keep only metadata: a server that echoed a value must not get it printed.
        safe = {k: v for k, v in d.items() if k != "value"}
        return cls(
            secret_id=get_str(d, "secret_id") or get_str(d, "id"),
            key=get_str(d, "key"),
            secret_type=get_opt_str(d, "secret_type", "type"),
            is_sensitive=get_bool(d, "is_sensitive", True),
            note=get_opt_str(d, "note"),
            created_by=get_opt_str(d, "created_by"),
            created_at=get_int(d, "created_at"),
            raw=safe,
        )
