"""`devin-bridge worker --concurrency N`: a bad N is refused naming the option; a good one
runs (here: one pass with `--once`)."""

from __future__ import annotations

from pathlib import Path

from tests.support.service_proc import run_command

ENV = {
    "DEVIN_API_KEY": "cog_test",
    "DEVIN_ORG_ID": "org-test",
    "DEVIN_API_URL": "http://127.0.0.1:9/v3",
    "GITHUB_TOKEN": "ghp_test",
    "GITHUB_API_URL": "http://127.0.0.1:9",
}


def test_worker_concurrency_is_checked(tmp_path: Path) -> None:
    env = {**ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
    for bad in ("0", "lots", "1000"):
        done = run_command(["worker", "--once", "--concurrency", bad], env, tmp_path)
        assert done.returncode == 2 and "--concurrency" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    via_env = run_command(
        ["worker", "--once"], {**env, "DEVIN_BRIDGE_WORKER_CONCURRENCY": "-3"}, tmp_path
    )
    assert via_env.returncode == 2 and "DEVIN_BRIDGE_WORKER_CONCURRENCY" in via_env.stderr
    ok = run_command(["worker", "--once", "--concurrency", "3"], env, tmp_path)
    assert ok.returncode == 0 and "processed 0 jobs and ticks" in ok.stdout, ok.stderr
