"""Run `devin-bridge serve` and `devin-bridge worker` as real subprocesses for tests.

    with running_service(env, tmp_path) as svc:
        requests.post(svc.url + "/webhook", ...)
        svc.kill()            # SIGKILL the whole process group (gunicorn master + workers)

Each process gets its own session (process group), so `kill()` also takes down the
gunicorn workers, and its stderr goes to a file (`svc.log()`), never a pipe that could
fill up. The environment is exactly what the test passes plus PATH, so a developer's
real DEVIN_API_KEY or GITHUB_TOKEN never reaches the service under test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import requests

START_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra)
    return env


class ServiceProc:
    """One `devin-bridge` subprocess (serve or worker)."""

    def __init__(
        self,
        args: list[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        port: int | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.args = args
        self.port = port
        self.url = f"http://127.0.0.1:{port}" if port else ""
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            env=base_env(env),
            cwd=str(cwd) if cwd else None,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def __repr__(self) -> str:
        return f"ServiceProc({' '.join(self.args[:1])}, pid={self.proc.pid})"

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        """Until GET /healthz answers 200 (serve) or the worker logs that it is ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self} exited early:\n{self.log()[-3000:]}")
            if self.port:
                try:
                    if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            elif "worker ready" in self.log():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self} did not become ready in {timeout} s:\n{self.log()[-3000:]}")

    def terminate(self) -> None:
        """Send SIGTERM to the process group without waiting (see stop)."""
        if self.running:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = 25.0) -> int | None:
        """SIGTERM and wait (graceful: in-flight work finishes, leases are released)."""
        if self.running:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, nothing gets to clean up."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._wait_group_gone()
        self._log.close()

    def _wait_group_gone(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)


def stop_all(procs: list[ServiceProc]) -> None:
    """Stop several processes at once (their graceful shutdowns overlap)."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.stop()


def start_serve(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    workers: int = 2,
    port: int | None = None,
    name: str = "serve",
    wait: bool = True,
) -> ServiceProc:
    port = port or free_port()
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = ServiceProc(args, env, _log_file(log_dir, name), port=port, cwd=log_dir)
    if wait:
        proc.wait_healthy()
    return proc


def start_worker(
    env: Mapping[str, str], log_dir: Path, *, name: str = "worker", wait: bool = True
) -> ServiceProc:
    proc = ServiceProc(["worker"], env, _log_file(log_dir, name), cwd=log_dir)
    if wait:
        proc.wait_healthy()
    return proc


def run_command(
    args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """A one-shot `devin-bridge <args>` (refresh, worker --once, a refused serve)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=base_env(env),
        cwd=str(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def running_service(
    env: Mapping[str, str], log_dir: Path, *, workers: int = 2
) -> Iterator[ServiceProc]:
    proc = start_serve(env, log_dir, workers=workers)
    try:
        yield proc
    finally:
        proc.stop()


def _log_file(log_dir: Path, name: str) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    while (log_dir / f"{name}.{n}.log").exists():
        n += 1
    return log_dir / f"{name}.{n}.log"
