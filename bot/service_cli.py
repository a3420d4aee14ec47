"""`devin-bridge serve`, `worker` and `refresh` (registered lazily by bot/cli.py).

`serve` runs gunicorn programmatically: threaded workers, each starting its in-process
worker after fork (never at import, never in the master), where one of them at a time
wins the leader lease and does the background work. Each command refuses to start, with
exit code 2, when a required variable is missing, and names it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from bot.cli_output import EXIT_ERROR, EXIT_USAGE, err
from bot.settings import Settings, SettingsError

log = logging.getLogger("devin_bridge.service")

# Ticks mostly wait on HTTP: a standalone worker runs more of them at once than the
# in-process worker that shares a gunicorn process with the webhook.
WORKER_THREADS = 8
GIL_SWITCH_INTERVAL = 0.001


def serve(args: argparse.Namespace) -> int:
    settings = _settings("serve", need_webhook_secret=True)
    if settings is None:
        return EXIT_USAGE
    from bot import service_logging

    service_logging.configure(settings.secrets())
    if not _prepare_store(settings):
        return EXIT_ERROR
    if settings.redis_url and not _check_queue(settings, required=False):
        return EXIT_USAGE
    # Import the code (not the app) before forking, so a worker boots, or is replaced
    # after a crash, in a fraction of the time. No thread or connection exists yet.
    import bot.app  # noqa: F401

    host = getattr(args, "host", "0.0.0.0")
    port = int(getattr(args, "port", 8000))
    workers = max(1, int(getattr(args, "workers", 2) or 2))
    options = gunicorn_options(host, port, workers)
    log.info(
        "devin-bridge serve on %s:%d with %d workers (%s background work)",
        host,
        port,
        workers,
        "RQ" if settings.redis_url else "in-process",
    )
    _GunicornApp(lambda: _create_app(settings), options).run()
    return 0


def gunicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        # Recycle workers now and then (a guard against leaks); jitter keeps them from
        # restarting together. Rarely: each recycle boots a worker and may move the
        # background leader, which costs a burst of slow acknowledgements.
        "max_requests": 20000,
        "max_requests_jitter": 2000,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "devin-bridge",
        "preload_app": False,
        # gunicorn >= 25 opens a control socket at a fixed path; two services would clash.
        "control_socket_disable": True,
        "post_worker_init": post_worker_init_hook,
        "worker_exit": worker_exit_hook,
    }


def _create_app(settings: Settings) -> Any:
    from bot.app import create_app

    return create_app(settings)


def post_worker_init_hook(worker: Any) -> None:
    from bot.app import runtime_of

    # Hand the GIL over more often (default 5 ms): a webhook thread then waits less
    # behind background ticks that parse JSON and render comments in the same process.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    runtime_of(worker.wsgi).start_background()


def worker_exit_hook(server: Any, worker: Any) -> None:
    from bot.app import runtime_of

    app = getattr(worker, "wsgi", None)
    if app is not None:
        runtime_of(app).stop_background(timeout=15.0)


class _GunicornApp(BaseApplication):  # type: ignore[misc]
    """gunicorn with our options and app factory (no config file, no command line)."""

    def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def worker(args: argparse.Namespace) -> int:
    settings = _settings("worker", need_webhook_secret=False)
    if settings is None:
        return EXIT_USAGE
    from bot import service_logging

    service_logging.configure(settings.secrets())
    if not _prepare_store(settings):
        return EXIT_ERROR
    if settings.redis_url and not _check_queue(settings, required=True):
        return EXIT_ERROR
    from bot.service_runtime import Runtime

    runtime = Runtime.build(settings, migrate=False)
    once = bool(getattr(args, "once", False))
    if settings.redis_url:
        return _rq_worker(runtime, once)
    loop = runtime.worker(leader=None, role="worker", concurrency=WORKER_THREADS)
    if once:
        done = loop.run_once()
        print(f"processed {done} jobs and ticks", flush=True)
        return 0
    stop = threading.Event()
    _on_signals(stop.set)
    log.info("devin-bridge worker ready (in-process claims, store %s)", runtime.store.url)
    loop.run(stop)
    return 0


def _rq_worker(runtime: Any, once: bool) -> int:
    from rq import SimpleWorker

    from bot.leases import owner_id
    from bot.rq_queue import Dispatcher, RQContext, RQQueue, install_context

    queue = runtime.queue
    assert isinstance(queue, RQQueue)
    owner = owner_id("rq")
    install_context(
        RQContext(
            store=runtime.store,
            jobs=runtime.job_runner(),
            poller=runtime.poller(owner),
            queue=queue,
            owner=owner,
            lease_s=runtime.lease_s,
        )
    )
    dispatcher = Dispatcher(
        runtime.store,
        queue,
        runtime.factory,
        owner=owner_id("rq-dispatch"),
        lease_s=runtime.lease_s,
        idle_s=runtime.idle_s,
        housekeeping=runtime.housekeeping(),
    )
    rq_worker = SimpleWorker([queue.jobs, queue.ticks], connection=queue.connection)
    if once:
        dispatcher.dispatch_once()
        rq_worker.work(burst=True, logging_level="WARNING")
        runtime.metrics.flush(runtime.store)
        return 0
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), name="dispatcher", daemon=True)
    thread.start()
    log.info(
        "devin-bridge worker ready (RQ queues %s, store %s)", queue.namespace, runtime.store.url
    )
    try:
        # RQ installs its own SIGTERM/SIGINT handling (warm shutdown after the message).
        rq_worker.work(logging_level="WARNING")
    finally:
        stop.set()
        dispatcher.wake.set()
        thread.join(timeout=10)
    return 0


def refresh(args: argparse.Namespace) -> int:
    settings = _settings("refresh", need_webhook_secret=False)
    if settings is None:
        return EXIT_USAGE
    from bot import service_logging

    service_logging.configure(settings.secrets(), level=logging.WARNING)
    if not _prepare_store(settings):
        return EXIT_ERROR
    from bot.leases import owner_id
    from bot.service_runtime import Runtime

    runtime = Runtime.build(settings, migrate=False)
    reports = runtime.poller(owner_id("refresh")).refresh_all()
    runtime.metrics.flush(runtime.store)
    edited = sum(1 for r in reports if r.edited)
    failed = [r for r in reports if r.result in ("error", "unavailable", "rate_limited", "fenced")]
    print(
        f"refreshed {len(reports)} live sessions: {edited} status comments edited, "
        f"{len(failed)} not refreshed",
        flush=True,
    )
    for report in failed:
        print(f"  {report.session_id}: {report.result.replace('_', ' ')}", flush=True)
    return EXIT_ERROR if failed else 0


# --- shared start-up checks ---------------------------------------------------------------


def _settings(command: str, *, need_webhook_secret: bool) -> Settings | None:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        err(f"devin-bridge {command}: {exc}")
        return None
    missing = settings.missing_for_service()
    if not need_webhook_secret:
        missing = [m for m in missing if m != "GITHUB_WEBHOOK_SECRET"]
    if missing:
        err(
            f"devin-bridge {command} cannot start: set {', '.join(missing)} "
            "(see DESIGN.md §2.1 for every variable)"
        )
        return None
    return settings


def _prepare_store(settings: Settings) -> bool:
    """Create or migrate the schema once, before any worker starts (then let go of it)."""
    import sqlalchemy as sa

    from bot.store import Store, StoreError, safe_url

    try:
        store = Store(settings.database_url)
        try:
            store.migrate()
        finally:
            store.dispose()
    except StoreError as exc:
        err(str(exc))
        return False
    except sa.exc.SQLAlchemyError as exc:
        err(
            f"cannot open the state store {safe_url(settings.database_url)} "
            f"({type(exc).__name__}); check DATABASE_URL and that the database is reachable"
        )
        return False
    return True


def _check_queue(settings: Settings, *, required: bool) -> bool:
    """RQ must be installed; Redis must answer for a worker (serve only warns: deliveries
    are stored either way and handed to RQ once Redis is back)."""
    from bot.rq_queue import QueueUnavailable, RQQueue, safe_redis_url

    try:
        queue = RQQueue(settings.redis_url, "devin-bridge:check")
    except QueueUnavailable as exc:
        err(str(exc))
        return False
    if queue.ping():
        return True
    where = safe_redis_url(settings.redis_url)
    if required:
        err(f"cannot reach Redis at {where} (REDIS_URL); start it or unset REDIS_URL")
        return False
    log.warning("Redis at %s does not answer yet; deliveries are stored meanwhile", where)
    return True


def _on_signals(callback: Callable[[], None]) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing the work in hand, then stopping", signum)
        callback()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
