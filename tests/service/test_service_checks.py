"""The service's "Devin" check run: `devin-bridge serve` (real gunicorn) acting as a GitHub
App installation, a signed `/devin` comment on a pull request, the GitHub fake on loopback.

On by default for an App: the pull request gets a check run that is in progress while
Devin works and completes with the session, written only when the status comment changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fake_checks import check_runs_of
from tests.fakes.fake_github import make_rsa_keypair
from tests.support.deliveries import deliver, service_env, wait_for
from tests.support.service_proc import start_serve
from tests.support.stack import Stack, running_stack

INSTALLATION = 91
APP_SLUG = "devin-bridge-checks"
SCENARIO = {
    "name": "pr-work",
    "steps": [
        {"after_polls": 1, "status": "running", "status_detail": "working", "acus": 0.5},
        {"after_polls": 2, "message": "Adding the tests now.", "acus": 1.0},
        {"after_polls": 2, "message": "Done.", "status_detail": "finished", "acus": 1.5},
    ],
}


@pytest.fixture
def app_stack(tmp_path: Path) -> Iterator[tuple[Stack, dict[str, str]]]:
    with running_stack() as stack:
        private, public = make_rsa_keypair()
        stack.github.configure_app(4712, public, slug=APP_SLUG)
        stack.github.add_installation(INSTALLATION, account="octo-org")
        stack.emulator.register_scenario(SCENARIO)
        stack.use_scenario("pr-work")
        stack.allow("alice")
        env = service_env(stack, f"sqlite:///{tmp_path / 'state.db'}")
        env.update(
            GITHUB_TOKEN="",
            GITHUB_APP_ID="4712",
            GITHUB_APP_PRIVATE_KEY=private,
            DEVIN_BRIDGE_BOT_LOGIN=f"{APP_SLUG}[bot]",
        )
        yield stack, env


def pr_comment(stack: Stack, number: int, body: str) -> dict[str, Any]:
    stack.github.add_pull(stack.repo, number, title="Cache the parser", head_sha="f" * 40)
    payload = stack.comment_payload(stack.github.add_comment(stack.repo, number, body, "alice"))
    payload["installation"] = {"id": INSTALLATION}
    return payload


def completed(stack: Stack) -> dict[str, Any] | None:
    runs = check_runs_of(stack.github, stack.repo)
    return runs[-1] if runs and runs[-1]["status"] == "completed" else None


def test_an_app_service_keeps_a_check_run_on_the_pull_request(
    app_stack: tuple[Stack, dict[str, str]], tmp_path: Path
) -> None:
    stack, env = app_stack
    service = start_serve(env, tmp_path, workers=1)
    try:
        answer = deliver(service.url, "issue_comment", pr_comment(stack, 21, "/devin add tests"))
        assert answer.status_code == 202
        run = wait_for(lambda: completed(stack), "a completed check run", 30)
    finally:
        service.stop()
    assert (run["name"], run["conclusion"], run["head_sha"]) == ("Devin", "success", "f" * 40)
    assert len(check_runs_of(stack.github, stack.repo)) == 1
    statuses = [h["status"] for h in run["_history"]]
    assert statuses[0] == "in_progress" and statuses[-1] == "completed"
    [comment] = [
        c
        for c in stack.github.thread_comments(stack.repo, 21)
        if "devin-bridge:session=" in c["body"]
    ]
    assert comment["user"]["login"] == f"{APP_SLUG}[bot]"
    # Same fingerprint rule as the comment: one check-run write per comment body.
    assert len(run["_history"]) == len(stack.github.comment_history(comment["id"]))
    assert "Devin finished" in comment["body"]
    assert run["output"]["title"] == "✅ Devin finished"
    writes = stack.github.requests(None, r"/check-runs")
    assert all(r.actor == f"{APP_SLUG}[bot]" for r in writes)
