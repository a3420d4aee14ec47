"""The "Devin" check run on pull requests, over real HTTP against the GitHub fake.

Created for a session started from a pull request and for each pull request Devin opens,
`in_progress` while Devin works, completed as success / neutral / failure, its summary
the status comment's content; written only when what the comment shows changed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.engine.deps import Deps, RunOptions
from bot.engine.handlers import Outcome, handle
from bot.engine.tracker import TickResult, TrackState, tick
from bot.github.client import GitHubClient
from tests.fakes.fake_checks import check_runs_of
from tests.support.stack import BOT_LOGIN, Stack

APP_TOKEN = "ghs_app_installation_like_token_for_checks"
PR = 7


def app_deps(stack: Stack, **options: Any) -> Deps:
    """Deps whose GitHub token may write check runs (an App's, like Actions' GITHUB_TOKEN)."""
    stack.github.add_token(APP_TOKEN, BOT_LOGIN)
    client = GitHubClient.from_token(APP_TOKEN, base_url=stack.github_url, seconds_between_writes=0)
    return replace(stack.deps(**options), github=client)


def start_on_pr(
    stack: Stack, scenario: str | dict[str, Any], deps: Deps, *, config: str | None = None
) -> Outcome:
    stack.use_scenario(scenario)
    stack.github.add_pull(stack.repo, PR, title="Cache the parser", head_sha="a" * 40)
    if config is not None:
        stack.github.add_file(stack.repo, ".github/devin.yml", config)
    stack.allow("alice")
    c = stack.github.add_comment(stack.repo, PR, "/devin add tests", user="alice")
    return handle(stack.comment_trigger(c), deps)


def run_until_done(track: TrackState, deps: Deps, limit: int = 20) -> list[TickResult]:
    results = []
    for _ in range(limit):
        result = tick(track, deps)
        results.append(result)
        track = result.state
        if result.settled and result.state.unchanged_polls >= 2:
            break
    return results


def runs(stack: Stack) -> list[dict[str, Any]]:
    return check_runs_of(stack.github, stack.repo)


def check_writes(stack: Stack) -> int:
    return len(stack.github.requests(None, r"/check-runs(/\d+)?$")) - len(
        stack.github.requests("GET", r"/check-runs")
    )


def test_a_session_started_from_a_pr_has_a_check_run_from_start_to_success(stack: Stack) -> None:
    deps = app_deps(stack)
    outcome = start_on_pr(stack, "finish", deps)
    assert outcome.track is not None and outcome.track.checks and outcome.track.pull_request
    [run] = runs(stack)
    assert (run["name"], run["head_sha"], run["status"]) == ("Devin", "a" * 40, "in_progress")
    session_id = outcome.session.session_id if outcome.session else ""
    assert run["external_id"] == session_id
    assert run["details_url"] == outcome.session.url if outcome.session else False
    results = run_until_done(outcome.track, deps)
    [run] = runs(stack)  # one run, updated in place
    assert (run["status"], run["conclusion"]) == ("completed", "success")
    assert run["output"]["title"] == "✅ Devin finished"
    [comment] = stack.bot_comments(PR)
    summary = run["output"]["summary"]
    assert "**Latest from Devin:**" in summary and "requested by @alice" in summary
    assert "<!-- devin-bridge" not in summary  # the hidden markers stay in the comment
    assert summary.endswith(f"**[View session]({outcome.session.url})**")  # type: ignore[union-attr]
    # Updated exactly when the comment was: same fingerprint rule.
    history = run["_history"]
    edits = 1 + sum(1 for r in results if r.edited)  # the first write created the comment
    assert len(history) == edits
    assert len(stack.github.comment_history(comment["id"])) == edits  # its bodies, first included
    quiet = check_writes(stack)
    for _ in range(3):
        tick(results[-1].state, deps)
    assert check_writes(stack) == quiet


@pytest.mark.parametrize(
    ("scenario", "conclusion", "title"),
    [
        ("exit", "success", "✅ Devin finished"),
        ("error", "failure", "❌ Devin failed"),
        ("wait_for_user", "neutral", "💬 Devin needs your input"),
        ("approval", "neutral", "✋ Devin is waiting for approval"),
        ("usage_limit", "neutral", "💤 Devin is suspended"),
    ],
)
def test_every_final_state_completes_the_check_run(
    stack: Stack, scenario: str, conclusion: str, title: str
) -> None:
    deps = app_deps(stack)
    outcome = start_on_pr(stack, scenario, deps)
    assert outcome.track is not None
    run_until_done(outcome.track, deps)
    run = runs(stack)[-1]
    assert (run["status"], run["conclusion"]) == ("completed", conclusion)
    assert run["output"]["title"] == title


def test_stop_completes_the_check_run_as_neutral(stack: Stack) -> None:
    deps = app_deps(stack)
    outcome = start_on_pr(stack, "long", deps)
    assert runs(stack)[-1]["status"] == "in_progress"
    c = stack.github.add_comment(stack.repo, PR, "/devin stop", user="alice")
    stopped = handle(stack.comment_trigger(c), deps)
    assert stopped.action == "stopped" and outcome.track is not None
    run = runs(stack)[-1]
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")
    assert "**Stopped** by @\u200balice with `/devin stop`." in run["output"]["summary"]


def test_waiting_then_working_again_opens_a_new_run_on_the_same_commit(stack: Stack) -> None:
    deps = app_deps(stack)
    outcome = start_on_pr(stack, "wait_for_user", deps)
    assert outcome.track is not None
    waiting = run_until_done(outcome.track, deps)[-1]
    assert runs(stack)[-1]["conclusion"] == "neutral"
    c = stack.github.add_comment(stack.repo, PR, "/devin use the staging database", user="alice")
    followed = handle(stack.comment_trigger(c), deps)
    assert followed.track is not None and waiting.state.check_runs
    # The follow-up's track starts without the stored ids (as the service stores it).
    assert (
        not followed.track.check_runs
        or followed.track.check_runs[0][2] != (waiting.state.check_runs[0][2])
    )
    run_until_done(followed.track, deps)
    all_runs = runs(stack)
    assert len(all_runs) == 2 and {r["head_sha"] for r in all_runs} == {"a" * 40}
    assert [r["conclusion"] for r in all_runs] == ["neutral", "success"]


def test_each_pr_devin_opens_gets_a_check_run_on_its_newest_commit(stack: Stack) -> None:
    deps = app_deps(stack)
    stack.github.add_issue(stack.repo, 3, title="Slow parser")
    opened = stack.github.add_pull(stack.repo, 12, title="Devin's fix", head_sha="b" * 40)
    elsewhere = "https://github.com/someone/else/pull/5"  # another repository: no check run
    scenario = {
        "name": "opens_pr",
        "steps": [
            {"after_polls": 0, "status": "running", "status_detail": "working"},
            {"pull_request": {"pr_url": f"https://github.com/{stack.repo}/pull/12"}},
            {"pull_request": {"pr_url": elsewhere}, "acus": 1.0},
            {"message": "Pushed a second commit.", "acus": 2.0},
            {"status": "running", "status_detail": "finished", "acus": 3.0},
        ],
    }
    stack.use_scenario(scenario)
    stack.allow("alice")
    c = stack.github.add_comment(stack.repo, 3, "/devin speed it up", user="alice")
    outcome = handle(stack.comment_trigger(c), deps)
    assert outcome.track is not None and not outcome.track.pull_request
    track = outcome.track
    sha_changed = False
    for _ in range(20):
        result = tick(track, deps)
        track = result.state
        if runs(stack) and not sha_changed:
            opened.head_sha, sha_changed = "c" * 40, True  # Devin pushed again
        if result.settled and track.unchanged_polls >= 2:
            break
    by_sha = {r["head_sha"]: r for r in runs(stack)}
    assert set(by_sha) == {"b" * 40, "c" * 40}
    assert by_sha["b" * 40]["conclusion"] == "neutral"  # superseded, not left running
    assert by_sha["b" * 40]["output"]["title"] == "Moved to the newest commit"
    assert (by_sha["c" * 40]["status"], by_sha["c" * 40]["conclusion"]) == ("completed", "success")
    assert by_sha["c" * 40]["pull_requests"][0]["number"] == 12
    assert not stack.github.requests(None, r"^/repos/someone/")


def test_a_lost_check_run_id_is_found_again_instead_of_duplicated(stack: Stack) -> None:
    deps = app_deps(stack)
    outcome = start_on_pr(stack, "long", deps)
    assert outcome.track is not None and len(runs(stack)) == 1
    # A later Action run knows nothing of the first: no stored ids, no fingerprint.
    fresh = replace(outcome.track, check_runs=(), checks_fingerprint=None, fingerprint=None)
    stack.emulator.advance(outcome.track.session_id, steps=1)
    tick(fresh, deps)
    assert len(runs(stack)) == 1
    assert stack.github.requests("GET", r"/commits/a{40}/check-runs$")


def test_a_personal_token_cannot_write_check_runs_and_the_bridge_stops_trying(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    deps = stack.deps()  # a PAT: GitHub answers 403 "You must authenticate via a GitHub App."
    outcome = start_on_pr(stack, "finish", deps)
    assert outcome.track is not None and not outcome.track.checks
    assert "checks: write is needed" in caplog.text
    run_until_done(outcome.track, deps)
    assert len(stack.github.requests("POST", r"/check-runs$")) == 1
    assert not runs(stack)
    assert "Devin finished" in stack.bot_comments(PR)[0]["body"]  # the comment is unaffected


def test_checks_false_in_the_repo_config_writes_none(stack: Stack) -> None:
    deps = app_deps(stack)
    outcome = start_on_pr(stack, "exit", deps, config="checks: false\n")
    assert outcome.track is not None and not outcome.track.checks
    run_until_done(outcome.track, deps)
    assert not stack.github.requests(None, r"/check-runs")


def test_checks_true_in_the_repo_config_overrides_an_off_default(stack: Stack) -> None:
    deps = replace(app_deps(stack), options=RunOptions(checks=False))
    outcome = start_on_pr(stack, "exit", deps, config="checks: true\n")
    assert outcome.track is not None and outcome.track.checks
    run_until_done(outcome.track, deps)
    assert runs(stack)[-1]["conclusion"] == "success"


def test_a_failed_check_run_write_is_retried_on_the_next_tick(stack: Stack) -> None:
    deps = app_deps(stack)
    stack.github.add_fault("POST", r"/check-runs$", status=502)
    outcome = start_on_pr(stack, "long", deps)
    assert outcome.track is not None and not runs(stack)
    assert outcome.track.checks_fingerprint != outcome.track.fingerprint
    tick(outcome.track, deps)
    assert runs(stack)[-1]["status"] == "in_progress"
