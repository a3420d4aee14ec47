"""The Action keeps to the GitHub write budget in memory (one process, the Actions token):
against a GitHub fake that answers a secondary-limit 403 above 4 writes a minute, a run
with progress to show never gets one, and its final state still reaches the comment."""

from __future__ import annotations

from pathlib import Path

from bot.emulator.config import EmulatorConfig
from tests.action.test_entrypoint import (
    ACTIONS_BOT,
    ACTIONS_TOKEN,
    DEVIN_KEY,
    REPO,
    comment_case,
    execute,
)
from tests.support.stack import running_stack


def test_the_action_honours_the_write_budget(tmp_path: Path) -> None:
    with running_stack(EmulatorConfig(api_key=DEVIN_KEY)) as stack:
        stack.github.add_token(ACTIONS_TOKEN, ACTIONS_BOT, type="Bot")
        stack.github_token, stack.bot_login = ACTIONS_TOKEN, ACTIONS_BOT
        stack.allow("alice")
        stack.github.add_issue(REPO, 5, title="Flaky test")
        stack.github.set_secondary_limits(per_minute=4, per_hour=100)
        case = comment_case(stack, 5, "/devin fix the flaky test")
        case.env["DEVIN_BRIDGE_GITHUB_WRITES_PER_MINUTE"] = "4"
        run = execute(stack, tmp_path, case)
        stats = stack.github.write_stats()
        edits = stack.github.requests("PATCH", r"/issues/comments/")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["state"] == "finished"
    mine = stats[f"token:{ACTIONS_BOT}"]
    assert mine["secondary_limited"] == 0 and mine["max_per_minute"] <= 4
    # Progress edits were held back (the run had more to show than the budget allowed),
    # and the final state used the room kept for it.
    assert "not written yet" in run.stdout + run.stderr
    assert edits and "Devin finished" in edits[-1].json["body"]
