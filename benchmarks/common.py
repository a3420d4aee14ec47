"""Shared pieces of the benchmarks: statistics, subprocesses, the loopback stack, load
generators and the printed report.

The benchmarks measure; they never assert timings. Every child process is started in its
own process group and killed (group and all) when the benchmark ends, also on Ctrl-C and
SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WEBHOOK_SECRET = "benchmark-webhook-secret"

# --- statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


@dataclass(frozen=True)
class Spread:
    count: int
    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(values),
            percentile(values, 50),
            percentile(values, 99),
            float(max(values)),
            float(sum(values) / len(values)),
        )

    def as_dict(self, digits: int = 2) -> dict[str, float | int | None]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) else round(x, digits)

        return {
            "count": self.count,
            "p50": num(self.p50),
            "p99": num(self.p99),
            "max": num(self.max),
            "mean": num(self.mean),
        }


def ms(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.1f} ms"


def secs(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f} s"


# --- the printed report -------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One figure against its target from the issue."""

    name: str
    value: str
    target: str
    ok: bool | None  # None: not measured


@dataclass
class Report:
    """What a benchmark prints: aligned figure lines, target checks, and JSON figures."""

    name: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, label: str, text: str) -> None:
        self.lines.append((label, text))

    def check(self, name: str, value: str, target: str, ok: bool | None) -> None:
        self.checks.append(Check(name, value, target, ok))

    def print(self, out: TextIO = sys.stdout) -> None:
        width = max((len(label) for label, _ in self.lines), default=0)
        print(f"== {self.name} ==  [{machine()}]", file=out)
        for label, text in self.lines:
            print(f"  {label.ljust(width)}  {text}", file=out)
        if self.checks:
            print_checks(self.checks, out)
        for note in self.notes:
            print(f"  note: {note}", file=out)
        out.flush()

    def as_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "machine": machine(),
            "figures": self.figures,
            "checks": [
                {"name": c.name, "value": c.value, "target": c.target, "ok": c.ok}
                for c in self.checks
            ],
        }


def machine() -> str:
    """CPUs and load: other work on the machine moves every figure here."""
    try:
        one, five = os.getloadavg()[:2]
        load = f"load {one:.1f}/{five:.1f} (1/5 min)"
    except OSError:
        load = "load unknown"
    return f"{os.cpu_count()} CPUs, {load}"


