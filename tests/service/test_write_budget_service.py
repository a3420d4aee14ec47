"""The GitHub write budget in the running service (`devin-bridge serve` and `worker` as
subprocesses, SQLite store), over real HTTP against the Devin emulator and the GitHub fake:
a failed edit of the final state is retried within seconds, a secondary-limit 403 pauses
the identity and loses nothing, two processes sharing one identity stay within the budget.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.emulator.config import EmulatorConfig
from tests.support.deliveries import deliver, service_env, wait_for
from tests.support.service_proc import start_serve, start_worker, stop_all
from tests.support.stack import Stack, running_stack

WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture
def stack() -> Iterator[Stack]:
    with running_stack(EmulatorConfig()) as s:
        s.allow("alice")
        yield s


def _comment(stack: Stack, number: int, body: str) -> dict[str, Any]:
    stack.github.add_issue(stack.repo, number, title=f"Issue {number}")
    return stack.comment_payload(stack.github.add_comment(stack.repo, number, body, user="alice"))


def _finished(stack: Stack, number: int) -> str | None:
    comments = stack.bot_comments(number)
    if comments and "Devin finished" in comments[-1]["body"]:
        return str(comments[-1]["body"])
    return None


def _bot_writes(stack: Stack) -> list[Any]:
    return [r for r in stack.github.requests() if r.method in WRITES and r.actor != "alice"]


def test_a_502_on_the_finished_edit_is_retried_within_seconds(stack: Stack, tmp_path: Path) -> None:
    # The first two edits that would show "finished" fail. Before, the session then
    # looked settled and was next polled minutes later (120 s x the interval scale).
    stack.github.add_fault("PATCH", r"/issues/comments/\d+$", 502, matching="finished", times=2)
    env = service_env(stack, f"sqlite:///{tmp_path / 'state.db'}", DEVIN_BRIDGE_POLL_INTERVAL="1")
    service = start_serve(env, tmp_path, workers=1)
    try:
        assert deliver(service.url, "issue_comment", _comment(stack, 7, "/devin go")).status_code
        body = wait_for(lambda: _finished(stack, 7), "the finished comment", 40)
        log = service.log()
    finally:
        service.stop()
    assert "/pull/" in body and len(stack.bot_comments(7)) == 1
    edits = [r for r in stack.github.requests("PATCH", r"/issues/comments/") if r.json]
    failed = [r for r in edits if r.status == 502]
    shown = [r for r in edits if r.status == 200 and "finished" in r.json["body"]]
    assert len(failed) == 2 and shown
    assert shown[0].at - failed[0].at < 10.0  # seconds, not the settled poll delay
    assert "not written yet" in log and "Traceback" not in log


def test_a_secondary_limit_pauses_the_identity_and_loses_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    stack.github.add_fault(
        "PATCH", r"/issues/comments/\d+$", rate_limit="secondary", retry_after=3, times=1
    )
    env = service_env(
        stack, f"sqlite:///{tmp_path / 'state.db'}", DEVIN_BRIDGE_GITHUB_WRITE_SPACING="0.3"
    )
    service = start_serve(env, tmp_path, workers=1)
    numbers = (21, 22, 23)
    try:
        for n in numbers:
            payload = _comment(stack, n, f"/devin task {n}")
            assert deliver(service.url, "issue_comment", payload).status_code == 202
        for n in numbers:
            wait_for(lambda n=n: _finished(stack, n), f"#{n} finished", 40)
    finally:
        service.stop()
    writes = _bot_writes(stack)
    limited = [r for r in writes if r.status == 403]
    assert len(limited) == 1
    after = [r.at for r in writes if r.at > limited[0].at]
    assert after and min(after) - limited[0].at >= 2.9  # nobody wrote while paused
    for n in numbers:  # and nothing was lost: one comment each, showing the end
        assert len(stack.bot_comments(n)) == 1


def test_two_processes_sharing_one_identity_never_exceed_the_budget(
    stack: Stack, tmp_path: Path
) -> None:
    stack.use_scenario("long")
    stack.github.set_secondary_limits(per_minute=6, per_hour=100)  # GitHub's 403 above it
    env = service_env(
        stack,
        f"sqlite:///{tmp_path / 'state.db'}",
        DEVIN_BRIDGE_GITHUB_WRITES_PER_MINUTE="6",
        DEVIN_BRIDGE_WORKER_CONCURRENCY="4",
    )
    serve = start_serve(env, tmp_path, workers=1)
    worker = start_worker(env, tmp_path)
    numbers = range(40, 52)
    try:
        for n in numbers:
            payload = _comment(stack, n, f"/devin task {n}")
            assert deliver(serve.url, "issue_comment", payload).status_code == 202
        # Every session starts at once, whatever the budget says...
        wait_for(lambda: len(stack.sessions()) == len(numbers), "every session started", 30)
        time.sleep(6)  # ...while their comments and edits wait for room in the window
        logs = [serve.log(), worker.log()]
    finally:
        stop_all([serve, worker])
    stats = stack.github.write_stats()[f"token:{stack.bot_login}"]
    assert stats["secondary_limited"] == 0
    assert 5 <= stats["max_per_minute"] <= 6  # the budget was used, never exceeded
    # Both processes did work that writes to GitHub, and were held back by the budget.
    for log in logs:
        assert re.search(r"job \d+ .*: created|tick session=.*edited=yes", log), log[-2000:]
    assert any("no write slot free" in log for log in logs)
