"""Background work on RQ (REDIS_URL set): Redis carries only "process job <id>" and
"tick session <id>"; the store row stays the truth and every write is fenced.

A leader-elected dispatcher (any `serve` or `worker` process may hold the lease) hands
runnable jobs and due sessions to RQ and marks them `dispatched_until`, so nothing is
sent twice within that window. A lost message only delays work until the mark expires;
a duplicated one finds its row leased or not due and does nothing. `devin-bridge worker`
runs an RQ `SimpleWorker` (no fork per message: clients and the engine pool are reused).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.core.devin_models import Session
from bot.service.deps import DepsFactory
from bot.service.feed import ChangeFeed
from bot.service.leases import Leadership
from bot.service.poller import Poller
from bot.service.queue import Housekeeping, JobRunner
from bot.store.facade import Store, normalise_url

log = logging.getLogger("devin_bridge.rq")

DISPATCH_LEADER = "rq-dispatcher"
# The dispatcher never loops faster than this (a due row another process holds).
MIN_DISPATCH_PAUSE_S = 0.05
# A change handed to RQ by the feed is also due in the store this many intervals later:
# the backstop should its message be lost with Redis.
FEED_BACKSTOP_INTERVALS = 3.0
RQ_JOB_TIMEOUT = 300  # seconds; a unit takes seconds, this only catches a hung call
# Keep a finished message for a second rather than deleting it at once: RQ's delete reads
# the job's status first and logs an InvalidJobOperation traceback when Redis was flushed
# while the message ran; an expiry on a vanished key is simply a no-op.
RESULT_TTL = 1


class QueueUnavailable(Exception):
    """Redis cannot be reached or RQ is not installed."""


def safe_redis_url(url: str) -> str:
    """REDIS_URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def queue_namespace(database_url: str) -> str:
    """Queue names derived from the store, so deployments sharing a Redis stay apart."""
    digest = hashlib.sha256(normalise_url(database_url).encode()).hexdigest()[:12]
    return f"devin-bridge:{digest}"


class RQQueue:
    """Sends work messages to RQ (`JobQueue` for the webhook, also used by the dispatcher)."""

    kind = "rq"

    def __init__(self, redis_url: str, namespace: str, *, dispatch_ttl: float = 30.0) -> None:
        try:
            import redis
            import rq
        except ImportError:
            raise QueueUnavailable(
                "REDIS_URL is set but redis/rq are not installed; install devin-bridge[scale]"
            ) from None
        self.dispatch_ttl: float | None = dispatch_ttl
        self.namespace = namespace
        self.connection: Any = redis.Redis.from_url(
            redis_url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
        )
        self.jobs: Any = rq.Queue(f"{namespace}:jobs", connection=self.connection)
        self.ticks: Any = rq.Queue(f"{namespace}:ticks", connection=self.connection)

    def __repr__(self) -> str:
        return f"RQQueue(namespace={self.namespace!r})"

    def notify(self, job_id: int) -> None:
        self.enqueue_job(job_id)

    def enqueue_job(self, job_id: int) -> None:
        self.jobs.enqueue(
            "bot.service.rq_queue.process_job",
            job_id,
            job_timeout=RQ_JOB_TIMEOUT,
            result_ttl=RESULT_TTL,
            failure_ttl=24 * 3600,
            description=f"process job {job_id}",
        )

    def enqueue_tick(self, session_id: str, item: dict[str, Any] | None = None) -> None:
        """A tick of the session; `item` is the change feed's list item (no GET then)."""
        args: tuple[Any, ...] = (session_id,) if item is None else (session_id, item)
        self.ticks.enqueue(
            "bot.service.rq_queue.tick_session",
            *args,
            job_timeout=RQ_JOB_TIMEOUT,
            result_ttl=RESULT_TTL,
            failure_ttl=24 * 3600,
            description=f"tick session {session_id}",
        )

    def lost_messages(self) -> bool:
        """Whether Redis lost what it held since the last call (flushed, or restarted
        without persistence): a marker key set once is gone. The first call sets it."""
        return bool(self.connection.set(f"{self.namespace}:alive", "1", nx=True))

    def ping(self) -> bool:
        try:
            return bool(self.connection.ping())
        except Exception:
            return False


