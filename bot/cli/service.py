"""`devin-bridge serve`, `worker` and `refresh` (registered lazily by bot/cli/console.py).

`serve` supervises two forked children: gunicorn (threaded web workers that only take
deliveries in) and one background process running the worker loop (with REDIS_URL the
RQ dispatcher); it restarts the background process when it dies and stops both on
SIGTERM/SIGINT (bot/service/supervisor.py). Each command refuses to start, with
exit code 2, when a required variable is missing, and names it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from bot.cli.output import EXIT_ERROR, EXIT_USAGE, err
from bot.service.gunicorn_app import GunicornApp, create_app_from, gunicorn_options, web_only
from bot.service.settings import MAX_WORKER_CONCURRENCY, Settings, SettingsError

log = logging.getLogger("devin_bridge.service")


def _start(name: str, args: argparse.Namespace, *, webhook_secret: bool) -> Settings | int:
    """What `serve` and `worker` do first: settings, the start-up checks, logging, the
    store's schema. An exit code when one of them refuses."""
    settings = _settings(name, need_webhook_secret=webhook_secret)
    if settings is None:
        return EXIT_USAGE
    refused = _startup_checks(name, settings, args, webhook_secret=webhook_secret)
    if refused:
        return refused
    from bot.service import logs as service_logging

    service_logging.configure(settings.secrets())
    if not _prepare_store(settings):
        return EXIT_ERROR
    return settings


def serve(args: argparse.Namespace) -> int:
    settings = _start("serve", args, webhook_secret=True)
    if isinstance(settings, int):
        return settings
    if settings.redis_url and not _check_queue(settings, required=False):
        return EXIT_USAGE
    # Import the code (not the app) before forking, so a worker boots, or is replaced
    # after a crash, in a fraction of the time. No thread or connection exists yet.
    import bot.service.app  # noqa: F401
    from bot.service.background import run_background
    from bot.service.supervisor import Supervisor
    from bot.service.wake import WakeQueue

    host = getattr(args, "host", "0.0.0.0")
    port = int(getattr(args, "port", 8000))
    workers = max(1, int(getattr(args, "workers", 2) or 2))
    options = web_only(gunicorn_options(host, port, workers))
    with tempfile.TemporaryDirectory(prefix="devin-bridge-") as private:
        wake_path = None if settings.redis_url else os.path.join(private, "wake")
        queue = WakeQueue(wake_path) if wake_path else None
        log.info(
            "devin-bridge serve on %s:%d with %d web workers and a background process (%s)",
            host,
            port,
            workers,
            "RQ dispatcher" if settings.redis_url else "jobs and polls",
        )
        supervisor = Supervisor(grace_s=float(options["graceful_timeout"]) + 5.0)
        supervisor.add(
            "gunicorn",
            lambda: GunicornApp(lambda: create_app_from(settings, queue=queue), options).run(),
            restart=False,
        )
        supervisor.add(
            "background",
            lambda: run_background(settings, wake_path, os.getppid()),
            restart=True,
        )
        return supervisor.run()


def worker(args: argparse.Namespace) -> int:
    settings = _start("worker", args, webhook_secret=False)
    if isinstance(settings, int):
        return settings
    if settings.redis_url and not _check_queue(settings, required=True):
        return EXIT_ERROR
    from bot.service.runtime import Runtime

    runtime = Runtime.build(settings, migrate=False)
    once = bool(getattr(args, "once", False))
    concurrency = _concurrency(args, settings)
    if concurrency is None:
        return EXIT_USAGE
    if settings.redis_url:
        return _rq_worker(runtime, once, concurrency)
    loop = runtime.worker(leader=None, role="worker", concurrency=concurrency)
    if once:
        done = loop.run_once()
        print(f"processed {done} jobs and ticks", flush=True)
        return 0
    stop = threading.Event()
    _on_signals(stop.set)
    log.info("devin-bridge worker ready (in-process claims, store %s)", runtime.store.url)
    loop.run(stop)
    return 0


def _concurrency(args: argparse.Namespace, settings: Settings) -> int | None:
    """--concurrency N, else DEVIN_BRIDGE_WORKER_CONCURRENCY (the settings' default)."""
    value = getattr(args, "concurrency", None)
    if value is None:
        return settings.worker_concurrency
    if not 1 <= int(value) <= MAX_WORKER_CONCURRENCY:
        err(
            "devin-bridge worker: --concurrency must be a whole number from 1 to "
            f"{MAX_WORKER_CONCURRENCY}, got {value!r}"
        )
        return None
    return int(value)


