"""The hidden markers that let the bridge find its own comments again.

A status comment starts with ``<!-- devin-bridge:session=<id> -->`` on its own
line, so the bridge finds it after a restart or in a later Action run; its
other replies carry a marker too, so it never reacts to what it wrote.

Only trust a marker found in a comment the bot itself wrote: anyone can type
one into their own comment.
"""

from __future__ import annotations

import re

MARKER_PREFIX = "<!-- devin-bridge:session="
MARKER_SUFFIX = " -->"
# Marks the bridge's other comments (help, refusals, config errors) and a
# status comment whose session does not exist yet.
REPLY_MARKER = "<!-- devin-bridge:reply -->"
PENDING_MARKER = "<!-- devin-bridge:pending -->"
STOPPED_MARKER = "<!-- devin-bridge:stopped -->"

_MARKER_RE = re.compile(r"<!--\s*devin-bridge:session=(\S+?)\s*-->")
_ANY_MARKER_RE = re.compile(r"<!--\s*devin-bridge:")


def marker(session_id: str) -> str:
    """The hidden marker line, with the id exactly as the API returned it."""
    return f"{MARKER_PREFIX}{session_id}{MARKER_SUFFIX}"


def find_session_id(body: str | None) -> str | None:
    """The session id in a status comment's marker, or None."""
    if not body:
        return None
    m = _MARKER_RE.search(body)
    return m.group(1) if m else None


def is_bridge_comment(body: str | None) -> bool:
    """Whether a comment body carries any devin-bridge marker."""
    return bool(body) and bool(_ANY_MARKER_RE.search(body or ""))
