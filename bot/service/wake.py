"""A wake-up call from the web workers to the background process of `serve`.

The store row is the truth: the background worker finds every job by itself within a
second. The web workers of `serve` run in other processes than that worker, so a new
job would otherwise wait for the worker's next look; a one-byte datagram on a Unix
socket in a private directory wakes it at once. Sending never blocks and never fails
the request: a full socket buffer means the worker is awake anyway, a missing socket
that it is restarting (and will look for jobs when it is back).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import suppress

log = logging.getLogger("devin_bridge.wake")


class WakeQueue:
    """The web side of `serve` without Redis: a job is claimed by the background process."""

    kind = "in-process"  # no RQ: the work runs inside `serve`, in its background process
    dispatch_ttl: float | None = None

    def __init__(self, path: str) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def notify(self, job_id: int) -> None:
        sock = self._socket()
        with suppress(OSError):  # see the module docstring: the store still has the job
            sock.sendto(b"j", self.path)

    def ping(self) -> bool:
        return True

    def _socket(self) -> socket.socket:
        with self._lock:
            if self._sock is None or self._pid != os.getpid():  # a forked worker: its own
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
                self._sock, self._pid = sock, os.getpid()
            return self._sock


class WakeListener:
    """The background side: a daemon thread that sets `wake` on every datagram."""

    def __init__(self, path: str, wake: threading.Event) -> None:
        self.path = path
        self.wake = wake
        with suppress(FileNotFoundError):
            os.unlink(path)  # left by a predecessor that was killed
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(path)
        self._sock.settimeout(1.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devin-bridge-wake", daemon=True)

    def start(self) -> WakeListener:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()
        with suppress(OSError):
            os.unlink(self.path)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sock.recv(64)
            except TimeoutError:
                continue
            except OSError:
                if not self._stop.is_set():
                    log.debug("the wake socket failed; the worker looks for jobs by itself")
                return
            self.wake.set()
