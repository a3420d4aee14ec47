"""The service's change feed: one list call per interval instead of one GET per session.

One process at a time (the holder of the `feed` leader lease) reads the sessions carrying
this deployment's tag that changed since the stored cursor (`bot.engine.feed`). Each
changed session is then ticked from the list item itself, so a quiet fleet costs one
request per interval whatever its size, and a change reaches its comment within about
one interval at any session age.

Safety nets: while the feed is healthy every live session is still read on its own every
`safety_poll_s` (see `Poller`); when the API is seen to ignore a filter, or the feed has
not completed a read for a few intervals, the sessions' own schedules take over at once,
and the feed probes again later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.devin_models import Session, bare_session_id
from bot.devin.errors import DevinError
from bot.engine.feed import FeedRead, epoch_seconds, read_changes
from bot.service.deps import DepsFactory
from bot.service.feed_status import (
    FeedStatus,
    cursor_key,
    fallback_key,
    meta_float,
    offset_key,
    ok_key,
)
from bot.service.leases import Leadership
from bot.service.metrics import FEED_CHANGES, FEED_FALLBACKS, FEED_READS, Metrics
from bot.store.facade import ClaimedSession, Store

if TYPE_CHECKING:
    from bot.service.poller import Poller

log = logging.getLogger("devin_bridge.feed")

FEED_LEADER = "feed"
DEPLOYMENT_KEY = "deployment_id"
DEPLOYMENT_TAG_PREFIX = "bridge:"
FIRST_LOOKBACK_S = 3 * 24 * 3600.0
SAVE_EVERY_S = 1.0
FALLBACK_S = 600.0  # after the API ignored a filter, poll per session this long, then probe


def deployment_tag(name: str) -> str:
    return DEPLOYMENT_TAG_PREFIX + name


@dataclass(frozen=True)
class FeedPass:
    """What one read found: sessions to tick now, or None when per-session polling rules."""

    changed: tuple[Session, ...] | None


class ChangeFeed:
    """Reads the feed for this deployment and says which sessions to tick."""

    def __init__(
        self,
        store: Store,
        factory: DepsFactory,
        *,
        tag: str,
        interval: float,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.factory = factory
        self.tag = tag
        self.interval = interval
        self.metrics = metrics
        self.clock = clock
        self._next = float("-inf")
        # Signature of each session as the feed last handed it out: the overlap window
        # lists a session again without a change, and that must not cost a tick.
        self._seen: dict[str, tuple[object, ...]] = {}
        # The cursor and Devin's clock offset live here once read from the store; they
        # are written back at most every SAVE_EVERY_S (another reader taking over later
        # starts from a cursor at most that old: it re-lists a little more, never less).
        self._cursor: int | None = None
        self._offset = 0.0
        self._loaded = False
        self._saved_at = float("-inf")

    def due(self) -> bool:
        return self.clock() >= self._next

    def read(self) -> FeedPass:
        now = self.clock()
        self._next = now + self.interval
        fallback = meta_float(self.store.get_meta(fallback_key(self.tag))) or 0.0
        if fallback > now:
            return FeedPass(None)
        self._load()
        cursor = self._cursor
        first = cursor is None
        if cursor is None:
            # A store without a cursor (new, or wiped) looks back a few days, not at every
            # session the tag ever had; older live ones are adopted or safety-read.
            cursor = int(now - FIRST_LOOKBACK_S)
        try:
            found = read_changes(self.factory.devin(), self.tag, cursor)
        except DevinError as err:
            # The cursor stays: the next read covers this interval too.
            self._count(FEED_READS, {"result": "error"})
            log.warning("change feed read failed (%s); trying again next interval", err)
            return FeedPass(None)
        if found.ignored_filter is not None:
            self._fall_back(found.ignored_filter, now)
            return FeedPass(None)
        if first:
            self._adopt({bare_session_id(s.session_id) for s in found.changed})
        if not found.truncated:
            self._cursor = self._next_cursor(found, now)
        self._save(now)
        self._count(FEED_READS, {"result": "ok"})
        changed = tuple(s for s in found.changed if self._is_news(s))
        if changed:
            self._count(FEED_CHANGES, {}, len(changed))
        return FeedPass(changed)

    def _next_cursor(self, found: FeedRead, started: float) -> int:
        """Where the next read starts (before its overlap): past every update seen, and
        past the moment this read started, in Devin's clock.

        The data alone would leave an idle fleet re-listed forever (everything updated
        within the overlap of the newest update comes back each time). Devin's clock is
        estimated from below: no `updated_at` lies in Devin's future, so the largest
        `updated_at - our clock` seen is at most the real offset, and the start of this
        read moved by it is at most Devin's time then: a session updated after this read
        began is listed by the next one. Until an update shows the offset, the clocks are
        taken as agreeing within the overlap.
        """
        now = self.clock()
        seen = [epoch_seconds(s.updated_at) - now for s in found.changed]
        if seen and max(seen) > self._offset:
            self._offset = max(seen)
            self.store.set_meta(offset_key(self.tag), repr(self._offset))
        return max(found.cursor or 0, int(started + self._offset))

    def _load(self) -> None:
        """Read the stored cursor and offset, once."""
        if self._loaded:
            return
        text = self.store.get_meta(cursor_key(self.tag))
        self._cursor = int(text) if text and text.isdigit() else None
        self._offset = meta_float(self.store.get_meta(offset_key(self.tag))) or 0.0
        self._loaded = True

    def _save(self, now: float) -> None:
        """Store the cursor and the time of this read (the feed's health for every process)."""
        if now - self._saved_at < SAVE_EVERY_S:
            return
        if self._cursor is not None:
            self.store.set_meta(cursor_key(self.tag), str(self._cursor))
        self.store.set_meta(ok_key(self.tag), repr(now))
        self._saved_at = now

    def _is_news(self, s: Session) -> bool:
        signature = (
            epoch_seconds(s.updated_at),
            s.status,
            s.status_detail,
            tuple((p.url, p.state) for p in s.pull_requests),
            round(s.acus_consumed, 2),
            s.is_archived,
        )
        if self._seen.get(s.session_id) == signature:
            return False
        self._seen[s.session_id] = signature
        if len(self._seen) > 50_000:  # bounded: forgetting only costs one extra tick
            self._seen.pop(next(iter(self._seen)))
        return True

    def _fall_back(self, ignored: str, now: float) -> None:
        until = now + FALLBACK_S
        self.store.set_meta(fallback_key(self.tag), repr(until))
        pulled = self.store.poll_live_by(now + self.interval)
        self._count(FEED_FALLBACKS, {"filter": ignored})
        log.warning(
            "the Devin API ignored the %r filter of the session list: polling each session on "
            "its own (%d brought forward) and trying the change feed again in %.0f min",
            ignored,
            pulled,
            FALLBACK_S / 60,
        )

    def _adopt(self, listed: set[str]) -> None:
        """Live sessions made before this deployment tagged its sessions carry no tag:
        add it once, so the feed sees them too (the safety poll covers any that fail)."""
        devin = self.factory.devin()
        for session_id in self.store.live_session_ids():
            if bare_session_id(session_id) in listed:
                continue
            try:
                devin.add_tags(session_id, [self.tag])
                log.info("session %s now carries the deployment tag %s", session_id, self.tag)
            except DevinError as err:
                log.warning("could not tag session %s for the change feed: %s", session_id, err)

    def _count(self, name: str, labels: dict[str, str], value: float = 1.0) -> None:
        if self.metrics is not None:
            self.metrics.inc(name, labels, value)


class FeedRunner:
    """Drives a ChangeFeed inside a worker: reads when due (only the process holding the
    `feed` lease), and hands each changed session to a tick with its list item."""

    def __init__(
        self, feed: ChangeFeed, poller: Poller, store: Store, *, owner: str, lease_s: float
    ) -> None:
        self.feed = feed
        self.poller = poller
        self.store = store
        self.owner = owner
        self.lease_s = lease_s
        self.leadership = Leadership(store, FEED_LEADER, owner, lease_s)
        self.status = FeedStatus(store, feed.tag, feed.interval, feed.clock)
        self._reading: Future[object] | None = None

    def run_once(self) -> int:
        """A synchronous read and its ticks (`worker --once`, tests)."""
        pairs = self._claims(self.feed.read())
        for claim, item in pairs:
            self.poller.tick(claim, item)
        return len(pairs)

    def step(
        self,
        pool: ThreadPoolExecutor,
        inflight: set[Future[object]],
        ticks: set[Future[object]],
        now: float,
    ) -> int:
        """Start a read when one is due (in the pool: it is an HTTP call), or tick what
        the finished read found. Returns the units started."""
        if self.status.lapsed():
            pulled = self.store.poll_live_by(self.feed.clock() + self.feed.interval)
            log.warning("the change feed is down: %d sessions are polled on their own", pulled)
        reading = self._reading
        if reading is not None:
            if not reading.done():
                return 0
            self._reading = None
            found = reading.result()
            started = 0
            if isinstance(found, FeedPass):
                for claim, item in self._claims(found):
                    future = pool.submit(_guarded_tick, self.poller, claim, item)
                    inflight.add(future)
                    ticks.add(future)
                    started += 1
            return started
        if self.feed.due() and self.leadership.hold(now):
            self._reading = pool.submit(_guarded_read, self.feed)
            inflight.add(self._reading)
            return 1
        return 0

    def release(self) -> None:
        self.leadership.release()

    def _claims(self, found: FeedPass) -> list[tuple[ClaimedSession, Session]]:
        if not found.changed:
            return []
        items = {bare_session_id(s.session_id): s for s in found.changed}
        claims = self.store.claim_sessions(
            [s.session_id for s in found.changed], self.owner, self.lease_s
        )
        claimed = {bare_session_id(c.session_id) for c in claims}
        for key, item in items.items():
            if key not in claimed:
                # Held by a tick right now (or not this deployment's): a held one is
                # made due, so the change is not left to the safety poll.
                self.store.poll_now(item.session_id)
        return [(c, items[bare_session_id(c.session_id)]) for c in claims]


def _guarded_read(feed: ChangeFeed) -> FeedPass | None:
    try:
        return feed.read()
    except Exception:  # the store or the client failed oddly: the next interval retries
        log.exception("change feed read failed")
        return None


def _guarded_tick(poller: Poller, claim: ClaimedSession, item: Session) -> object:
    try:
        return poller.tick(claim, item)
    except Exception:
        log.exception("tick of session %s from the change feed failed", claim.session_id)
        return None
