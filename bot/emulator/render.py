"""Records → JSON bodies in the shapes of the API reference (§2–§5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bot.emulator.config import EmulatorConfig
from bot.emulator.ids import SESSION_PREFIX
from bot.emulator.records import (
    Attachment,
    Folder,
    Message,
    Note,
    Playbook,
    Schedule,
    Secret,
    Session,
)


def public_session_id(config: EmulatorConfig, hex_id: str) -> str:
    return SESSION_PREFIX + hex_id if config.session_id_form == "prefixed" else hex_id


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat()


def session_json(config: EmulatorConfig, s: Session, *, for_create: bool = False) -> dict[str, Any]:
    sid = public_session_id(config, s.hex_id)
    body: dict[str, Any] = {
        "session_id": sid,
        "url": f"{config.app_url}/sessions/{sid}",
        "status": s.status,
        "status_detail": s.status_detail,
        "title": s.title,
        "tags": list(s.tags),
        "org_id": s.org_id,
        "user_id": s.user_id,
        "service_user_id": s.service_user_id,
        "playbook_id": s.playbook_id,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "acus_consumed": s.acus_consumed,
        "pull_requests": [dict(pr) for pr in s.pull_requests],
        "structured_output": s.structured_output,
        "is_archived": s.is_archived,
        "parent_session_id": (
            public_session_id(config, s.parent_hex) if s.parent_hex is not None else None
        ),
        "child_session_ids": [public_session_id(config, h) for h in s.child_hexes] or None,
        "origin": s.origin,
        "category": None,
        "subcategory": None,
        # Seen in live responses though not in the spec; clients must ignore extras.
        "devin_mode": s.devin_mode,
    }
    if for_create and config.omit_status_detail_on_create:
        del body["status_detail"]
        del body["structured_output"]
    return body


def message_json(m: Message) -> dict[str, Any]:
    return {
        "event_id": m.event_id,
        "source": m.source,
        "message": m.message,
        "created_at": m.created_at,
    }


def attachment_url(base_url: str, org_id: str, a: Attachment) -> str:
    if a.external_url is not None:
        return a.external_url
    name = quote(a.name, safe="")
    return f"{base_url}/v3/organizations/{org_id}/attachments/{a.attachment_id}/{name}"


def upload_json(base_url: str, org_id: str, a: Attachment) -> dict[str, Any]:
    return {
        "attachment_id": a.attachment_id,
        "name": a.name,
        "url": attachment_url(base_url, org_id, a),
    }


def session_attachment_json(base_url: str, org_id: str, a: Attachment) -> dict[str, Any]:
    return {
        "attachment_id": a.attachment_id,
        "name": a.name,
        "source": a.source,
        "url": attachment_url(base_url, org_id, a),
        "content_type": a.content_type,
    }


def folder_path(folder: Folder | None) -> str:
    return folder.path if folder is not None else "/"


def note_json(config: EmulatorConfig, n: Note, folder: Folder | None) -> dict[str, Any]:
    return {
        "note_id": n.note_id,
        "name": n.name,
        "body": n.body,
        "trigger": n.trigger,
        "folder_id": n.folder_id,
        "folder_path": folder_path(folder),
        "is_enabled": n.is_enabled,
        "pinned_repo": n.pinned_repo,
        "macro": None,
        "access_type": "org",
        "org_id": config.org_id,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
    }


def playbook_json(config: EmulatorConfig, p: Playbook) -> dict[str, Any]:
    return {
        "playbook_id": p.playbook_id,
        "title": p.title,
        "body": p.body,
        "macro": p.macro,
        "created_by": p.created_by,
        "updated_by": p.updated_by,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "access_type": "org",
        "org_id": config.org_id,
        "structured_output_schema": p.structured_output_schema,
    }


def schedule_json(config: EmulatorConfig, s: Schedule, playbook: Playbook | None) -> dict[str, Any]:
    f = s.fields
    return {
        "scheduled_session_id": s.schedule_id,
        "org_id": config.org_id,
        "created_by": s.created_by,
        "name": f["name"],
        "prompt": f["prompt"],
        "playbook": (
            {"playbook_id": playbook.playbook_id, "title": playbook.title}
            if playbook is not None
            else (
                {"playbook_id": f["playbook_id"], "title": None} if f.get("playbook_id") else None
            )
        ),
        "frequency": f.get("frequency"),
        "enabled": s.enabled,
        "last_executed_at": iso(s.last_executed_at),
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "last_error_at": None,
        "last_error_message": None,
        "consecutive_failures": 0,
        "notify_on": f.get("notify_on") or "failure",
        "agent": f.get("agent") or "devin",
        "schedule_type": f.get("schedule_type") or "recurring",
        "scheduled_at": f.get("scheduled_at"),
        "interval_count": f.get("interval_count") or 1,
        "bypass_approval": bool(f.get("bypass_approval")),
        "tags": list(f.get("tags") or []),
        "platform": f.get("platform"),
        "slack_channel_id": f.get("slack_channel_id"),
        "slack_team_id": f.get("slack_team_id"),
        "target_devin_id": f.get("target_devin_id"),
        "last_edited_by": s.last_edited_by,
    }


def secret_json(config: EmulatorConfig, s: Secret) -> dict[str, Any]:
    return {
        "secret_id": s.secret_id,
        "key": s.key,
        "note": s.note,
        "is_sensitive": s.is_sensitive,
        "created_by": s.created_by,
        "created_at": s.created_at,
        "secret_type": s.secret_type,
        "access_type": "org",
        "updated_at": s.updated_at,
        "updated_by": s.created_by,
    }
