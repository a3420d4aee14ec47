"""How fast the Action starts, and how much it installs.

1. Start-up: process start of ``python entrypoint.py`` → its first API request, against
   the Devin emulator and the GitHub fake on loopback (the arrival time of every request
   is recorded by a WSGI wrapper). Median of N runs, next to a bare ``python -c pass``.
2. Installed size of the runtime dependencies: the requirement closure of
   ``devin-bridge`` without extras (what the Dockerfile installs), measured from the
   installed distributions' files via importlib.metadata.

    .venv/bin/python benchmarks/action_startup.py [--runs 15]

The Docker image build and the container start come on top on a real runner (see
DESIGN/github-platform §5.4); they cannot be measured without a Docker daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REPO = "octo-org/octo-repo"
TOKEN = "ghs_benchmark_token"
DEVIN_KEY = "cog_benchmark_key"


class ArrivalLog:
    """WSGI middleware: the wall-clock time each request arrived."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._lock:
            self.times.append(time.time())
        return self.app(environ, start_response)

    def first_after(self, t0: float) -> float | None:
        with self._lock:
            later = [t for t in self.times if t >= t0]
        return min(later) if later else None


def _env(devin_url: str, github_url: str, workdir: Path) -> dict[str, str]:
    event = workdir / "event.json"
    event.write_text(
        json.dumps({"repository": {"full_name": REPO}, "sender": {"login": "alice"}, "inputs": {}})
    )
    (workdir / "out").touch()
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "workflow_dispatch",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": github_url,
        "GITHUB_OUTPUT": str(workdir / "out"),
        "DEVIN_BRIDGE_GITHUB_WRITE_SPACING": "0",
        "INPUT_DEVIN-API-KEY": DEVIN_KEY,
        "INPUT_ORG-ID": "org-emulator",
        "INPUT_GITHUB-TOKEN": TOKEN,
        "INPUT_DEVIN-API-URL": devin_url,
        "INPUT_PROMPT": "Benchmark run: say hello",
        "INPUT_WAIT": "false",
    }


def measure_startup(runs: int) -> dict[str, float]:
    from bot.emulator import EmulatorConfig, create_emulator_app
    from tests.fakes.fake_github import create_fake_github
    from tests.support.servers import ServerThread

    emulator = ArrivalLog(create_emulator_app(EmulatorConfig(api_key=DEVIN_KEY)))
    gh_app = create_fake_github(tokens={TOKEN: "github-actions[bot]"})
    gh_app.extensions["fake_github"].add_repo(REPO)
    github = ArrivalLog(gh_app)
    emu_srv, gh_srv = ServerThread(emulator).start(), ServerThread(github).start()
    first: list[float] = []
    total: list[float] = []
    bare: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = _env(f"{emu_srv.url}/v3", gh_srv.url, Path(tmp))
            for i in range(runs + 1):
                t0 = time.time()
                proc = subprocess.run(
                    [sys.executable, "entrypoint.py"], cwd=ROOT, env=env, capture_output=True
                )
                done = time.time()
                if proc.returncode != 0:
                    raise SystemExit(f"entrypoint failed:\n{proc.stdout.decode()}")
                arrivals = [a for a in (emulator.first_after(t0), github.first_after(t0)) if a]
                if i == 0:
                    continue  # warm-up: bytecode caches, page cache
                first.append(min(arrivals) - t0)
                total.append(done - t0)
                t0 = time.time()
                subprocess.run([sys.executable, "-c", "pass"], check=True)
                bare.append(time.time() - t0)
    finally:
        emu_srv.stop()
        gh_srv.stop()
    return {
        "first_request_s": statistics.median(first),
        "first_request_min_s": min(first),
        "whole_run_s": statistics.median(total),
        "bare_python_s": statistics.median(bare),
    }


# --- installed size ------------------------------------------------------------------------


def _requirements(
    dist: metadata.Distribution, extras: frozenset[str]
) -> Iterable[tuple[str, frozenset[str]]]:
    """(name, extras) of what ``dist`` needs here, with the extras it was asked for
    (e.g. PyGithub needs ``pyjwt[crypto]``) but none of its own (dev, scale)."""
    from packaging.requirements import Requirement  # a pytest dependency: in every dev venv

    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": extra}) for extra in {"", *extras}
        ):
            continue  # another extra, or another platform
        yield req.name, frozenset(req.extras)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(root: str = "devin-bridge") -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        if (_norm(name), extras) in done:
            continue
        done.add((_norm(name), extras))
        dist = found.setdefault(_norm(name), metadata.distribution(name))
        todo.extend(_requirements(dist, extras))
    return found


def installed_bytes(dist: metadata.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        path = Path(str(dist.locate_file(f)))
        if "__pycache__" not in path.parts and path.is_file():
            total += path.stat().st_size
    return total


def measure_size() -> list[tuple[str, str, int]]:
    rows = []
    for key, dist in sorted(runtime_closure().items()):
        size = installed_bytes(dist)
        if key == "devin-bridge":  # an editable install lists no files: count bot/
            size = sum(p.stat().st_size for p in (ROOT / "bot").rglob("*.py"))
        rows.append((dist.metadata["Name"], dist.version, size))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    figures = measure_startup(max(1, args.runs))
    print(f"Action start-up, median of {args.runs} runs (after one warm-up):")
    print(f"  process start → first API request   {figures['first_request_s'] * 1000:7.0f} ms")
    print(
        f"    (fastest run                        {figures['first_request_min_s'] * 1000:7.0f} ms)"
    )
    print(f"  whole run (prompt, wait: false)      {figures['whole_run_s'] * 1000:7.0f} ms")
    print(f"  bare `python -c pass`                {figures['bare_python_s'] * 1000:7.0f} ms")

    rows = measure_size()
    total = sum(size for _, _, size in rows)
    print("\nRuntime dependency closure (no extras), installed size without bytecode caches:")
    for name, version, size in sorted(rows, key=lambda r: -r[2]):
        print(f"  {name:<24} {version:<12} {size / 1e6:7.2f} MB")
    print(f"  {'total':<24} {len(rows):<3} packages  {total / 1e6:7.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
