"""Identifier formats used by the Devin API (see reference §6)."""

from __future__ import annotations

import uuid

SESSION_PREFIX = "devin-"


def new_hex() -> str:
    return uuid.uuid4().hex


def new_uuid() -> str:
    return str(uuid.uuid4())


def bare_session_id(raw: str) -> str:
    """Accept both `devin-<hex>` and `<hex>` (paths, filters, admin calls)."""
    raw = raw.strip()
    if raw.startswith(SESSION_PREFIX):
        raw = raw[len(SESSION_PREFIX) :]
    return raw.lower()
