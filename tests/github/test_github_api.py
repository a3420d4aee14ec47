"""GitHubClient against the fake GitHub over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.core.github_models import (
    MAX_COMMENT_CHARS,
    CommentInfo,
    FileStat,
    effective_role,
    trim_comment_body,
)
from bot.github.client import GitHubClient
from bot.github.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubServerError,
    GitHubUnavailable,
)
from tests.fakes.fake_github import FakeGitHub, create_fake_github
from tests.support.servers import ServerThread, serve

TOKEN = "ghp_SuperSecretTestToken0123456789abcd"
REPO = "octo-org/octo-repo"
MARKER = "<!-- devin-bridge:session=devin-abc123 -->"


@dataclass
class Env:
    fake: FakeGitHub
    server: ServerThread
    client: GitHubClient


class _Swap:
    """One server per module, a fresh fake per test (server start/stop is the slow part)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[_Swap, ServerThread]]:
    swap = _Swap()
    with serve(swap) as server:
        yield swap, server


@pytest.fixture
def env(shared_server: tuple[_Swap, ServerThread]) -> Iterator[Env]:
    swap, server = shared_server
    app = create_fake_github(tokens={TOKEN: "octocat"})
    swap.app = app
    fake: FakeGitHub = app.extensions["fake_github"]
    fake.add_repo(REPO, owner_type="Organization")
    fake.add_issue(REPO, 7, title="Flaky test", body="It fails sometimes", labels=["bug"])
    fake.add_pull(REPO, 12, title="Add retry", head_ref="fix/retry", files=["bot/a.py"])
    client = GitHubClient.from_token(TOKEN, base_url=server.url, seconds_between_writes=0)
    yield Env(fake, server, client)
    client.close()


# --- reads ------------------------------------------------------------------------------


def test_repository(env: Env) -> None:
    env.fake.add_repo("octo-org/secret", default_branch="trunk", private=True)
    env.fake.set_permission("octo-org/secret", "octocat", "read")
    assert env.client.repository(REPO).default_branch == "main"
    info = env.client.repository("octo-org/secret")
    assert (info.full_name, info.default_branch, info.private) == ("octo-org/secret", "trunk", True)


def test_read_file_default_branch_ref_and_missing(env: Env) -> None:
    env.fake.add_file(REPO, ".github/devin.yml", "trigger: /devin\nlabels: {}\n")
    env.fake.add_file(REPO, ".github/devin.yml", "trigger: /bot\n", ref="feature")
    assert env.client.read_file(REPO, ".github/devin.yml") == "trigger: /devin\nlabels: {}\n"
    assert env.client.read_file(REPO, ".github/devin.yml", ref="feature") == "trigger: /bot\n"
    assert env.client.read_file(REPO, "missing.yml") is None
    assert env.client.read_file(REPO, ".github/devin.yml", ref="no-such-branch") is None
    assert env.client.read_file(REPO, ".github") is None  # a directory
    unicode = "name: Zoë ✓\n"
    env.fake.add_file(REPO, "docs/ü.md", unicode)
    assert env.client.read_file(REPO, "docs/ü.md") == unicode


@pytest.mark.parametrize("role", ["admin", "maintain", "write", "triage", "read", "none"])
def test_permission_reports_the_real_role(env: Env, role: str) -> None:
    env.fake.set_permission(REPO, "alice", role)
    assert env.client.permission(REPO, "alice") == role


def test_permission_is_none_for_unknown_users_and_apps(env: Env) -> None:
    env.fake.add_user("Copilot", type="Bot")
    assert env.client.permission(REPO, "nobody-here") == "none"
    assert env.client.permission(REPO, "Copilot") == "none"
    assert env.client.permission(REPO, "renovate[bot]") == "none"


def test_effective_role_falls_back_to_legacy_permission() -> None:
    assert effective_role({"permission": "write"}) == "write"
    assert effective_role({"permission": "write", "role_name": "maintain"}) == "maintain"
    assert effective_role({"permission": "read", "role_name": "security-auditor"}) == "read"
    assert effective_role({}) == "none"


def test_issue_and_pull_request_as_issue(env: Env) -> None:
    issue = env.client.issue(REPO, 7)
    assert (issue.number, issue.title, issue.body, issue.state) == (
        7,
        "Flaky test",
        "It fails sometimes",
        "open",
    )
    assert not issue.is_pull_request and not issue.closed and not issue.merged
    assert issue.author.login == "octocat" and issue.author.type == "User"
    assert issue.labels == ("bug",)
    assert issue.html_url.endswith("/octo-org/octo-repo/issues/7")
    pr = env.client.issue(REPO, 12)
    assert pr.is_pull_request and pr.html_url.endswith("/pull/12")
    env.fake.add_pull(REPO, 13, merged=True)
    merged = env.client.issue(REPO, 13)
    assert merged.merged and merged.closed and merged.state == "closed"


