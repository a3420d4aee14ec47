"""Validated inputs of the session store: create requests, list filters, admin patches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.emulator.errors import field_error
from bot.emulator.records import Session
from bot.emulator.scenarios import STATUS_DETAILS, STATUSES


@dataclass(frozen=True)
class NewSession:
    """A validated create request (plus where it came from)."""

    prompt: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    playbook_id: str | None = None
    create_as_user_id: str | None = None
    devin_mode: str | None = None
    repos: tuple[str, ...] = ()
    max_acu_limit: int | None = None
    structured_output_schema: dict[str, Any] | None = None
    attachment_urls: tuple[str, ...] = ()
    scenario: str | None = None
    parent_id: str | None = None
    origin: str = "api"
    schedule_id: str | None = None


@dataclass(frozen=True)
class SessionFilter:
    """List filters. `tags` must ALL be present; every other list matches ANY value."""

    session_ids: frozenset[str] | None = None
    tags: frozenset[str] = frozenset()
    created_after: int | None = None
    created_before: int | None = None
    updated_after: int | None = None
    updated_before: int | None = None
    playbook_id: str | None = None
    origins: frozenset[str] | None = None
    schedule_id: str | None = None
    user_ids: frozenset[str] | None = None
    service_user_ids: frozenset[str] | None = None
    repo_names: frozenset[str] | None = None

    def matches(self, s: Session) -> bool:
        if self.session_ids is not None and s.hex_id not in self.session_ids:
            return False
        if self.tags and not self.tags.issubset(s.tags):
            return False
        if not (
            _within(s.created_at, self.created_after, self.created_before)
            and _within(s.updated_at, self.updated_after, self.updated_before)
        ):
            return False
        if self.playbook_id is not None and s.playbook_id != self.playbook_id:
            return False
        if self.origins is not None and s.origin not in self.origins:
            return False
        if self.schedule_id is not None and s.schedule_id != self.schedule_id:
            return False
        if self.user_ids is not None and s.user_id not in self.user_ids:
            return False
        if self.service_user_ids is not None and s.service_user_id not in self.service_user_ids:
            return False
        return self.repo_names is None or bool(self.repo_names.intersection(s.repos))

    def without(self, names: Iterable[str]) -> SessionFilter:
        """The same filter with some parameters dropped (a server that ignores them)."""
        names = tuple(names)
        drop: dict[str, Any] = {n: None for n in names if n in _OPTIONAL_FILTERS}
        if "tags" in names:
            drop["tags"] = frozenset()
        return replace(self, **drop)

    def timeless(self) -> SessionFilter:
        """Without the created_/updated_ bounds: every session a client is looking at."""
        return self.without(_TIME_FILTERS)


_TIME_FILTERS = ("created_after", "created_before", "updated_after", "updated_before")
_OPTIONAL_FILTERS = frozenset(
    {
        *_TIME_FILTERS,
        "session_ids",
        "playbook_id",
        "origins",
        "schedule_id",
        "user_ids",
        "service_user_ids",
        "repo_names",
    }
)


def _within(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


_PATCH_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "status_detail": (str, type(None)),
    "acus_consumed": (int, float),
    "title": (str,),
    "tags": (list,),
    "structured_output": (dict, list, str, int, float, bool, type(None)),
    "pull_requests": (list,),
    "is_archived": (bool,),
    "created_at": (int,),
    "updated_at": (int,),
    "origin": (str, type(None)),
    "user_id": (str, type(None)),
    "service_user_id": (str, type(None)),
    "playbook_id": (str, type(None)),
    "max_acu_limit": (int, type(None)),
    "waiting_for_message": (bool,),
}


def checked_patch(fields: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in fields.items():
        allowed = _PATCH_TYPES.get(key)
        if allowed is None:
            known = ", ".join(sorted(_PATCH_TYPES))
            raise field_error(("body", key), f"Field cannot be patched; patchable: {known}")
        bad_bool = isinstance(value, bool) and bool not in allowed
        if bad_bool or not isinstance(value, allowed):
            raise field_error(("body", key), "Wrong type for this field", "type_error")
    if fields.get("status") is not None and fields["status"] not in STATUSES:
        raise field_error(("body", "status"), f"status must be one of {', '.join(STATUSES)}")
    detail = fields.get("status_detail")
    if detail is not None and detail not in STATUS_DETAILS:
        raise field_error(("body", "status_detail"), "Unknown status_detail")
    for pr in fields.get("pull_requests") or []:
        if not isinstance(pr, dict) or not isinstance(pr.get("pr_url"), str):
            raise field_error(("body", "pull_requests"), "Items need a string pr_url")
    if any(not isinstance(t, str) for t in fields.get("tags") or []):
        raise field_error(("body", "tags"), "Tags must be strings")
    return dict(fields)
