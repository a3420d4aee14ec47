"""Lease timing and the heartbeat that keeps a claimed row's lease alive while it works."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger("devin_bridge.leases")

MIN_LEASE_S = 3.0
MAX_LEASE_S = 60.0


def lease_seconds(poll_interval: float) -> float:
    """How long a claim lasts without a heartbeat: what a crash costs before another
    process takes over (60 s at the default 10 s poll interval, 3 s in fast tests)."""
    return min(MAX_LEASE_S, max(MIN_LEASE_S, 6.0 * poll_interval))


def owner_id(role: str) -> str:
    """A lease owner name that is unique per process and loop (host, pid, random)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{role}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    """Renews one lease every third of its length until the block ends.

    `renew` returns False once the lease is gone (another process took over); the keeper
    then stops and `lost` is set. The fenced write at the end fails anyway; `lost` only
    lets the work stop early and log it.
    """

    def __init__(self, renew: Callable[[], bool], lease_s: float, what: str) -> None:
        self._renew = renew
        self._every = max(0.05, lease_s / 3.0)
        self._what = what
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease:{what}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if not self._renew():
                    log.warning("lease on %s was lost to another worker", self._what)
                    self.lost.set()
                    return
            except Exception as err:  # the store hiccuped; try again next beat
                log.warning("could not renew the lease on %s: %s", self._what, type(err).__name__)
