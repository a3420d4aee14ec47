"""GitHubClient's check-run endpoints against the fake, and the fake's own GitHub rules."""

from __future__ import annotations

import pytest

from bot.github.client import GitHubClient
from bot.github.errors import GitHubError, GitHubForbidden
from tests.support.stack import BOT_LOGIN, Stack

APP_TOKEN = "ghs_actions_like_token_for_check_endpoints"
SHA = "d" * 40


def app_client(stack: Stack) -> GitHubClient:
    stack.github.add_token(APP_TOKEN, BOT_LOGIN)
    stack.github.add_pull(stack.repo, 4, head_sha=SHA)
    return GitHubClient.from_token(APP_TOKEN, base_url=stack.github_url, seconds_between_writes=0)


def test_create_update_and_find_a_check_run(stack: Stack) -> None:
    gh = app_client(stack)
    output = {"title": "🟡 Devin is working", "summary": "working"}
    created = gh.create_check_run(
        stack.repo,
        SHA,
        {"name": "Devin", "status": "in_progress", "external_id": "devin-1", "output": output},
    )
    assert (created.status, created.conclusion, created.head_sha) == ("in_progress", None, SHA)
    done = gh.update_check_run(stack.repo, created.id, {"conclusion": "success"})
    # GitHub: a conclusion completes the run.
    assert (done.id, done.status, done.conclusion) == (created.id, "completed", "success")
    found = gh.find_check_run(stack.repo, SHA, "Devin", "devin-1")
    assert found is not None and found.id == created.id
    assert gh.find_check_run(stack.repo, SHA, "Devin", "devin-2") is None
    [post] = stack.github.requests("POST", r"/check-runs$")
    assert post.json["head_sha"] == SHA and post.json["name"] == "Devin"


def test_an_output_longer_than_githubs_limit_is_shortened_by_the_client(stack: Stack) -> None:
    gh = app_client(stack)
    long = {"title": "t", "summary": "x" * 70_000}
    run = gh.create_check_run(stack.repo, SHA, {"name": "Devin", "output": long})
    [post] = stack.github.requests("POST", r"/check-runs$")
    assert len(post.json["output"]["summary"]) == 65_535 and run.id


def test_a_personal_token_is_refused(stack: Stack) -> None:
    app_client(stack)
    pat = stack.github_client()
    with pytest.raises(GitHubForbidden):
        pat.create_check_run(stack.repo, SHA, {"name": "Devin"})


def test_an_app_token_without_checks_write_is_refused(stack: Stack) -> None:
    gh = app_client(stack)
    stack.github.checks_denied.add(APP_TOKEN)
    try:
        with pytest.raises(GitHubForbidden, match="not accessible"):
            gh.create_check_run(stack.repo, SHA, {"name": "Devin"})
    finally:
        stack.github.checks_denied.discard(APP_TOKEN)


@pytest.mark.parametrize(
    ("fields", "sha", "message"),
    [
        ({"name": "Devin", "status": "completed"}, SHA, "conclusion"),
        ({"name": "Devin", "status": "running"}, SHA, "status"),
        ({"name": "Devin", "conclusion": "great"}, SHA, "conclusion"),
        ({"name": "Devin"}, "e" * 40, "No commit found"),
        ({"name": "Devin", "output": {"title": "t"}}, SHA, "summary"),
        ({"name": "Devin", "details_url": "javascript:x"}, SHA, "details_url"),
    ],
)
def test_the_fake_answers_422_like_github(
    stack: Stack, fields: dict[str, object], sha: str, message: str
) -> None:
    gh = app_client(stack)
    with pytest.raises(GitHubError, match=message) as caught:
        gh.create_check_run(stack.repo, sha, fields)
    assert caught.value.status == 422