def _rq_worker(runtime: Any, once: bool, concurrency: int = 1) -> int:
    from rq import SimpleWorker

    from bot.service.leases import owner_id
    from bot.service.rq_queue import Dispatcher, RQContext, RQQueue, install_context

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
    queues = [queue.jobs, queue.ticks]
    rq_worker = SimpleWorker(queues, connection=queue.connection)
    if once:
        dispatcher.dispatch_once()
        rq_worker.work(burst=True, logging_level="WARNING")
        runtime.metrics.flush(runtime.store)
        return 0

    from rq.timeouts import TimerDeathPenalty

    class ThreadWorker(SimpleWorker):
        """An RQ worker on a side thread: signals belong to the main thread's worker, so
        its job timeout is a timer instead of SIGALRM."""

        death_penalty_class = TimerDeathPenalty

        def _install_signal_handlers(self) -> None:
            pass

    # RQ runs one message at a time per worker: --concurrency N runs N of them, the
    # extra ones on threads of this process (the units mostly wait on HTTP).
    siblings = [ThreadWorker(queues, connection=queue.connection) for _ in range(concurrency - 1)]
    stop = threading.Event()
    threads = [threading.Thread(target=dispatcher.run, args=(stop,), name="dispatcher")]
    threads += [
        threading.Thread(target=_guarded_rq_work, args=(w,), name=f"rq-worker-{n + 2}", daemon=True)
        for n, w in enumerate(siblings)
    ]
    for thread in threads:
        thread.daemon = True
        thread.start()
    log.info(
        "devin-bridge worker ready (RQ queues %s, %d at once, store %s)",
        queue.namespace,
        concurrency,
        runtime.store.url,
    )
    try:
        # RQ installs its own SIGTERM/SIGINT handling (warm shutdown after the message).
        rq_worker.work(logging_level="WARNING")
    finally:
        stop.set()
        dispatcher.wake.set()
        for sibling in siblings:
            sibling._stop_requested = True  # each ends after its current message
        for thread in threads:
            thread.join(timeout=10)
    return 0


def _guarded_rq_work(rq_worker: Any) -> None:
    try:
        rq_worker.work(logging_level="WARNING")
    except Exception:
        log.exception("an RQ worker thread stopped on an error")


def refresh(args: argparse.Namespace) -> int:
    settings = _settings("refresh", need_webhook_secret=False)
    if settings is None:
        return EXIT_USAGE
    from bot.service import logs as service_logging

    service_logging.configure(settings.secrets(), level=logging.WARNING)
    if not _prepare_store(settings):
        return EXIT_ERROR
    from bot.service.leases import owner_id
    from bot.service.runtime import Runtime

    runtime = Runtime.build(settings, migrate=False)
    reports = runtime.poller(owner_id("refresh")).refresh_all()
    runtime.metrics.flush(runtime.store)
    edited = sum(1 for r in reports if r.edited)
    failed = [r for r in reports if r.result in ("error", "unavailable", "rate_limited", "fenced")]
    if getattr(args, "json", False):
        from bot.cli.output import print_json

        print_json(
            {
                "refreshed": len(reports),
                "edited": edited,
                "sessions": [
                    {"session_id": r.session_id, "result": r.result, "edited": r.edited}
                    for r in reports
                ],
            }
        )
        return EXIT_ERROR if failed else 0
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
    from bot.cli.envfile import load_env_file

    load_env_file()
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
            "(.env.example lists every variable; devin-bridge doctor checks them)"
        )
        return None
    return settings


def _startup_checks(
    command: str, settings: Settings, args: argparse.Namespace, *, webhook_secret: bool
) -> int:
    """The checks of `devin-bridge doctor` against the live APIs (0: go on); with
    --no-check only what needs no network (the App key must still parse)."""
    from bot.cli.doctor import local_checks, startup_checks

    if getattr(args, "no_check", False):
        return local_checks(command, settings)
    return startup_checks(command, settings, webhook_secret=webhook_secret)


def _prepare_store(settings: Settings) -> bool:
    """Create or migrate the schema once, before any worker starts (then let go of it)."""
    import sqlalchemy as sa

    from bot.store.facade import Store, StoreError, safe_url

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
    from bot.service.rq_queue import QueueUnavailable, RQQueue, safe_redis_url

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