def test_missing_issue_raises_not_found(env: Env) -> None:
    with pytest.raises(GitHubNotFound):
        env.client.issue(REPO, 999)


def test_pull_same_repo_fork_and_deleted_fork(env: Env) -> None:
    pull = env.client.pull(REPO, 12)
    assert (pull.head_ref, pull.base_ref, pull.head_repo, pull.base_repo) == (
        "fix/retry",
        "main",
        REPO,
        REPO,
    )
    assert not pull.is_fork and not pull.merged and pull.state == "open" and not pull.draft
    assert pull.number == 12 and len(pull.head_sha) == 40
    env.fake.add_pull(REPO, 20, head_repo="monalisa/octo-repo", head_ref="patch-1", draft=True)
    fork = env.client.pull(REPO, 20)
    assert fork.is_fork and fork.head_repo == "monalisa/octo-repo" and fork.draft
    env.fake.add_pull(REPO, 21, head_repo=None)
    gone = env.client.pull(REPO, 21)
    assert gone.is_fork and gone.head_repo is None
    with pytest.raises(GitHubNotFound):
        env.client.pull(REPO, 7)  # an issue, not a pull request


def test_pull_files_follows_link_pages_up_to_limit(env: Env) -> None:
    files = [
        {"filename": f"src/f{i:03}.py", "status": "added", "additions": i, "deletions": 1}
        for i in range(250)
    ]
    env.fake.add_pull(REPO, 30, files=files)
    got = env.client.pull_files(REPO, 30, limit=230)
    assert len(got) == 230
    assert got[0] == FileStat("src/f000.py", "added", 0, 1)
    assert got[-1].filename == "src/f229.py"
    pages = [r.query.get("page", "1") for r in env.fake.requests("GET", r"/pulls/30/files$")]
    assert pages == ["1", "2", "3"]
    assert len(env.client.pull_files(REPO, 30, limit=5)) == 5


# --- comments ---------------------------------------------------------------------------


def _seed(fake: FakeGitHub, count: int, number: int = 7) -> list[int]:
    return [
        fake.add_comment(REPO, number, f"comment {i}", created_at=1_700_000_000 + i).id
        for i in range(count)
    ]


def test_comments_returns_most_recent_in_order_reading_from_the_last_page(env: Env) -> None:
    _seed(env.fake, 250)
    env.fake.clear_log()
    latest = env.client.comments(REPO, 7, limit=5)
    assert [c.body for c in latest] == [f"comment {i}" for i in range(245, 250)]
    pages = [r.query.get("page", "1") for r in env.fake.requests("GET", r"/comments$")]
    assert pages == ["1", "3"]  # first page (for the Link header), then the last
    more = env.client.comments(REPO, 7, limit=120)
    assert [c.body for c in more] == [f"comment {i}" for i in range(130, 250)]
    everything = env.client.comments(REPO, 7, limit=1000)
    assert len(everything) == 250 and everything[0].body == "comment 0"


def test_comments_fields(env: Env) -> None:
    env.fake.set_permission(REPO, "alice", "write")
    seeded = env.fake.add_comment(
        REPO, 7, "/devin go", user="alice", created_at="2026-05-04T09:12:33Z"
    )
    [info] = env.client.comments(REPO, 7)
    assert info.id == seeded.id and info.body == "/devin go"
    assert info.author.login == "alice" and info.author.type == "User"
    assert info.author_association == "COLLABORATOR"
    assert info.created_at.isoformat() == "2026-05-04T09:12:33+00:00"
    assert info.html_url.endswith(f"/issues/7#issuecomment-{seeded.id}")
    assert env.client.comments(REPO, 7, limit=0) == []


def test_find_comment_returns_newest_match_across_pages(env: Env) -> None:
    old = env.fake.add_comment(REPO, 7, f"status v1\n{MARKER}", created_at=1_600_000_000)
    _seed(env.fake, 220)
    found = env.client.find_comment(REPO, 7, MARKER)
    assert found is not None and found.id == old.id
    newer = env.fake.add_comment(REPO, 7, f"status v2\n{MARKER}")
    found = env.client.find_comment(REPO, 7, MARKER)
    assert found is not None and found.id == newer.id
    assert env.client.find_comment(REPO, 7, "<!-- devin-bridge:session=other -->") is None