class Dispatcher:
    """The leader's loop: hand due work to RQ; also the periodic housekeeping."""

    def __init__(
        self,
        store: Store,
        queue: RQQueue,
        factory: DepsFactory,
        *,
        owner: str,
        lease_s: float,
        idle_s: float,
        housekeeping: Housekeeping,
        clock: Callable[[], float] = time.monotonic,
        feed: ChangeFeed | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.feed = feed
        self.idle_s = idle_s
        self.leadership = Leadership(store, DISPATCH_LEADER, owner, lease_s)
        self.housekeeping = housekeeping
        self.wake = threading.Event()
        self._clock = clock
        self._started = False

    def _idle_delay(self) -> float:
        """Until the next session or job is due, at most `idle_s`: a comment write put
        off for a second is retried after a second, not after the next full pass."""
        if not self.leadership.leading:
            return self.idle_s
        try:
            due = self.store.next_dispatch_at()
        except Exception:  # the next pass reports store trouble
            return self.idle_s
        if due is None:
            return self.idle_s
        return min(self.idle_s, max(MIN_DISPATCH_PAUSE_S, due - time.time()))

    def dispatch_once(self) -> int:
        if self.feed is not None and self.feed.due():
            # The leader reads the feed and hands each change to RQ with its list item, so
            # the tick needs no GET. The store keeps a backstop: should the message be
            # lost with Redis, the session's own poll comes within a few intervals.
            found = self.feed.read()
            backstop = time.time() + FEED_BACKSTOP_INTERVALS * self.feed.interval
            for session in found.changed or ():
                self.store.poll_session_by(session.session_id, backstop)
                self.queue.enqueue_tick(session.session_id, dict(session.raw))
        ttl = self.queue.dispatch_ttl or 30.0
        if self.queue.lost_messages():
            # Work marked as handed to RQ would otherwise wait out its dispatch window.
            if self._started:
                log.warning("Redis lost its queues (flushed or restarted): dispatching again")
            self.store.clear_all_dispatch()
        self._started = True
        job_ids, session_ids = self.store.mark_for_dispatch(ttl)
        for job_id in job_ids:
            self.queue.enqueue_job(job_id)
        for session_id in session_ids:
            self.queue.enqueue_tick(session_id)
        return len(job_ids) + len(session_ids)

    def run(self, stop: threading.Event) -> None:
        log.info("dispatcher %s started", self.leadership.owner)
        failures = 0
        try:
            while not stop.is_set():
                try:
                    if self.leadership.hold(self._clock()):
                        self.housekeeping.chores(self._clock())
                        self.dispatch_once()
                    self.housekeeping.flush_maybe()
                    failures = 0
                except Exception as err:  # store or Redis down: back off, keep going
                    failures += 1
                    log.warning("dispatch pass failed (%s); retrying", type(err).__name__)
                    stop.wait(min(30.0, self.idle_s * 2 ** min(failures, 10)))
                    continue
                self.wake.wait(self._idle_delay())
                self.wake.clear()
        finally:
            self.leadership.release()
            self.housekeeping.flush()


# --- what an RQ worker process executes ---------------------------------------------------


@dataclass(frozen=True)
class RQContext:
    store: Store
    jobs: JobRunner
    poller: Poller
    queue: RQQueue
    owner: str
    lease_s: float


_context: RQContext | None = None


def install_context(context: RQContext) -> None:
    """Set by `devin-bridge worker` before the RQ worker starts taking messages."""
    global _context
    _context = context


def _require_context() -> RQContext:
    if _context is None:
        raise RuntimeError("run this message with `devin-bridge worker` (no RQ context)")
    return _context


def process_job(job_id: int) -> str:
    ctx = _require_context()
    claim = ctx.store.claim_job(int(job_id), ctx.owner, ctx.lease_s)
    if claim is None:
        ctx.store.clear_dispatch(job_id=int(job_id))
        return "not runnable (done, leased or waiting behind its thread)"
    outcome = ctx.jobs.run(claim)
    if outcome.session_id:
        ctx.queue.enqueue_tick(outcome.session_id)
    return outcome.result


def tick_session(session_id: str, item: dict[str, Any] | None = None) -> str:
    ctx = _require_context()
    if item is not None:  # from the change feed: ticked now, from the list item
        claims = ctx.store.claim_sessions([str(session_id)], ctx.owner, ctx.lease_s)
        if not claims:
            return "leased elsewhere (its backstop poll follows)"
        return ctx.poller.tick(claims[0], Session.from_api(item)).result
    claim = ctx.store.claim_session(str(session_id), ctx.owner, ctx.lease_s)
    if claim is None:
        ctx.store.clear_dispatch(session_id=str(session_id))
        return "not due or leased elsewhere"
    return ctx.poller.tick(claim).result
