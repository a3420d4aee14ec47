"""A small process supervisor for `devin-bridge serve`: gunicorn and the background process
side by side, each forked from a parent that holds no thread and no connection.

The background process is restarted when it dies (after a growing pause if it keeps
dying at once); when gunicorn's master ends, the supervisor stops the rest and exits
with its status. SIGTERM or SIGINT is passed to both children, which finish the work in
hand; whatever is still running after the grace period is killed. gunicorn's own
controls (SIGHUP, SIGTTIN, SIGTTOU) are passed on to its master; SIGHUP also restarts
the background process. A child notices the
supervisor's own death (kill -9 included): on Linux the kernel sends it SIGTERM
(PR_SET_PDEATHSIG), so no orphan keeps serving or polling.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("devin_bridge.supervisor")

TICK_S = 0.1
FIRST_RESTART_S = 0.5
MAX_RESTART_S = 30.0
STABLE_S = 60.0  # a child that ran this long before dying restarts at once again
_PR_SET_PDEATHSIG = 1
PASSED_ON = (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU)


@dataclass
class Child:
    name: str
    target: Callable[[], int | None]
    restart: bool
    pid: int | None = None
    started: float = 0.0
    next_start: float = 0.0
    pause: float = FIRST_RESTART_S
    restarts: int = field(default=0)


class Supervisor:
    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.children: list[Child] = []
        self._signal: int | None = None
        self._pending: list[int] = []
        self._status = 0

    def add(self, name: str, target: Callable[[], int | None], *, restart: bool) -> None:
        self.children.append(Child(name, target, restart))

    def run(self) -> int:
        """Start every child, watch them until a signal or the end of a vital one."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for sig in PASSED_ON:
            signal.signal(sig, self._pass_on)
        for child in self.children:
            self._start(child)
        while self._signal is None and self._reap():
            self._relay()
            now = time.monotonic()
            for child in self.children:
                if child.pid is None and child.restart and now >= child.next_start:
                    self._start(child)
            time.sleep(TICK_S)
        self._stop_all(self._signal or signal.SIGTERM)
        return self._status

    # --- internals --------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._signal is None:
            log.info("signal %d: stopping gunicorn and the background process", signum)
            self._signal = signum

    def _pass_on(self, signum: int, _frame: Any) -> None:
        self._pending.append(signum)

    def _relay(self) -> None:
        """gunicorn's own controls sent to `serve` reach gunicorn's master (SIGHUP: reload
        its workers; SIGTTIN/SIGTTOU: one worker more or less); SIGHUP also starts the
        background process afresh (it is stopped gracefully and started again)."""
        while self._pending:
            signum = self._pending.pop(0)
            for child in self.children:
                if child.pid is None:
                    continue
                if not child.restart:
                    _signal(child.pid, signum)
                elif signum == signal.SIGHUP:
                    child.pause = FIRST_RESTART_S
                    _signal(child.pid, signal.SIGTERM)

    def _start(self, child: Child) -> None:
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the supervisor's code
            _run_child(child, parent)
        child.pid = pid
        child.started = time.monotonic()
        log.info("%s process started (pid %d)", child.name, pid)

    def _reap(self) -> bool:
        """Collect ended children; False when a vital child (gunicorn) has ended."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == 0:
                return True
            child = next((c for c in self.children if c.pid == pid), None)
            if child is None:
                continue
            child.pid = None
            code = os.waitstatus_to_exitcode(status)
            if not child.restart:
                log.error("%s process %d ended (%s): stopping", child.name, pid, _describe(code))
                self._status = code if code >= 0 else 1
                return False
            ran = time.monotonic() - child.started
            child.pause = FIRST_RESTART_S if ran >= STABLE_S else child.pause
            child.next_start = time.monotonic() + child.pause
            child.restarts += 1
            log.warning(
                "%s process %d ended (%s); starting it again in %.1f s",
                child.name,
                pid,
                _describe(code),
                child.pause,
            )
            child.pause = min(MAX_RESTART_S, child.pause * 2)

    def _stop_all(self, signum: int) -> None:
        for child in self.children:
            if child.pid is not None:
                _signal(child.pid, signum if signum == signal.SIGINT else signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while any(c.pid is not None for c in self.children) and time.monotonic() < deadline:
            self._collect()
            time.sleep(TICK_S / 2)
        for child in self.children:
            if child.pid is not None:
                log.warning("%s process %d did not stop in time: killed", child.name, child.pid)
                _signal(child.pid, signal.SIGKILL)
        while any(c.pid is not None for c in self.children):
            self._collect(block=True)

    def _collect(self, *, block: bool = False) -> None:
        for child in self.children:
            if child.pid is None:
                continue
            try:
                pid, _ = os.waitpid(child.pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                pid = child.pid
            if pid:
                child.pid = None


def _run_child(child: Child, parent: int) -> None:
    code: Any = 1
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, *PASSED_ON):
            signal.signal(sig, signal.SIG_DFL)
        _die_with_parent(parent)
        code = child.target() or 0
    except SystemExit as exc:  # gunicorn ends its master (and workers) this way
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        log.exception("%s process failed", child.name)
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when the supervisor dies (Linux; elsewhere the background
    process watches its parent itself, and gunicorn's master stays to be stopped)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            log.debug("prctl(PR_SET_PDEATHSIG) is unavailable")
    if os.getppid() != parent:  # the supervisor died before the request took effect
        os._exit(0)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