def test_create_edit_get_comment(env: Env) -> None:
    created = env.client.create_comment(REPO, 7, f"Starting…\n{MARKER}")
    assert isinstance(created, CommentInfo) and created.author.login == "octocat"
    assert [c["body"] for c in env.fake.thread_comments(REPO, 7)] == [f"Starting…\n{MARKER}"]
    edited = env.client.edit_comment(REPO, created.id, f"Done\n{MARKER}")
    assert edited.id == created.id and edited.body == f"Done\n{MARKER}"
    assert env.fake.comment_history(created.id) == [f"Starting…\n{MARKER}", f"Done\n{MARKER}"]
    fetched = env.client.get_comment(REPO, created.id)
    assert fetched is not None and fetched.body == f"Done\n{MARKER}"
    assert env.client.get_comment(REPO, 123) is None
    [post] = env.fake.requests("POST", r"/issues/7/comments$")
    assert post.json == {"body": f"Starting…\n{MARKER}"}


def test_long_comment_is_trimmed_keeping_the_marker(env: Env) -> None:
    body = "```\n" + ("x" * 80 + "\n") * 1000 + "```\n" + MARKER
    assert len(body) > MAX_COMMENT_CHARS
    created = env.client.create_comment(REPO, 7, body)
    stored = env.fake.thread_comments(REPO, 7)[0]["body"]
    assert len(stored) <= MAX_COMMENT_CHARS and created.body == stored
    assert stored.rstrip().endswith(MARKER)
    assert "trimmed" in stored
    assert stored.count("```") % 2 == 0  # the open fence was closed
    edited = env.client.edit_comment(REPO, created.id, body + "more")
    assert len(edited.body) <= MAX_COMMENT_CHARS


def test_trim_counts_utf16_units_and_leaves_short_bodies_alone() -> None:
    assert trim_comment_body("short") == "short"
    emoji = "😀" * 40_000  # 80,000 UTF-16 units
    trimmed = trim_comment_body(emoji)
    assert len(trimmed.encode("utf-16-le")) // 2 <= MAX_COMMENT_CHARS
    details = "<details><summary>log</summary>\n\n" + "line\n" * 20_000
    trimmed_details = trim_comment_body(details)
    assert trimmed_details.count("<details>") == trimmed_details.count("</details>") == 1


def test_react_to_issue_and_review_comments(env: Env) -> None:
    comment = env.fake.add_comment(REPO, 7, "/devin fix it")
    review = env.fake.add_review_comment(REPO, 12, "/devin rename", path="bot/a.py", line=3)
    env.client.react(REPO, comment.id)
    env.client.react(REPO, comment.id)  # GitHub answers 200 for a repeat; still one reaction
    env.client.react(REPO, review.id, "rocket", review_comment=True)
    assert env.fake.reactions(comment.id) == [{"user": "octocat", "content": "eyes"}]
    assert env.fake.reactions(review.id, review_comment=True) == [
        {"user": "octocat", "content": "rocket"}
    ]
    with pytest.raises(ValueError):
        env.client.react(REPO, comment.id, "thumbsup")


def test_authenticated_login(env: Env) -> None:
    assert env.client.authenticated_login() == "octocat"
    installation_token, _ = env.fake.mint_installation_token(5)
    as_integration = GitHubClient.from_token(installation_token, base_url=env.server.url)
    assert as_integration.authenticated_login() is None  # GET /user: 403 for integrations


def test_delivery_id_is_sent_for_correlation(env: Env) -> None:
    env.client.delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    env.client.issue(REPO, 7)
    env.client.delivery_id = None
    env.client.issue(REPO, 7)
    deliveries = [r.delivery for r in env.fake.requests("GET", r"/issues/7$")]
    assert deliveries == ["72d3162e-cc78-11e3-81ab-4c9367dc0958", None]


def test_rate_limit_state_follows_the_headers(env: Env) -> None:
    assert env.client.rate_limit_state is None
    env.client.issue(REPO, 7)
    state = env.client.rate_limit_state
    assert state is not None and state.limit == 5000 and state.resource == "core"
    assert state.remaining == 5000 - state.used and state.reset > 0
    env.fake.set_rate_limit(remaining=10)
    env.client.issue(REPO, 7)
    assert env.client.rate_limit_state is not None
    assert env.client.rate_limit_state.remaining == 9


# --- errors -----------------------------------------------------------------------------


