"""gunicorn for the webhook service: worker settings, hooks and a programmatic runner.

`devin-bridge serve` and `-c python:bot.gunicorn_conf` share these settings. Under
`serve` the web workers do intake only (see `web_only`); the config module keeps the
hooks that start the in-process worker in each gunicorn worker after fork (never at
import, never in the master), for a plain gunicorn without a separate worker process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from bot.service.settings import Settings

GIL_SWITCH_INTERVAL = 0.001


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


def web_only(options: dict[str, Any]) -> dict[str, Any]:
    """The options without the hooks that start background work in each web worker
    (`serve` runs it in a process of its own)."""
    web = {k: v for k, v in options.items() if k not in ("post_worker_init", "worker_exit")}
    web["post_worker_init"] = web_worker_init_hook
    return web


def web_worker_init_hook(worker: Any) -> None:
    # Hand the GIL over more often (default 5 ms). A request thread holding the store's
    # write gate releases the GIL for the commit and would then wait up to 5 ms for it
    # behind threads parsing other deliveries, with the gate held all that time.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)


def create_app_from(settings: Settings, queue: Any = None) -> Any:
    from bot.service.app import create_app

    return create_app(settings, queue=queue)


def post_worker_init_hook(worker: Any) -> None:
    from bot.service.app import runtime_of

    # Hand the GIL over more often (default 5 ms): a webhook thread then waits less
    # behind background ticks that parse JSON and render comments in the same process.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    runtime_of(worker.wsgi).start_background()


def worker_exit_hook(server: Any, worker: Any) -> None:
    from bot.service.app import runtime_of

    app = getattr(worker, "wsgi", None)
    if app is not None:
        runtime_of(app).stop_background(timeout=15.0)


class GunicornApp(BaseApplication):  # type: ignore[misc]
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