def verdict(ok: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[ok]


def print_checks(checks: Sequence[Check], out: TextIO = sys.stdout) -> None:
    rows = [("figure", "measured", "target", "")]
    rows += [(c.name, c.value, c.target, verdict(c.ok)) for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(
            f"  {r[0].ljust(widths[0])}  {r[1].rjust(widths[1])}  {r[2].ljust(widths[2])}  {r[3]}",
            file=out,
        )


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="tiny parameters (smoke test, a few seconds)"
    )
    parser.add_argument(
        "--json", action="store_true", help="also print the figures as one JSON line"
    )
    parser.add_argument(
        "--logs", type=Path, metavar="DIR", help="keep the logs of the processes started here"
    )
    return parser


def finish(report: Report, *, as_json: bool) -> int:
    report.print()
    if as_json:
        print("RESULT " + json.dumps(report.as_json(), sort_keys=True), flush=True)
    return 0


# --- processes ----------------------------------------------------------------------------


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks kill the children."""

    def handler(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment plus `extra`: a developer's real keys, App settings or
    REDIS_URL never reach the processes under test (they measure the embedded default)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra or {})
    return env


class Processes:
    """Children started in their own process groups; `close` kills every group."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL,
        stdout: int | None = None,
    ) -> subprocess.Popen[bytes]:
        log_path = self.workdir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
        try:
            proc = subprocess.Popen(
                list(args),
                cwd=ROOT,
                env=child_env(env),
                stdin=stdin,
                stdout=stdout if stdout is not None else log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        self._procs.append((name, proc, log_path))
        return proc

    def log_tail(self, proc: subprocess.Popen[bytes], lines: int = 30) -> str:
        for _, p, path in self._procs:
            if p is proc:
                try:
                    text = path.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    return ""
                return "\n".join(text.splitlines()[-lines:])
        return ""

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        """SIGTERM to the child's process group, then SIGKILL if it lingers."""
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(5)
        # Workers of a gunicorn master may outlive it for a moment: reap the group.
        _signal_group(proc, signal.SIGKILL)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        for _, proc, _ in reversed(self._procs):
            try:
                self.stop(proc)
            except Exception as err:  # keep killing the others
                print(f"could not stop pid {proc.pid}: {err}", file=sys.stderr)
        self._procs.clear()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # the group id is the child's pid (start_new_session)


_KEEP_LOGS: list[Path] = []


def keep_logs_in(directory: Path) -> None:
    """Copy the children's logs (service, worker, stack) there when a workspace ends."""
    directory.mkdir(parents=True, exist_ok=True)
    _KEEP_LOGS[:] = [directory]


@contextmanager
def workspace(prefix: str) -> Iterator[tuple[Path, Processes]]:
    """A temp dir and the children started in it; both gone when the block ends."""
    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix=f"devin-bridge-{prefix}-") as tmp:
        procs = Processes(Path(tmp))
        try:
            yield Path(tmp), procs
        finally:
            procs.close()
            for target in _KEEP_LOGS:
                stamp = time.strftime("%H%M%S")
                for log in Path(tmp).glob("*.log"):
                    shutil.copy(log, target / f"{prefix}-{stamp}-{log.name}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str,
    procs: Processes,
    proc: subprocess.Popen[bytes],
    *,
    timeout: float = 30.0,
) -> None:
    """Wait until `url` answers below 500; fail early (with its log) if the child died."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args!r} exited with {proc.returncode} before answering:\n"
                + procs.log_tail(proc)
            )
        try:
            resp = requests.get(url, timeout=1.0)
            if resp.status_code < 500:
                return
            last = f"HTTP {resp.status_code}"
        except requests.RequestException as err:
            last = type(err).__name__
        time.sleep(0.1)
    raise RuntimeError(
        f"{url} did not answer within {timeout:.0f} s ({last}):\n" + procs.log_tail(proc)
    )


# --- the outside world on loopback, in its own process --------------------------------------


@dataclass(frozen=True)
class StackInfo:
    devin_url: str  # includes /v3
    github_url: str
    devin_key: str
    org_id: str
    github_token: str
    bot_login: str
    repo: str
    # (comment id, issue number) of the trigger comments seeded in the fake
    comments: tuple[tuple[int, int], ...] = ()

    @property
    def emulator_url(self) -> str:
        return self.devin_url.rsplit("/v3", 1)[0]

    def service_env(self) -> dict[str, str]:
        """DEVIN_*/GITHUB_* pointing the service at the emulator and the fake."""
        return {
            "DEVIN_API_KEY": self.devin_key,
            "DEVIN_ORG_ID": self.org_id,
            "DEVIN_API_URL": self.devin_url,
            "GITHUB_TOKEN": self.github_token,
            "GITHUB_API_URL": self.github_url,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "DEVIN_BRIDGE_BOT_LOGIN": self.bot_login,
        }


def start_stack(
    procs: Processes,
    *,
    issues: Sequence[int] = (7,),
    comments_per_issue: int = 0,
    writers: Sequence[str] = ("octocat",),
    scenario: str = "finish",
    request_log_limit: int = 10_000,
    timeout: float = 30.0,
) -> tuple[StackInfo, subprocess.Popen[bytes]]:
    """The Devin emulator and the GitHub fake (tests/support/stack.py) in a child process,
    so their request handling does not share our GIL with the load generator.

    `comments_per_issue` `/devin` comments by the first writer are seeded on each issue,
    round-robin, so that deliveries can name comments that exist."""
    spec = {
        "issues": list(issues),
        "comments_per_issue": comments_per_issue,
        "writers": list(writers),
        "scenario": scenario,
        "request_log_limit": request_log_limit,
    }
    proc = procs.start(
        "stack",
        [PYTHON, "-m", "benchmarks.common", "stack", json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = _readline(proc.stdout, timeout)
    if not line:
        procs.stop(proc)
        raise RuntimeError("the stack process did not start:\n" + procs.log_tail(proc))
    data = json.loads(line)
    data["comments"] = tuple((int(c), int(n)) for c, n in data.get("comments", ()))
    return StackInfo(**data), proc


def _readline(stream: Any, timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(
        target=lambda: result.append(stream.readline().decode("utf-8", "replace")), daemon=True
    )
    reader.start()
    reader.join(timeout)
    return result[0].strip() if result else ""


def _serve_stack(spec: Mapping[str, Any]) -> None:
    """Child side of `start_stack`: serve until our stdin closes (the parent is gone)."""
    logging_quiet()
    from bot.emulator.config import EmulatorConfig
    from tests.support.stack import running_stack

    config = EmulatorConfig(request_log_limit=int(spec.get("request_log_limit", 10_000)))
    with running_stack(config) as stack:
        for number in spec.get("issues", []):
            stack.github.add_issue(stack.repo, int(number), title=f"Benchmark issue {number}")
        writers = [str(w) for w in spec.get("writers", [])]
        for login in writers:
            stack.allow(login, "write")
        comments: list[tuple[int, int]] = []
        for _ in range(int(spec.get("comments_per_issue", 0))):
            for number in spec.get("issues", []):
                body = "/devin fix the flaky test"
                c = stack.github.add_comment(stack.repo, int(number), body, user=writers[0])
                comments.append((c.id, int(number)))
        stack.use_scenario(str(spec.get("scenario", "finish")))
        info = {
            "comments": comments,
            "devin_url": stack.devin_url,
            "github_url": stack.github_url,
            "devin_key": stack.devin_key,
            "org_id": stack.org_id,
            "github_token": stack.github_token,
            "bot_login": stack.bot_login,
            "repo": stack.repo,
        }
        print(json.dumps(info), flush=True)
        sys.stdin.read()  # EOF: the benchmark closed the pipe or died


def logging_quiet() -> None:
    """No per-request access lines from werkzeug servers in our processes."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)


