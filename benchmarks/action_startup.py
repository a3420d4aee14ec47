"""How fast the Action starts, and how much it installs.

By default the Action is installed as its image installs it: a fresh virtualenv with
``pip install .`` (no extras, not editable) and ``entrypoint.py`` run from a folder of its
own, like /app in the image. ``--dev-venv`` uses this interpreter and its editable
install instead (quicker, but the editable finder adds to every start).

1. Start-up: process start of ``python entrypoint.py`` → its first API request, against
   the Devin emulator and the GitHub fake on loopback (the arrival time of every request
   is recorded by a WSGI wrapper). Median of N runs, next to a bare ``python -c pass`` of
   the same interpreter (the baseline), with the ratio. Target: under 0.3 s.
2. Installed size of the runtime: every file the fresh install put into site-packages
   (pip and setuptools aside, bytecode caches aside); with ``--dev-venv`` the requirement
   closure of ``devin-bridge`` without extras. Target: under 40 MB.

    .venv/bin/python benchmarks/action_startup.py [--runs 15] [--dev-venv]

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


STARTUP_TARGET_S = 0.3
SIZE_TARGET_MB = 40.0
NOT_RUNTIME = ("pip", "setuptools", "_distutils_hack", "distutils-precedence.pth", "pkg_resources")


def build_action_venv(folder: Path) -> tuple[str, Path, Path]:
    """A fresh venv with the Action's install; (python, site-packages, entry folder)."""
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    python = str(folder / "venv" / "bin" / "python")
    src = folder / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (src / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(["cp", "-r", str(ROOT / "bot"), str(src / "bot")], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-cache-dir", str(src)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    entry = folder / "app"
    entry.mkdir()
    (entry / "entrypoint.py").write_bytes((ROOT / "entrypoint.py").read_bytes())
    site = next((folder / "venv" / "lib").glob("python3*/site-packages"))
    return python, site, entry


def site_packages_bytes(site: Path) -> list[tuple[str, int]]:
    """Installed bytes per top-level entry of site-packages (no bytecode caches)."""
    sizes: dict[str, int] = {}
    for path in site.rglob("*"):
        rel = path.relative_to(site)
        top = rel.parts[0]
        if path.is_file() and "__pycache__" not in rel.parts and not top.startswith(NOT_RUNTIME):
            key = re.sub(r"-[^-]+\.dist-info$", "", top)
            sizes[key] = sizes.get(key, 0) + path.stat().st_size
    return sorted(sizes.items(), key=lambda kv: -kv[1])


def measure_startup(
    runs: int, python: str = sys.executable, entry: Path = ROOT
) -> dict[str, float]:
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
                    [python, "entrypoint.py"], cwd=entry, env=env, capture_output=True
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
                subprocess.run([python, "-c", "pass"], check=True)
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
    parser.add_argument("--dev-venv", action="store_true", help="this venv (editable install)")
    parser.add_argument("--json", action="store_true", help="also print one RESULT {...} line")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="action-startup-") as tmp:
        if args.dev_venv:
            python, entry, site = sys.executable, ROOT, None
            where = "this virtualenv (editable install)"
        else:
            python, site, entry = build_action_venv(Path(tmp))
            where = "a fresh virtualenv with `pip install .` (as the image installs it)"
        figures = measure_startup(max(1, args.runs), python, entry)
        if site is not None:
            rows = [(name, "", size) for name, size in site_packages_bytes(site)]
        else:
            rows = measure_size()
    first, bare = figures["first_request_s"], figures["bare_python_s"]
    print(f"Action start-up from {where}, median of {args.runs} runs (after one warm-up):")
    print(f"  process start → first API request   {first * 1000:7.0f} ms")
    print(
        f"    (fastest run                        {figures['first_request_min_s'] * 1000:7.0f} ms)"
    )
    print(f"  whole run (prompt, wait: false)      {figures['whole_run_s'] * 1000:7.0f} ms")
    print(f"  baseline `python -c pass`            {bare * 1000:7.0f} ms")
    print(f"  ratio first request / baseline       {first / bare:7.1f} x")

    total = sum(size for _, _, size in rows)
    print("\nInstalled runtime (no extras), without bytecode caches:")
    for name, version, size in sorted(rows, key=lambda r: -r[2]):
        print(f"  {name:<26} {version:<12} {size / 1e6:7.2f} MB")
    print(f"  {'total':<26} {len(rows):<3} entries   {total / 1e6:7.2f} MB")
    print("\ntargets:")
    met = first < STARTUP_TARGET_S
    print(f"  start → first request < {STARTUP_TARGET_S:.1f} s   {'met' if met else 'MISSED'}")
    size_met = total / 1e6 < SIZE_TARGET_MB
    print(f"  installed runtime < {SIZE_TARGET_MB:.0f} MB      {'met' if size_met else 'MISSED'}")
    if args.json:
        result = {**figures, "installed_mb": total / 1e6, "ratio": first / bare}
        print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
