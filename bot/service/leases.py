"""Lease timing and the heartbeat that keeps a claimed row's lease alive while it works."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.facade import Store

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
    lets the work stop early and log it. All keepers of a process share one renewal
    thread (a tick is short: a thread per tick would cost more than the tick's writes).
    """

    def __init__(self, renew: Callable[[], bool], lease_s: float, what: str) -> None:
        self._renew = renew
        self._every = max(0.05, lease_s / 3.0)
        self._what = what
        self.lost = threading.Event()
        self.next_at = 0.0

    def __enter__(self) -> LeaseKeeper:
        self.next_at = time.monotonic() + self._every
        _renewer().add(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _renewer().remove(self)

    def beat(self) -> bool:
        """Renew once; False when the lease was lost (no more beats then)."""
        self.next_at = time.monotonic() + self._every
        try:
            if not self._renew():
                log.warning("lease on %s was lost to another worker", self._what)
                self.lost.set()
                return False
        except Exception as err:  # the store hiccuped; try again next beat
            log.warning("could not renew the lease on %s: %s", self._what, type(err).__name__)
        return True


class _Renewer:
    """The one thread of a process that renews every held lease when it is due."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._keepers: set[LeaseKeeper] = set()
        self._thread: threading.Thread | None = None
        self._wake_at = float("-inf")  # when the sleeping thread wakes by itself

    def add(self, keeper: LeaseKeeper) -> None:
        with self._cond:
            self._keepers.add(keeper)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
                self._thread.start()
            if keeper.next_at < self._wake_at:  # else the thread wakes early enough anyway
                self._cond.notify()

    def remove(self, keeper: LeaseKeeper) -> None:
        with self._cond:
            self._keepers.discard(keeper)

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [k for k in self._keepers if k.next_at <= now]
                if not due:
                    self._wake_at = min((k.next_at for k in self._keepers), default=now + 60.0)
                    self._cond.wait(self._wake_at - now)
                    self._wake_at = float("-inf")  # awake: `add` need not notify
                    continue
            for keeper in due:  # outside the lock: a renewal is a store write
                with self._cond:
                    if keeper not in self._keepers:
                        continue  # its block ended meanwhile
                if not keeper.beat():
                    self.remove(keeper)


_shared: _Renewer | None = None
_shared_lock = threading.Lock()


def _renewer() -> _Renewer:
    global _shared
    with _shared_lock:
        if _shared is None or _shared.pid != os.getpid():  # first use, or a forked child
            _shared = _Renewer()
        return _shared


# A follower asks this often whether the leader lease is free (one cheap write).
FOLLOWER_RETRY_S = 2.0


class Leadership:
    """Holds a named leader lease in the store, renewed well inside its length."""

    def __init__(self, store: Store, name: str, owner: str, lease_s: float) -> None:
        self.store = store
        self.name = name
        self.owner = owner
        self.lease_s = lease_s
        self.leading = False
        self._checked = float("-inf")

    def hold(self, now: float) -> bool:
        # A follower asks often (one cheap write): when the leader's process is recycled
        # (gunicorn max_requests) it releases the lease, and the work should move at once.
        every = self.lease_s / 3.0 if self.leading else min(self.lease_s / 3.0, FOLLOWER_RETRY_S)
        if now - self._checked < every:
            return self.leading
        was = self.leading
        self.leading = self.store.acquire_leader(self.name, self.owner, self.lease_s)
        self._checked = now
        if self.leading and not was:
            log.info("%s took the %r lease", self.owner, self.name)
        elif was and not self.leading:
            log.warning("%s lost the %r lease", self.owner, self.name)
        return self.leading

    def release(self) -> None:
        if not self.leading:
            return
        self.leading = False
        try:
            self.store.release_leader(self.name, self.owner)
        except Exception:
            log.debug("could not release the %r lease", self.name, exc_info=True)
