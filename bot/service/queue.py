"""Background work: trigger jobs and poll ticks, claimed from the store under leases.

The store row is the truth. A job runs `handlers.handle` once per claim; rate limits and
outages put it back with a `run_after`, and its dedupe key doubles as the idempotency key,
so a retry or a takeover after a crash never creates a second session. Jobs of one
thread run one at a time, oldest first (the store's claim guarantees it).

`Worker` is the loop used by the in-process worker inside `serve` (which first has to win
the leader lease, so one of the gunicorn workers does the work) and by the standalone
`devin-bridge worker` (which always works; row leases keep the processes apart). With
REDIS_URL the same units run on RQ workers instead (see rq_queue.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from bot.core.events import Trigger
from bot.devin.errors import DevinError
from bot.engine import handlers
from bot.engine.transient import backoff, retry_for
from bot.github.errors import GitHubError
from bot.service.codec import CodecError, dump, load_trigger
from bot.service.deps import DepsFactory
from bot.service.feed import FeedRunner
from bot.service.leases import Leadership, LeaseKeeper
from bot.service.metrics import JOBS, Metrics
from bot.service.poller import Poller
from bot.store.facade import ClaimedJob, SessionRecord, Store

log = logging.getLogger("devin_bridge.queue")

SERVE_LEADER = "in-process-worker"
MAX_ATTEMPTS = 100  # rate limits and outages: about six hours of capped backoff
MAX_FAULT_ATTEMPTS = 3  # unexpected errors (bugs): a few tries, then the job fails
PRUNE_EVERY_S = 3600.0
KEEP_HISTORY_S = 7 * 24 * 3600.0  # GitHub lets deliveries be redelivered for 3 days
BOT_LOGIN_KEY = "bot_login"
# When background work (a worker, serve's background process, the RQ dispatcher) last
# passed its chores: /healthz reports it, since the web process may not do that work.
HEARTBEAT_KEY = "background_seen_at"
HEARTBEAT_EVERY_S = 10.0


class JobQueue(Protocol):
    """What the webhook tells about a new job (the work itself is claimed from the store)."""

    kind: str
    dispatch_ttl: float | None

    def notify(self, job_id: int) -> None: ...

    def ping(self) -> bool: ...


class LocalQueue:
    """In-process work: a new job only wakes the worker loop of this process early."""

    kind = "in-process"
    dispatch_ttl: float | None = None

    def __init__(self) -> None:
        self.wake = threading.Event()

    def notify(self, job_id: int) -> None:
        self.wake.set()

    def ping(self) -> bool:
        return True


def trigger_job_thread(trigger: Trigger) -> str:
    """The serialisation key: one thread's jobs run in order (a repo-level prompt alone)."""
    return trigger.thread or trigger.dedupe_key


@dataclass(frozen=True)
class JobResult:
    result: str  # the Outcome's action, or retry / failed / lost
    session_id: str | None = None


