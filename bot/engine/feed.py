"""The change feed: which sessions changed since a cursor, found with one list call.

Instead of one GET per session and interval, the bridge lists the sessions carrying its
own tag that were updated after a cursor (`GET /sessions?tags=<tag>&updated_after=<t>`),
and ticks only those, from the list item itself. The cursor is in Devin's clock (the
caller decides how it moves on), read again with an overlap because timestamps have
one-second resolution and Devin's servers may disagree by a little.

The API's filter semantics are only partly documented, so every listed item is checked
against the filters sent: an item without the tag, or updated before the bound, means the
server ignored a filter, and the caller must fall back to reading sessions one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.devin_models import Session
from bot.devin.client import DevinClient

PAGE_SIZE = 200  # the API's maximum `first`
MAX_PAGES = 50  # 10,000 changed sessions per read; the rest wait for the next one
OVERLAP_S = 30  # re-read this much before the cursor: 1 s resolution and clock skew


@dataclass(frozen=True)
class FeedRead:
    """One read of the feed."""

    changed: tuple[Session, ...]  # newest state of each changed session, no duplicates
    cursor: int | None  # the largest updated_at seen (epoch seconds), else the old cursor
    ignored_filter: str | None  # set when the server did not apply a filter we sent
    truncated: bool  # MAX_PAGES was reached: the next read continues from `cursor`


def epoch_seconds(value: float) -> int:
    """Devin timestamps are epoch seconds; tolerate milliseconds."""
    return int(value / 1000) if value > 1e12 else int(value)


def since_for(cursor: int | None, overlap_s: int = OVERLAP_S) -> int | None:
    """The `updated_after` bound to send for a stored cursor."""
    return None if cursor is None else max(0, cursor - overlap_s)


def read_changes(
    devin: DevinClient,
    tag: str,
    cursor: int | None,
    *,
    overlap_s: int = OVERLAP_S,
    page_size: int = PAGE_SIZE,
    max_pages: int = MAX_PAGES,
) -> FeedRead:
    """List the sessions tagged `tag` and updated since `cursor` (all of them without one).

    Raises what the client raises (rate limits, outages): the caller keeps its cursor and
    tries again next interval.
    """
    since = since_for(cursor, overlap_s)
    newest: dict[str, Session] = {}
    top = cursor
    ignored: str | None = None
    pages = 0
    after: str | None = None
    truncated = False
    while True:
        page = devin.list_sessions(tags=[tag], first=page_size, after=after, updated_after=since)
        pages += 1
        for item in page.items:
            if tag not in item.tags:
                ignored = ignored or "tags"
                continue
            updated = epoch_seconds(item.updated_at)
            if since is not None and updated < since:
                ignored = ignored or "updated_after"
                continue
            top = updated if top is None else max(top, updated)
            known = newest.get(item.session_id)
            if known is None or epoch_seconds(known.updated_at) <= updated:
                newest[item.session_id] = item
        if not page.has_next_page or not page.end_cursor or page.end_cursor == after:
            break
        if pages >= max_pages:
            truncated = True
            break
        after = page.end_cursor
    return FeedRead(
        changed=tuple(newest.values()),
        # List order is not by update time: a cut-off read may have missed older changes,
        # so the cursor moves only after a complete read.
        cursor=cursor if truncated else top,
        ignored_filter=ignored,
        truncated=truncated,
    )
