"""The benchmarks under benchmarks/ run with tiny parameters and print sane figures.

Each one runs as a subprocess (`--quick --json`), all at once since they mostly wait on
their own children. Nothing here asserts how fast anything was: only that the figures
are printed, counted from real traffic, and consistent with each other.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
RUNS = {
    "intake": ["intake.py", "--quick", "--json"],
    "polling_economy": ["polling_economy.py", "--quick", "--json"],
    "scale": ["scale.py", "--quick", "--json"],
    "feed_economy": ["feed_economy.py", "--quick", "--json"],
    "run_all": ["run_all.py", "--quick", "--only", "polling-economy", "--json"],
    "apply_economy": ["apply_economy.py", "--quick", "--json"],
    "write_budget": ["write_budget.py", "--quick", "--setup", "sqlite", "--json"],
}
TIMEOUT_S = 100


class Ran:
    def __init__(self, name: str, returncode: int, stdout: str, stderr: str) -> None:
        self.name = name
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def result(self) -> dict[str, Any]:
        assert self.returncode == 0, f"{self.name} failed:\n{self.stdout}\n{self.stderr[-3000:]}"
        lines = [ln for ln in self.stdout.splitlines() if ln.startswith("RESULT ")]
        assert len(lines) == 1, f"{self.name} printed no RESULT line:\n{self.stdout}"
        data = json.loads(lines[0][len("RESULT ") :])
        assert isinstance(data, dict)
        return data


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Ran]]:
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(BENCHMARKS / args[0]), *args[1:]],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in RUNS.items()
    }
    done: dict[str, Ran] = {}
    try:
        for name, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.terminate()  # the benchmark's own cleanup stops its children
                out, err = proc.communicate(timeout=30)
            done[name] = Ran(name, proc.returncode, out, err)
        yield done
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_intake_prints_latency_and_throughput_of_both_servers(runs: dict[str, Ran]) -> None:
    ran = runs["intake"]
    figures = ran.result()["figures"]
    assert "intake" in ran.stdout and "req/s" in ran.stdout and "ratio" in ran.stdout
    for phase in ("service_saturated", "bare_saturated", "service_paced", "bare_paced"):
        f = figures[phase]
        assert f["answered"] > 0, phase
        assert f["failed"] == 0, phase
        assert f["throughput"] > 0, phase
        lat = f["latency_ms"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"], phase
    assert figures["ratio"] > 0
    # Signed deliveries were accepted (202) or ignored (200), never refused or failed.
    statuses = figures["service_statuses"]
    assert set(statuses) <= {"200", "202", "204"}
    assert int(statuses.get("202", 0)) > 0 and int(statuses.get("200", 0)) > 0
    # The service recorded the triggers (only they are written) and its background
    # process picked up jobs meanwhile.
    store = figures["background"]["store"]
    assert sum(store["deliveries"].values()) >= int(statuses["202"])
    assert sum(store["jobs"].values()) > 0
    assert figures["cpu_ms_per_request"]["service_web"] > 0


def test_polling_economy_counts_gets_and_writes(runs: dict[str, Ran]) -> None:
    ran = runs["polling_economy"]
    scripts = ran.result()["figures"]["scripts"]
    assert "GETs/h" in ran.stdout and "GitHub writes" in ran.stdout
    assert scripts
    for name, script in scripts.items():
        fixed, service = script["fixed_10s"], script["service"]
        assert fixed["session_gets_per_hour"] == 360.0, name  # the docs' 10-second loop
        assert 0 < service["session_gets_per_hour"] < fixed["session_gets_per_hour"], name
        assert service["idle_session_gets_per_hour"] >= 0, name
        assert service["github_writes"] == service["comment_creates"] + service["comment_edits"]
        assert service["comment_creates"] >= 1 and service["visible_states"] >= 1, name


def test_scale_measures_the_change_lag_of_a_fleet(runs: dict[str, Ran]) -> None:
    ran = runs["scale"]
    figures = ran.result()["figures"]
    assert "change lag" in ran.stdout
    assert figures["sessions"] == 50
    assert figures["changes"] > 0
    lag = figures["lag_s"]
    assert lag["count"] + figures["unseen"] == figures["changes"]
    assert lag["count"] > 0 and 0 <= lag["p50"] <= lag["p99"] <= lag["max"]
    # The feed lists once per interval; the fleet is not read session by session.
    per_hour = figures["devin_requests_per_hour"]
    assert per_hour["list"] > 0
    assert per_hour.get("get", 0) < figures["fixed_loop_gets_per_hour"] / 10


def test_feed_economy_compares_the_feed_with_per_session_polling(runs: dict[str, Ran]) -> None:
    ran = runs["feed_economy"]
    figures = ran.result()["figures"]
    assert "change feed" in ran.stdout and "per-session polling" in ran.stdout
    idle, busy = figures["idle"], figures["busy"]
    # Idle: the feed's list calls only, far below one GET per session and interval.
    assert idle["feed_requests_by_kind_per_hour"].get("get", 0) == 0
    assert 0 < idle["feed_requests_per_hour"] < idle["per_session_requests_per_hour"]
    assert busy["feed_requests_per_hour"] > idle["feed_requests_per_hour"]
    # The quick run changes sessions at the age of about one minute.
    delays = figures["delays_by_age"]["1min"]["feed"]
    assert delays["count"] > 0 and 0 <= delays["p50"] <= delays["max"]
    assert figures["unseen_changes"]["feed"] == 0


def test_run_all_prints_a_summary_table(runs: dict[str, Ran]) -> None:
    ran = runs["run_all"]
    data = ran.result()
    assert "== summary" in ran.stdout
    assert data["failures"] == []
    assert [r["benchmark"] for r in data["reports"]] == [
        "polling economy (simulated clock, one session)"
    ]
    assert all(c["target"] for r in data["reports"] for c in r["checks"])


def test_apply_economy_counts_writes_per_run_and_playbook_lookups(runs: dict[str, Ran]) -> None:
    ran = runs["apply_economy"]
    figures = ran.result()["figures"]
    assert "baseline" in ran.stdout and "playbook names" in ran.stdout
    objects = figures["objects"]
    assert figures["first"]["writes"] == objects > 0
    assert figures["unchanged"]["writes"] == 0 and figures["unchanged"]["reads"] > 0
    assert figures["one_edit"]["writes"] == 1
    assert figures["baseline_writes_per_run"] == 2 * objects
    assert figures["playbook_lists_cached"] == 1
    assert figures["playbook_lists_uncached"] == figures["sessions"]


def test_write_budget_times_sessions_comments_and_counts_writes(runs: dict[str, Ran]) -> None:
    data = runs["write_budget"].result()
    (run,) = data["figures"]["runs"]
    assert run["setup"] == "sqlite"
    assert 0 < run["sessions_s"] <= run["comments_s"] <= run["final_s"]
    assert run["limited"] == 0 and 0 < run["max_per_minute"] <= 80
    assert run["writes"] >= 12 * 2  # at least a status comment and its final edit each
