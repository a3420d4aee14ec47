"""The Action's "Devin" check run: `python entrypoint.py` as the runner starts it, against
the GitHub fake with an Actions token (`ghs_…`, an App token that may write check runs
when the workflow grants `checks: write`).

Off unless `.github/devin.yml` says `checks: true`; then created on the pull request,
updated only when the status comment changes, and completed with the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.emulator.config import EmulatorConfig
from tests.action.test_entrypoint import (
    ACTIONS_BOT,
    ACTIONS_TOKEN,
    DEVIN_KEY,
    ActionRun,
    comment_case,
    execute,
)
from tests.fakes.fake_checks import check_runs_of
from tests.support.stack import REPO, Stack, running_stack

CONFIG = ".github/devin.yml"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    with running_stack(EmulatorConfig(api_key=DEVIN_KEY)) as stack:
        stack.github.add_token(ACTIONS_TOKEN, ACTIONS_BOT, type="Bot")
        stack.github_token, stack.bot_login = ACTIONS_TOKEN, ACTIONS_BOT
        stack.allow("alice", "write")
        yield stack, tmp_path_factory.mktemp("action-checks")


def run_on_pr(
    world: tuple[Stack, Path], number: int, config: str | None, scenario: str = "finish"
) -> ActionRun:
    stack, tmp = world
    with stack.github.lock:
        stack.github.repos[REPO.lower()].files.pop(("main", CONFIG), None)
    if config is not None:
        stack.github.add_file(REPO, CONFIG, config)
    stack.github.add_pull(REPO, number, title="Add caching", head_sha=f"{number:x}" * 40)
    case = comment_case(
        stack, number, "/devin add tests", inputs={"tags": f"emulator-scenario:{scenario}"}
    )
    run = execute(stack, tmp / f"pr{number}", case)
    assert run.returncode == 0, run.stdout
    return run


def runs_on(stack: Stack, number: int) -> list[dict[str, Any]]:
    sha = f"{number:x}" * 40
    return [r for r in check_runs_of(stack.github, REPO) if r["head_sha"] == sha]


def test_checks_true_gives_the_pr_a_check_run_that_completes_with_the_session(
    world: tuple[Stack, Path],
) -> None:
    stack, _ = world
    run = run_on_pr(world, 1, "checks: true\n")
    assert run.outputs["state"] == "finished"
    [check] = runs_on(stack, 1)
    assert (check["name"], check["status"], check["conclusion"]) == (
        "Devin",
        "completed",
        "success",
    )
    assert check["external_id"] == run.outputs["session-id"]
    assert check["details_url"] == run.outputs["session-url"]
    assert check["pull_requests"][0]["number"] == 1
    history = check["_history"]
    assert history[0]["status"] == "in_progress"
    # Written exactly when the status comment was (same fingerprint), never more often.
    comment_id = int(run.outputs["comment-id"])
    assert len(history) == len(stack.github.comment_history(comment_id))
    assert len(history) < 10
    assert f"[View session]({run.outputs['session-url']})" in check["output"]["summary"]


@pytest.mark.parametrize(
    ("number", "scenario", "conclusion"), [(2, "error", "failure"), (3, "wait_for_user", "neutral")]
)
def test_the_check_run_ends_as_the_session_does(
    world: tuple[Stack, Path], number: int, scenario: str, conclusion: str
) -> None:
    stack, _ = world
    run_on_pr(world, number, "checks: true\n", scenario)
    assert runs_on(stack, number)[-1]["conclusion"] == conclusion


def test_the_action_writes_no_check_run_by_default(world: tuple[Stack, Path]) -> None:
    stack, _ = world
    before = len(stack.github.requests(None, r"/check-runs"))
    run_on_pr(world, 4, None)
    assert not runs_on(stack, 4)
    assert len(stack.github.requests(None, r"/check-runs")) == before


def test_a_token_without_checks_write_leaves_the_run_green(world: tuple[Stack, Path]) -> None:
    stack, _ = world
    stack.github.checks_denied.add(ACTIONS_TOKEN)
    try:
        run = run_on_pr(world, 5, "checks: true\n")
    finally:
        stack.github.checks_denied.discard(ACTIONS_TOKEN)
    assert run.outputs["state"] == "finished" and not runs_on(stack, 5)
    denied = [r for r in stack.github.requests("POST", r"/check-runs$") if r.status == 403]
    assert len(denied) == 1  # refused once, then no more attempts