class JobRunner:
    """Runs one claimed trigger job through `handlers.handle`."""

    def __init__(
        self,
        store: Store,
        factory: DepsFactory,
        *,
        lease_s: float,
        poll_interval: float,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.factory = factory
        self.lease_s = lease_s
        self.poll_interval = poll_interval
        self.metrics = metrics
        self.clock = clock

    def run(self, claim: ClaimedJob) -> JobResult:
        with LeaseKeeper(
            lambda: self.store.renew_job(claim, self.lease_s), self.lease_s, f"job {claim.id}"
        ):
            try:
                outcome = self._run(claim)
            except Exception:
                log.exception("job %d failed unexpectedly", claim.id)
                outcome = self._give_up_or_retry(claim, "internal error (see the service log)")
        if self.metrics is not None:
            self.metrics.inc(JOBS, {"result": outcome.result})
        return outcome

    def _run(self, claim: ClaimedJob) -> JobResult:
        try:
            trigger = load_trigger(claim.payload)
        except CodecError as err:
            # Bad data is not a failure to retry: one line, no traceback, job ignored.
            log.warning("job %d ignored: %s", claim.id, err)
            self.store.finish_job(claim, result="ignored", error=str(err))
            return JobResult("ignored")
        bot = self.factory.bot_login()
        if bot and trigger.sender.login.lower() == bot.lower():
            # The intake may not have known the bot's login yet.
            self.store.finish_job(claim, result="ignored", error="the bridge's own event")
            return JobResult("ignored")
        try:
            deps = self.factory.deps(
                trigger.repo, trigger.installation_id, delivery_id=claim.delivery_id
            )
            outcome = handlers.handle(trigger, deps, idempotency_key=claim.dedupe_key)
        except Exception as err:
            if self.metrics is not None and isinstance(err, GitHubError):
                self.metrics.api_error("github", err.status)
            retry = retry_for(err, claim.attempts, max(self.poll_interval, 1.0))
            if retry is None and isinstance(err, DevinError | GitHubError):
                # Before `handle` could run (e.g. the App is not installed on the repo).
                log.warning("job %d failed: %s", claim.id, err)
                self.store.fail_job(claim, error=str(err))
                return JobResult("failed")
            if retry is None:
                raise
            if claim.attempts >= MAX_ATTEMPTS:
                self.store.fail_job(claim, error=retry.reason)
                log.error(
                    "job %d gave up after %d attempts: %s", claim.id, claim.attempts, retry.reason
                )
                return JobResult("failed")
            log.warning("job %d postponed %.1f s: %s", claim.id, retry.delay, retry.reason)
            self.store.retry_job(claim, run_after=self.clock() + retry.delay, error=retry.reason)
            return JobResult("rate_limited" if retry.rate_limited else "retry")
        record = self._session_record(trigger, outcome)
        if not self.store.finish_job(
            claim, result=outcome.action, session=record, error=outcome.reason or None
        ):
            log.warning("job %d finished after its lease was taken over; result dropped", claim.id)
            return JobResult("lost")
        log.info(
            "job %d %s: %s%s",
            claim.id,
            trigger.dedupe_key,
            outcome.action,
            f" session {record.session_id}" if record else "",
        )
        return JobResult(outcome.action, record.session_id if record else None)

    def _session_record(self, trigger: Trigger, outcome: handlers.Outcome) -> SessionRecord | None:
        track = outcome.track
        if track is None or not track.session_id:
            return None
        session = outcome.session
        return SessionRecord(
            session_id=track.session_id,
            thread_key=trigger.thread,
            repo=track.repo,
            number=track.number,
            installation_id=trigger.installation_id,
            comment_id=track.comment_id or outcome.comment_id,
            track=dump(track),
            status=session.status if session else "",
            status_detail=session.status_detail if session else None,
            state=session.state(stopped=track.stopped) if session else "queued",
            next_poll_at=self.clock(),
        )

    def _give_up_or_retry(self, claim: ClaimedJob, error: str) -> JobResult:
        if claim.attempts >= MAX_FAULT_ATTEMPTS:
            self.store.fail_job(claim, error=error)
            return JobResult("failed")
        self.store.retry_job(claim, run_after=self.clock() + backoff(claim.attempts), error=error)
        return JobResult("retry")


class Housekeeping:
    """Periodic chores: a heartbeat, learn the bot's login, forget old deliveries, flush
    metrics."""

    def __init__(self, store: Store, factory: DepsFactory, metrics: Metrics | None) -> None:
        self.store = store
        self.factory = factory
        self.metrics = metrics
        self._next_prune = 0.0
        self._next_login_check = 0.0
        self._next_heartbeat = 0.0

    def chores(self, now: float) -> None:
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_EVERY_S
            self.store.set_meta(HEARTBEAT_KEY, repr(time.time()))
        if now >= self._next_login_check:
            self._next_login_check = now + 60.0
            remember_bot_login(self.store, self.factory)
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_S
            gone = self.store.prune(older_than=time.time() - KEEP_HISTORY_S)
            if gone:
                log.info("pruned %d old deliveries and jobs", gone)

    def flush_maybe(self) -> None:
        if self.metrics is not None:
            self.metrics.maybe_flush(self.store)

    def flush(self) -> None:
        if self.metrics is not None:
            self.metrics.flush(self.store)


class Worker:
    """The claim loop: jobs first, then due sessions, run on a small thread pool."""

    def __init__(
        self,
        store: Store,
        jobs: JobRunner,
        poller: Poller,
        factory: DepsFactory,
        *,
        owner: str,
        lease_s: float,
        idle_s: float,
        leader: str | None = None,
        concurrency: int = 4,
        metrics: Metrics | None = None,
        wake: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        feed: FeedRunner | None = None,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.poller = poller
        self.feed = feed
        self.owner = owner
        self.lease_s = lease_s
        self.idle_s = idle_s
        self.concurrency = max(1, concurrency)
        self.wake = wake or threading.Event()
        self.leadership = Leadership(store, leader, owner, lease_s) if leader else None
        self.housekeeping = Housekeeping(store, factory, metrics)
        self._clock = clock
        self._next_job_check = float("-inf")
        self._ticks: set[Future[object]] = set()
        self._woken = False

    def run_once(self) -> int:
        """One synchronous pass over everything runnable now (no pool, no leadership)."""
        done = 0
        if self.feed is not None:
            done += self.feed.run_once()
        while True:
            claimed = self.store.claim_jobs(self.owner, self.lease_s, self.concurrency)
            for job in claimed:
                self.jobs.run(job)
            ticks = self.poller.run_due(self.concurrency)
            done += len(claimed) + len(ticks)
            if not claimed and not ticks:
                break
        self.housekeeping.flush()
        return done

    def run(self, stop: threading.Event) -> None:
        lease = f"leader lease {self.leadership.name!r}" if self.leadership else "no leader lease"
        log.info("worker %s started (%s)", self.owner, lease)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="devin-bridge-work")
        inflight: set[Future[object]] = set()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    inflight = {f for f in inflight if not f.done()}
                    started = self._pass(pool, inflight)
                    failures = 0
                except Exception as err:  # the store is unreachable: back off, keep going
                    failures += 1
                    log.warning("worker pass failed (%s); retrying", type(err).__name__)
                    stop.wait(min(30.0, self.idle_s * 2 ** min(failures, 10)))
                    continue
                if len(inflight) >= self.concurrency or (started == 0 and inflight):
                    # Busy: claim again as soon as a unit ends, not after a nap.
                    wait(inflight, timeout=self.idle_s, return_when=FIRST_COMPLETED)
                elif started == 0:
                    if self.wake.wait(self._idle_delay()):
                        self._woken = True  # the next pass looks for jobs at once
                    self.wake.clear()
        finally:
            pool.shutdown(wait=True)
            if self.leadership is not None:
                self.leadership.release()
            if self.feed is not None:
                self.feed.release()
            self.housekeeping.flush()
            log.info("worker %s stopped", self.owner)

    def _idle_delay(self) -> float:
        """Sleep until the next session or job is due, at most `idle_s` (a new delivery
        in this process, or one that another process claimed and lost, wakes us sooner)."""
        if self.leadership is not None and not self.leadership.leading:
            return self.idle_s
        try:
            due = self.store.next_wakeup()
        except Exception:  # the next pass reports store trouble
            return self.idle_s
        if due is None:
            return self.idle_s
        return min(self.idle_s, max(0.01, due - time.time()))

    def _pass(self, pool: ThreadPoolExecutor, inflight: set[Future[object]]) -> int:
        now = self._clock()
        if self.leadership is not None and not self.leadership.hold(now):
            self.housekeeping.flush_maybe()
            return 0
        self.housekeeping.chores(now)
        started = 0
        free = self.concurrency - len(inflight)
        # Jobs: a free thread each (they may run for seconds). Look for them when this
        # process queued one (wake) and otherwise a few times a second, not every pass.
        if free > 0 and (self._woken or self.wake.is_set() or now >= self._next_job_check):
            self._woken = False
            self.wake.clear()
            claimed = self.store.claim_jobs(self.owner, self.lease_s, free)
            self._next_job_check = now if claimed else now + self.idle_s / 4.0
            for job in claimed:
                inflight.add(pool.submit(_guard, self.jobs.run, job))
                started += 1
        if self.feed is not None:
            started += self.feed.step(pool, inflight, self._ticks, now)
        # Ticks are short: claim them in batches, up to one more tick per thread queued
        # in the pool, so a claim (a store write) serves many ticks.
        self._ticks = {f for f in self._ticks if not f.done()}
        if len(inflight) < self.concurrency and len(self._ticks) <= self.concurrency // 2:
            room = 2 * self.concurrency - len(inflight)
            for claim in self.poller.claim_due(room):
                future = pool.submit(_guard, self.poller.tick, claim)
                inflight.add(future)
                self._ticks.add(future)
                started += 1
        self.housekeeping.flush_maybe()
        return started


def _guard(fn: Callable[..., object], *args: object) -> object:
    try:
        return fn(*args)
    except Exception:
        log.exception("background unit failed")
        return None


def remember_bot_login(store: Store, factory: DepsFactory) -> str | None:
    """Resolve the bot's login once (a GitHub call) and share it through the store."""
    known = factory.bot_login()
    if known:
        return known
    try:
        login = factory.resolve_bot_login()
    except Exception as err:  # GitHub is down: the next housekeeping pass tries again
        log.warning("could not find out the bot's GitHub login yet: %s", type(err).__name__)
        return None
    if login:
        store.set_meta(BOT_LOGIN_KEY, login)
        log.info("the bot's GitHub login is %s", login)
    else:
        log.warning(
            "the bot's GitHub login is unknown; set DEVIN_BRIDGE_BOT_LOGIN so its own "
            "comments are recognised by name (the status marker still is)"
        )
    return login