def test_bad_credentials_raise_auth_error_without_the_token(env: Env) -> None:
    bad = GitHubClient.from_token("ghp_" + "Z" * 36, base_url=env.server.url)
    with pytest.raises(GitHubAuthError) as caught:
        bad.issue(REPO, 7)
    assert caught.value.status == 401
    assert "Z" * 36 not in str(caught.value) and "Z" * 36 not in repr(bad)
    assert TOKEN not in repr(env.client)


def test_secondary_rate_limit_with_retry_after(env: Env) -> None:
    env.fake.add_fault("GET", r"/issues/7$", rate_limit="secondary", retry_after=30)
    with pytest.raises(GitHubRateLimited) as caught:
        env.client.issue(REPO, 7)
    assert caught.value.retry_after == 30 and caught.value.status == 403
    assert TOKEN not in str(caught.value)
    # The identity is paused: the next call is held back without reaching GitHub.
    with pytest.raises(GitHubRateLimited) as held:
        env.client.issue(REPO, 7)
    assert 25 <= held.value.retry_after <= 30
    assert len(env.fake.requests("GET", r"/issues/7$")) == 1
    other = GitHubClient.from_token(TOKEN, base_url=env.server.url, seconds_between_writes=0)
    assert other.issue(REPO, 7).number == 7  # the fault fired once (own budget: not paused)
    other.close()


def test_secondary_rate_limit_without_retry_after_waits_a_minute(env: Env) -> None:
    env.fake.add_fault("POST", r"/comments$", rate_limit="secondary")
    with pytest.raises(GitHubRateLimited) as caught:
        env.client.create_comment(REPO, 7, "hi")
    assert caught.value.retry_after == 60
    assert len(env.fake.requests("POST", r"/comments$")) == 1  # no retry of the POST


def test_primary_rate_limit_waits_until_reset(env: Env) -> None:
    env.fake.add_fault("GET", r"/issues/7$", rate_limit="primary", reset_in=120)
    with pytest.raises(GitHubRateLimited) as caught:
        env.client.issue(REPO, 7)
    assert 110 <= caught.value.retry_after <= 125
    state = env.client.rate_limit_state
    assert state is not None and state.remaining == 0


def test_exhausted_budget_is_a_primary_limit(env: Env) -> None:
    env.fake.set_rate_limit(remaining=0, reset_in=600)
    with pytest.raises(GitHubRateLimited) as caught:
        env.client.repository(REPO)
    assert 590 <= caught.value.retry_after <= 605


@pytest.mark.parametrize(("retry_after", "expected"), [(7, 7.0), (None, 60.0)])
def test_429(env: Env, retry_after: float | None, expected: float) -> None:
    env.fake.add_fault("PATCH", r"/issues/comments/\d+$", 429, retry_after=retry_after)
    comment = env.fake.add_comment(REPO, 7, "x")
    with pytest.raises(GitHubRateLimited) as caught:
        env.client.edit_comment(REPO, comment.id, "y")
    assert caught.value.retry_after == expected and caught.value.status == 429


def test_server_error_on_edit_is_not_retried(env: Env) -> None:
    comment = env.fake.add_comment(REPO, 7, "x")
    env.fake.add_fault("PATCH", r"/issues/comments/\d+$", 502)
    with pytest.raises(GitHubServerError) as caught:
        env.client.edit_comment(REPO, comment.id, "y")
    assert caught.value.status == 502
    assert len(env.fake.requests("PATCH")) == 1
    assert env.fake.comment_history(comment.id) == ["x"]


def test_plain_403_is_forbidden(env: Env) -> None:
    env.fake.add_fault(
        "POST",
        r"/comments$",
        403,
        body={"message": "Resource not accessible by integration", "documentation_url": "x"},
    )
    with pytest.raises(GitHubForbidden) as caught:
        env.client.create_comment(REPO, 7, "hi")
    assert "permission" in str(caught.value)


def test_timeout_and_refused_connection_are_unavailable(env: Env) -> None:
    slow = GitHubClient.from_token(TOKEN, base_url=env.server.url, timeout=1)
    env.fake.add_fault("GET", r"/issues/7$", delay=1.5)
    with pytest.raises(GitHubUnavailable):
        slow.issue(REPO, 7)
    dead = ServerThread(create_fake_github())  # bound, never started, then closed
    url = dead.url
    dead.server.server_close()
    with pytest.raises(GitHubUnavailable) as caught:
        GitHubClient.from_token(TOKEN, base_url=url).issue(REPO, 7)
    assert TOKEN not in str(caught.value)


def test_bad_repository_name_fails_cleanly(env: Env) -> None:
    with pytest.raises(GitHubError):
        env.client.issue("not a repo", 1)
    with pytest.raises(GitHubError):
        GitHubClient.from_token("   ")
