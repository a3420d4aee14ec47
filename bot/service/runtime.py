"""Everything one service process needs, built once from Settings: the store, the job
queue (in-process or RQ), the client factory, metrics and the background loops."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from bot.github.budget import WriteBudget
from bot.service.deps import DepsFactory
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
        return cls(
            settings=settings,
            store=store,
            queue=queue,
            factory=factory,
            metrics=metrics,
            lease_s=lease_s,
            idle_s=idle_seconds(settings.poll_interval),
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
        return Poller(
            self.store,
            self.factory,
            owner=owner,
            lease_s=self.lease_s,
            poll_interval=self.settings.poll_interval,
            metrics=self.metrics,
        )

    def worker(self, *, leader: str | None, role: str = "worker", concurrency: int = 4) -> Worker:
        owner = owner_id(role)
        wake = self.queue.wake if isinstance(self.queue, LocalQueue) else None
        return Worker(
            self.store,
            self.job_runner(),
            self.poller(owner),
            self.factory,
            owner=owner,
            lease_s=self.lease_s,
            idle_s=self.idle_s,
            leader=leader,
            concurrency=concurrency,
            metrics=self.metrics,
            wake=wake,
        )

    def housekeeping(self) -> Housekeeping:
        return Housekeeping(self.store, self.factory, self.metrics)

    def start_background(self) -> None:
        """The in-process worker of `serve` (one per gunicorn worker, competing for the
        leader lease). With RQ it is the dispatcher instead; RQ workers do the work."""
        from bot.service.rq_queue import Dispatcher, RQQueue

        with self._lock:
            if self._background:
                return
            if isinstance(self.queue, RQQueue):
                loop: _Loop = _Loop(
                    Dispatcher(
                        self.store,
                        self.queue,
                        self.factory,
                        owner=owner_id("serve-dispatch"),
                        lease_s=self.lease_s,
                        idle_s=self.idle_s,
                        housekeeping=self.housekeeping(),
                    )
                )
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
