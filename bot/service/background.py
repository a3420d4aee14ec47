"""The background process of `devin-bridge serve`: the same claim loop as `devin-bridge
worker` (or, with REDIS_URL, the RQ dispatcher), next to gunicorn instead of inside its
web workers, so a web worker does nothing but intake."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Any

from bot.service.runtime import Runtime
from bot.service.settings import Settings
from bot.service.wake import WakeListener

log = logging.getLogger("devin_bridge.background")

# When the CPUs are short, acknowledging GitHub's deliveries (10 s timeout, no automatic
# redelivery) comes first; jobs and polls wait a little longer. Only under contention:
# an idle machine runs the background process as fast as ever.
BACKGROUND_NICENESS = 5
PARENT_CHECK_S = 1.0


def run_background(settings: Settings, wake_path: str | None, parent_pid: int) -> int:
    """Run until SIGTERM/SIGINT or until `parent_pid` (the supervisor) is gone."""
    stop = threading.Event()
    with contextlib.suppress(OSError, AttributeError):  # best effort (not on Windows)
        os.nice(BACKGROUND_NICENESS)
    runtime = Runtime.build(settings, migrate=False)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing the work in hand, then stopping", signum)
        stop.set()
        wake.set()

    if settings.redis_url:
        loop: Any = runtime.dispatcher()
        what = "the RQ dispatcher"
    else:
        loop = runtime.worker(leader=None, role="serve", concurrency=settings.worker_concurrency)
        what = "the job and poll loop"
    wake: threading.Event = loop.wake
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    listener = (
        WakeListener(wake_path, wake).start() if wake_path and not settings.redis_url else None
    )
    watchdog = threading.Thread(
        target=_watch_parent, args=(parent_pid, stop, wake), name="parent-watch", daemon=True
    )
    watchdog.start()
    log.info("devin-bridge background process ready (%s, store %s)", what, runtime.store.url)
    try:
        loop.run(stop)
    finally:
        if listener is not None:
            listener.close()
        try:
            runtime.metrics.flush(runtime.store)
        except Exception:  # the store is down: these counters are lost, nothing else
            log.debug("could not flush the metrics", exc_info=True)
        runtime.store.dispose()
    return 0


def _watch_parent(parent_pid: int, stop: threading.Event, wake: threading.Event) -> None:
    """Stop when the supervisor is gone (also after a kill -9 of it): no orphan stays."""
    while not stop.wait(PARENT_CHECK_S):
        if os.getppid() != parent_pid:
            log.warning("the serve process %d is gone: stopping", parent_pid)
            stop.set()
            wake.set()
            return
