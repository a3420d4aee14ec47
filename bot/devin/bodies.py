"""Request bodies for the Devin API, as typed frozen dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

MAX_TAGS = 50


@dataclass(frozen=True)
class SessionRequest:
    """``SessionCreateRequest``: every documented field; ``extra`` carries new ones."""

    prompt: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    playbook_id: str | None = None
    knowledge_ids: tuple[str, ...] | None = None
    secret_ids: tuple[str, ...] | None = None
    session_secrets: tuple[Mapping[str, Any], ...] | None = None
    repos: tuple[str, ...] | None = None
    max_acu_limit: int | None = None
    structured_output_schema: Mapping[str, Any] | None = None
    structured_output_required: bool | None = None
    attachment_urls: tuple[str, ...] | None = None
    create_as_user_id: str | None = None
    devin_mode: str | None = None
    platform: str | None = None
    bypass_approval: bool | None = None
    child_playbook_id: str | None = None
    session_links: tuple[str, ...] | None = None
    resumable: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None or (f.name == "tags" and not value):
                continue
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            body[f.name] = value
        body.update(self.extra)
        return body


def dedupe(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for v in values:
        if v and v not in seen:
            seen[v] = None
    return tuple(seen)


def drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if v is not None}
