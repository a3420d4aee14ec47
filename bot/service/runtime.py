"""Everything one service process needs, built once from Settings: the store, the job
queue (in-process or RQ), the client factory, metrics and the background loops."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot.github.budget import WriteBudget
from bot.service.deps import DepsFactory
from bot.service.feed import DEPLOYMENT_KEY, ChangeFeed, FeedRunner, deployment_tag
from bot.service.feed_status import FeedStatus
from bot.service.leases import lease_seconds, owner_id
from bot.service.metrics import Metrics
from bot.service.poller import Poller
from bot.service.queue import (
    BOT_LOGIN_KEY,
    SERVE_LEADER,
    Housekeeping,
    JobQueue,
    JobRunner,
    LocalQueue,
    Worker,
)
from bot.service.settings import Settings
from bot.store.facade import Store
from bot.store.write_budget import StoreWriteBudget

if TYPE_CHECKING:  # rq_queue imports redis and rq: only with REDIS_URL
    from bot.service.rq_queue import Dispatcher

log = logging.getLogger("devin_bridge.runtime")

BOT_LOGIN_TTL_S = 60.0


def shared_budget(settings: Settings, store: Store, queue: JobQueue) -> WriteBudget:
    """The GitHub write budget every process of this deployment shares: in Redis when
    REDIS_URL is set (no database write per GitHub write), else in the store."""
    limits = settings.github_write_limits
    if settings.redis_url:
        from bot.service.redis_budget import RedisWriteBudget
        from bot.service.rq_queue import RQQueue

        if isinstance(queue, RQQueue):
            return RedisWriteBudget(queue.connection, queue.namespace, limits)
    return StoreWriteBudget(store, limits)


def idle_seconds(poll_interval: float) -> float:
    """How often an idle loop looks for new work (1 s by default, faster in tests)."""
    return min(1.0, max(0.05, poll_interval / 2.0))


@dataclass
class Runtime:
    settings: Settings
    store: Store
    queue: JobQueue
    factory: DepsFactory
    metrics: Metrics
    lease_s: float
    idle_s: float
    feed_tag: str | None = None  # this deployment's session tag, when the change feed is on
    _background: list[_Loop] = field(default_factory=list)
    _login: tuple[str | None, float] = (None, float("-inf"))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        store: Store | None = None,
        queue: JobQueue | None = None,
        metrics: Metrics | None = None,
        factory: DepsFactory | None = None,
        migrate: bool = True,
    ) -> Runtime:
        store = store or Store(settings.database_url)
        if migrate:
            store.migrate()
        metrics = metrics or Metrics()
        lease_s = lease_seconds(settings.poll_interval)
        if queue is None:
            if settings.redis_url:
                from bot.service.rq_queue import RQQueue, queue_namespace

                queue = RQQueue(
                    settings.redis_url,
                    queue_namespace(settings.database_url),
                    dispatch_ttl=max(30.0, 4 * lease_s),
                )
            else:
                queue = LocalQueue()
        factory = factory or DepsFactory(
            settings,
            metrics=metrics,
            bot_login_cache=lambda: store.get_meta(BOT_LOGIN_KEY),
            budget=shared_budget(settings, store, queue),
        )
        tag = deployment_tag(
            settings.deployment or store.meta_setdefault(DEPLOYMENT_KEY, uuid.uuid4().hex[:10])
        )
        # Every session this deployment creates carries its tag: the change feed lists by it.
        factory.add_session_tag(tag)
        return cls(
            settings=settings,
            store=store,
            queue=queue,
            factory=factory,
            metrics=metrics,
            lease_s=lease_s,
            idle_s=idle_seconds(settings.poll_interval),
            feed_tag=tag if settings.change_feed else None,
        )

    # --- the pieces of background work ----------------------------------------------------

    def job_runner(self) -> JobRunner:
        return JobRunner(
            self.store,
            self.factory,
            lease_s=self.lease_s,
            poll_interval=self.settings.poll_interval,
            metrics=self.metrics,
        )

    def poller(self, owner: str) -> Poller:
        status = None
        if self.feed_tag is not None:
            status = FeedStatus(self.store, self.feed_tag, self.settings.poll_interval)
        return Poller(
            self.store,
            self.factory,
            owner=owner,
            lease_s=self.lease_s,
            poll_interval=self.settings.poll_interval,
            metrics=self.metrics,
            feed=status,
            safety_s=self.settings.safety_poll_s,
        )

    def change_feed(self) -> ChangeFeed | None:
        if self.feed_tag is None:
            return None
        return ChangeFeed(
            self.store,
            self.factory,
            tag=self.feed_tag,
            interval=self.settings.poll_interval,
            metrics=self.metrics,
        )

    def worker(self, *, leader: str | None, role: str = "worker", concurrency: int = 4) -> Worker:
        owner = owner_id(role)
        wake = self.queue.wake if isinstance(self.queue, LocalQueue) else None
        poller = self.poller(owner)
        feed = self.change_feed()
        runner = None
        if feed is not None:
            runner = FeedRunner(feed, poller, self.store, owner=owner, lease_s=self.lease_s)
        return Worker(
            self.store,
            self.job_runner(),
            poller,
            self.factory,
            owner=owner,
            lease_s=self.lease_s,
            idle_s=self.idle_s,
            leader=leader,
            concurrency=concurrency,
            metrics=self.metrics,
            wake=wake,
            feed=runner,
        )

    def housekeeping(self) -> Housekeeping:
        return Housekeeping(self.store, self.factory, self.metrics)

    def dispatcher(self) -> Dispatcher:
        """With RQ: the leader's loop that hands due work to RQ and reads the change feed."""
        from bot.service.rq_queue import Dispatcher, RQQueue

        assert isinstance(self.queue, RQQueue)
        return Dispatcher(
            self.store,
            self.queue,
            self.factory,
            owner=owner_id("serve-dispatch"),
            lease_s=self.lease_s,
            idle_s=self.idle_s,
            housekeeping=self.housekeeping(),
            feed=self.change_feed(),
        )

    def start_background(self) -> None:
        """The in-process worker of `serve` (one per gunicorn worker, competing for the
        leader lease). With RQ it is the dispatcher instead; RQ workers do the work."""
        from bot.service.rq_queue import RQQueue

        with self._lock:
            if self._background:
                return
            if isinstance(self.queue, RQQueue):
                loop: _Loop = _Loop(self.dispatcher())
            else:
                loop = _Loop(
                    self.worker(
                        leader=SERVE_LEADER,
                        role="serve",
                        concurrency=self.settings.worker_concurrency,
                    )
                )
            self._background.append(loop.start())

    def stop_background(self, timeout: float = 15.0) -> None:
        with self._lock:
            loops, self._background = self._background, []
        for loop in loops:
            loop.stop(timeout)

    @property
    def background_running(self) -> bool:
        return any(loop.alive for loop in self._background)

    # --- for the request path --------------------------------------------------------------

    def bot_login(self) -> str | None:
        """DEVIN_BRIDGE_BOT_LOGIN, else the login background work stored (cached 60 s)."""
        if self.settings.bot_login:
            return self.settings.bot_login
        login, checked = self._login
        now = time.monotonic()
        if now - checked >= BOT_LOGIN_TTL_S or (login is None and now - checked >= 2.0):
            try:
                login = self.store.get_meta(BOT_LOGIN_KEY)
            except Exception:  # the store hiccuped: keep what we knew
                log.debug("could not read the bot login", exc_info=True)
            self._login = (login, now)
        return login


class _Runnable(Protocol):
    wake: threading.Event

    def run(self, stop: threading.Event) -> None: ...


class _Loop:
    """A daemon thread running a Worker or Dispatcher until stopped."""

    def __init__(self, target: _Runnable) -> None:
        self.target = target
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="devin-bridge-background", daemon=True
        )

    def start(self) -> _Loop:
        self._thread.start()
        return self

    def stop(self, timeout: float) -> None:
        self._stop.set()
        self.target.wake.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.target.run(self._stop)
        except Exception:
            log.exception("the background loop stopped on an error")
