"""Saving a session's attachments into a folder (the Action's `attachments-dir`, the CLI).

Every URL is opened through `bot.devin.download`, which checks each redirect hop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.devin.download import DEFAULT_MAX_BYTES, read_capped, safe_filename
from bot.devin.errors import DevinError

if TYPE_CHECKING:
    from bot.core.devin_models import Attachment
    from bot.devin.client import DevinClient


@dataclass(frozen=True)
class SavedAttachment:
    name: str
    path: Path | None
    size: int
    content_type: str | None
    skipped: str | None = None  # why it was not saved


def save_attachments(
    client: DevinClient,
    attachments: Iterable[Attachment],
    dest: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[SavedAttachment]:
    """Download each attachment into ``dest``; failures are recorded, not raised."""
    dest.mkdir(parents=True, exist_ok=True)
    taken = {p.name.lower() for p in dest.iterdir()}
    saved: list[SavedAttachment] = []
    for att in attachments:
        name = safe_filename(att.name or att.attachment_id or "attachment", taken)
        try:
            resp = client.open_attachment(att.url)
            data = read_capped(resp, max_bytes)
        except DevinError as err:
            saved.append(SavedAttachment(att.name, None, 0, att.content_type, skipped=str(err)))
            continue
        target = dest / name
        target.write_bytes(data)
        ctype = resp.headers.get("Content-Type") or att.content_type
        saved.append(SavedAttachment(att.name, target, len(data), ctype))
    return saved
