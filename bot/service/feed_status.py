"""Whether the change feed currently stands in for per-session polling.

Shared through the store (the feed's reader records when it last completed a read, and
until when the API's ignored filter sends everyone back to per-session polling), so every
process schedules its ticks the same way.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from bot.store.facade import Store

log = logging.getLogger("devin_bridge.feed")

STALE_INTERVALS = 3.0  # no completed read for this many intervals: the feed counts as down
STATUS_CACHE_S = 1.0
# No completed read for this many intervals (5 minutes at 10 s): the feed is down, not
# restarting, and the sessions' own schedules take over at once.
LAPSE_INTERVALS = 30.0
# The individual safety reads of all live sessions together stay within this many GETs an
# hour: with the feed's one list call per interval (360 an hour at 10 s) an idle fleet of
# any size costs about 400 requests an hour. A small fleet is still read every
# DEVIN_BRIDGE_SAFETY_POLL seconds; a large one stretches the period.
SAFETY_READS_PER_HOUR = 36.0
FLEET_CACHE_S = 30.0


def cursor_key(tag: str) -> str:
    return f"feed_cursor:{tag}"


def offset_key(tag: str) -> str:
    return f"feed_clock_offset:{tag}"


def ok_key(tag: str) -> str:
    return f"feed_ok_at:{tag}"


def fallback_key(tag: str) -> str:
    return f"feed_fallback_until:{tag}"


def meta_float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


class FeedStatus:
    """Whether the feed currently stands in for per-session polling (shared through the
    store, so every process schedules its ticks the same way). Cached for a second."""

    def __init__(
        self, store: Store, tag: str, interval: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.tag = tag
        self.interval = interval
        self.clock = clock
        self._cached: tuple[bool, float] = (False, float("-inf"))
        self._ok_at: float | None = None
        # A new process assumes the feed was working: if it has long been down, the first
        # check brings every session forward once.
        self._was_up = True
        self._fleet: tuple[int, float] = (0, float("-inf"))

    def safety_delay(self, minimum: float) -> float:
        """Seconds until a session's next individual read while the feed works."""
        live, checked = self._fleet
        now = self.clock()
        if now - checked >= FLEET_CACHE_S:
            try:
                live = self.store.live_count()
            except Exception:  # keep the last count
                log.debug("could not count the live sessions", exc_info=True)
            self._fleet = (live, now)
        spread = live * 3600.0 / SAFETY_READS_PER_HOUR
        # Jitter keeps the reads of sessions that changed together from bunching up.
        return max(minimum, spread) * random.uniform(0.9, 1.1)

    def lapsed(self) -> bool:
        """True once each time the feed has not completed a read for LAPSE_INTERVALS: the
        caller then brings the sessions' own polls forward, which the feed had pushed out.

        A shorter gap needs nothing: whoever reads the feed next starts from the stored
        cursor, so the changes made meanwhile are found then (a worker restart must not
        cost one GET per session of a large fleet).
        """
        self.active()
        now = self.clock()
        up = self._ok_at is not None and now - self._ok_at <= LAPSE_INTERVALS * self.interval
        lapsed = self._was_up and not up
        self._was_up = up
        return lapsed

    def active(self) -> bool:
        value, checked = self._cached
        now = self.clock()
        if now - checked < STATUS_CACHE_S:
            return value
        try:
            ok_at = meta_float(self.store.get_meta(ok_key(self.tag)))
            fallback = meta_float(self.store.get_meta(fallback_key(self.tag))) or 0.0
        except Exception:  # the store hiccuped: poll per session, the safe choice
            log.debug("could not read the feed status", exc_info=True)
            ok_at, fallback = None, 0.0
        self._ok_at = ok_at
        value = (
            ok_at is not None
            and now - ok_at <= STALE_INTERVALS * self.interval + 1.0
            and fallback <= now
        )
        self._cached = (value, now)
        return value