# --- load generators ------------------------------------------------------------------------

RequestMaker = Callable[[int], tuple[bytes, Mapping[str, str]]]


@dataclass
class LoadResult:
    """What a load run saw. Latencies are in milliseconds."""

    latencies_ms: list[float]
    statuses: Counter[int]
    elapsed_s: float

    @classmethod
    def merge(cls, parts: Sequence[LoadResult]) -> LoadResult:
        """Several slices of one phase as one result (elapsed times add up)."""
        statuses: Counter[int] = Counter()
        for part in parts:
            statuses.update(part.statuses)
        return cls(
            latencies_ms=[x for part in parts for x in part.latencies_ms],
            statuses=statuses,
            elapsed_s=sum(part.elapsed_s for part in parts),
        )

    @property
    def completed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status > 0)

    @property
    def failed(self) -> int:
        """Transport errors and 5xx answers."""
        return sum(n for status, n in self.statuses.items() if status <= 0 or status >= 500)

    @property
    def throughput(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def spread(self) -> Spread:
        return Spread.of(self.latencies_ms)


def run_load(
    url: str,
    make: RequestMaker,
    *,
    concurrency: int,
    max_requests: int,
    duration: float,
    rate: float | None = None,
    timeout: float = 10.0,
    first_index: int = 0,
) -> LoadResult:
    """POST `make(i)` to `url` from `concurrency` threads with keep-alive sessions.

    Without `rate`: closed loop, each thread sends as soon as its last answer came (the
    most the server can do at that concurrency). With `rate`: open loop, request i is due
    at start + i/rate and its latency counts from then, so a server that falls behind is
    charged for the queueing too (no coordinated omission).
    Stops after `max_requests` or `duration` seconds, whichever comes first.
    """
    lock = threading.Lock()
    next_index = [0]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    statuses: list[Counter[int]] = [Counter() for _ in range(concurrency)]
    ready = threading.Barrier(concurrency + 1)
    start = [0.0]

    def take() -> int | None:
        with lock:
            i = next_index[0]
            if i >= max_requests:
                return None
            next_index[0] = i + 1
            return i

    def worker(slot: int) -> None:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
        session.mount("http://", adapter)
        mine, seen = latencies[slot], statuses[slot]
        try:
            ready.wait()
            deadline = start[0] + duration
            while True:
                i = take()
                if i is None:
                    return
                due = start[0] + i / rate if rate else time.perf_counter()
                if due > deadline or time.perf_counter() > deadline:
                    return
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                body, headers = make(first_index + i)
                sent = due if rate else time.perf_counter()
                try:
                    resp = session.post(url, data=body, headers=headers, timeout=timeout)
                    status = resp.status_code
                    resp.content  # noqa: B018 - read the answer fully
                except requests.RequestException:
                    status = 0
                    session.close()
                    session = requests.Session()
                mine.append((time.perf_counter() - sent) * 1000.0)
                seen[status] += 1
        finally:
            session.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(concurrency)]
    for t in threads:
        t.start()
    start[0] = time.perf_counter()
    ready.wait()
    for t in threads:
        t.join(duration + timeout + 30)
    elapsed = time.perf_counter() - start[0]
    merged: Counter[int] = Counter()
    for c in statuses:
        merged.update(c)
    return LoadResult(
        latencies_ms=[x for part in latencies for x in part],
        statuses=merged,
        elapsed_s=elapsed,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.common stack '<json spec>'` (used by `start_stack`)."""
    args = argv if argv is not None else sys.argv[1:]
    if len(args) == 2 and args[0] == "stack":
        _serve_stack(json.loads(args[1]))
        return 0
    print("usage: python -m benchmarks.common stack '<json spec>'", file=sys.stderr)
    return 2


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
