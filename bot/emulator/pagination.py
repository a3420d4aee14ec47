"""Cursor pagination (`first`/`after`) with the v3 `PaginatedResponse` envelope.

Cursors are opaque to clients: base64 of the sequence number of the last item
returned, so a page boundary stays put when new items are created meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.emulator.validation import Query

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    first: int
    after: int | None = None  # sequence number from the cursor
    offset: int | None = None  # schedules' limit/offset mode


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("malformed cursor") from None
    prefix, _, number = text.partition(":")
    if prefix != "seq" or not number.isdigit():
        raise ValueError("malformed cursor")
    return int(number)


def parse_cursor_page(query: Query, default: int, maximum: int) -> PageRequest:
    first = query.integer("first", default, ge=1, le=maximum)
    after_raw = query.string("after")
    after: int | None = None
    if after_raw is not None:
        try:
            after = decode_cursor(after_raw)
        except ValueError:
            query.error("after", "Invalid cursor", "value_error")
    return PageRequest(first=first or default, after=after)


def paginate(
    items: Sequence[T],
    seq_of: Callable[[T], int],
    page: PageRequest,
    *,
    descending: bool,
    render: Callable[[T], dict[str, Any]],
    cursor_on_last_page: bool = False,
) -> dict[str, Any]:
    """`items` must already be sorted by sequence in the given direction."""
    start = 0
    if page.offset is not None:
        start = page.offset
    elif page.after is not None:
        after = page.after
        start = len(items)
        for i, item in enumerate(items):
            seq = seq_of(item)
            if (seq < after) if descending else (seq > after):
                start = i
                break
    chunk = items[start : start + page.first]
    has_next = start + page.first < len(items)
    end_cursor = None
    if chunk and (has_next or cursor_on_last_page):
        end_cursor = encode_cursor(seq_of(chunk[-1]))
    return {
        "items": [render(item) for item in chunk],
        "end_cursor": end_cursor,
        "has_next_page": has_next,
        "total": len(items),
    }
