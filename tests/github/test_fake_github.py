"""The fake GitHub behaves like GitHub where our code can tell; the payload fixtures hold up."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import github
import jwt
import pytest
import requests

from tests.fakes.fake_github import FakeGitHub, create_fake_github, make_rsa_keypair
from tests.support.payloads import FIXTURES, load_payload
from tests.support.servers import ServerThread, serve

TOKEN = "ghp_fakeGitHubTestToken000000000000000"
REPO = "octo-org/octo-repo"
AUTH = {"Authorization": f"token {TOKEN}", "Accept": "application/vnd.github+json"}


class _Swap:
    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@dataclass
class Env:
    fake: FakeGitHub
    url: str

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", AUTH)
        return requests.get(self.url + path, timeout=5, **kwargs)

    def send(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        kw.setdefault("headers", AUTH)
        return requests.request(method, self.url + path, json=body, timeout=5, **kw)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[_Swap, ServerThread]]:
    swap = _Swap()
    with serve(swap) as server:
        yield swap, server


@pytest.fixture
def env(shared_server: tuple[_Swap, ServerThread]) -> Env:
    swap, server = shared_server
    app = create_fake_github(tokens={TOKEN: "octocat"})
    swap.app = app
    fake: FakeGitHub = app.extensions["fake_github"]
    fake.add_repo(REPO, owner_type="Organization")
    fake.add_issue(REPO, 7, title="Flaky test", labels=["bug"])
    fake.add_pull(REPO, 12, title="Add retry", head_ref="fix/retry")
    return Env(fake, server.url)


# --- auth and errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "token wrong"}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_unauthenticated_requests_get_401(env: Env, headers: dict[str, str]) -> None:
    response = env.get(f"/repos/{REPO}/issues/7", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["message"] in ("Bad credentials", "Requires authentication")
    assert body["documentation_url"].startswith("https://docs.github.com/")


def test_bearer_scheme_is_accepted(env: Env) -> None:
    response = env.get(f"/repos/{REPO}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_log_records_actor_and_body_but_never_credentials(env: Env) -> None:
    env.send("POST", f"/repos/{REPO}/issues/7/comments", {"body": "hi"})
    env.get(f"/repos/{REPO}", headers={"Authorization": "token nope"})
    entries = env.fake.requests()
    assert [(e.method, e.status, e.actor) for e in entries] == [
        ("POST", 201, "octocat"),
        ("GET", 401, None),
    ]
    assert entries[0].json == {"body": "hi"}
    assert TOKEN not in repr(entries) and "nope" not in repr(entries)


def test_unknown_routes_and_objects_are_404_json(env: Env) -> None:
    for path in (f"/repos/{REPO}/issues/99", "/repos/no/such", f"/repos/{REPO}/nothing-here"):
        response = env.get(path)
        assert response.status_code == 404 and response.json()["message"] == "Not Found"


# --- shapes PyGithub parses -------------------------------------------------------------


def test_pygithub_parses_the_fake(env: Env) -> None:
    env.fake.add_comment(REPO, 7, "/devin go", created_at="2026-05-04T09:12:33Z")
    gh = github.Github(
        auth=github.Auth.Token(TOKEN), base_url=env.url, retry=None, seconds_between_requests=None
    )
    repo = gh.get_repo(REPO)
    assert (repo.full_name, repo.default_branch, repo.private) == (REPO, "main", False)
    assert repo.owner.login == "octo-org" and repo.owner.type == "Organization"
    issue = repo.get_issue(7)
    assert issue.title == "Flaky test" and issue.pull_request is None
    assert [label.name for label in issue.labels] == ["bug"]
    [comment] = list(issue.get_comments())
    assert comment.body == "/devin go" and comment.user.login == "octocat"
    assert comment.created_at.isoformat() == "2026-05-04T09:12:33+00:00"
    pull = repo.get_pull(12)
    assert pull.head.ref == "fix/retry" and pull.base.repo.full_name == REPO
    assert not pull.merged and pull.draft is False
    assert repo.get_issue(12).pull_request is not None
    assert gh.get_user().login == "octocat"
    gh.close()


def test_comment_json_has_the_webhook_comment_fields(env: Env) -> None:
    comment = env.fake.add_comment(REPO, 7, "x")
    served = env.get(f"/repos/{REPO}/issues/comments/{comment.id}").json()
    documented = load_payload("issue_comment.created")["comment"]
    assert set(documented) <= set(served)
    assert set(documented["user"]) <= set(served["user"])
    issue = env.get(f"/repos/{REPO}/issues/7").json()
    assert set(load_payload("issue_comment.created")["issue"]) <= set(issue)


def test_pull_json_head_base_and_fork(env: Env) -> None:
    env.fake.add_pull(REPO, 20, head_repo="monalisa/octo-repo", head_ref="patch-1", merged=True)
    data = env.get(f"/repos/{REPO}/pulls/20").json()
    assert data["head"]["repo"]["full_name"] == "monalisa/octo-repo"
    assert data["head"]["repo"]["fork"] is True
    assert data["base"]["repo"]["full_name"] == REPO
    assert data["merged"] is True and data["state"] == "closed" and data["merged_at"]
    assert set(load_payload("pull_request.labeled")["pull_request"]) <= set(data) | {"_links"}


def test_permission_shape(env: Env) -> None:
    env.fake.set_permission(REPO, "alice", "maintain")
    data = env.get(f"/repos/{REPO}/collaborators/alice/permission").json()
    assert (data["permission"], data["role_name"]) == ("write", "maintain")
    assert data["user"]["login"] == "alice" and data["user"]["permissions"]["maintain"]
    env.fake.add_user("Copilot", type="Bot")
    bot = env.get(f"/repos/{REPO}/collaborators/Copilot/permission")
    assert bot.status_code == 404 and bot.json()["message"] == "Copilot is not a user"


def test_contents_are_base64_and_missing_is_404(env: Env) -> None:
    env.fake.add_file(REPO, ".github/devin.yml", "trigger: /devin\n" * 10)
    data = env.get(f"/repos/{REPO}/contents/.github/devin.yml").json()
    assert data["type"] == "file" and data["encoding"] == "base64"
    assert base64.b64decode(data["content"]).decode() == "trigger: /devin\n" * 10
    assert env.get(f"/repos/{REPO}/contents/nope.yml").status_code == 404
    listing = env.get(f"/repos/{REPO}/contents/.github").json()
    assert [entry["name"] for entry in listing] == ["devin.yml"]


# --- pagination, since, limits ----------------------------------------------------------


def test_link_header_pagination(env: Env) -> None:
    for i in range(5):
        env.fake.add_comment(REPO, 7, f"c{i}")
    first = env.get(f"/repos/{REPO}/issues/7/comments", params={"per_page": 2})
    assert [c["body"] for c in first.json()] == ["c0", "c1"]
    links = first.links
    assert set(links) == {"next", "last"}
    assert "page=3" in links["last"]["url"] and links["last"]["url"].startswith(env.url)
    last = requests.get(links["last"]["url"], headers=AUTH, timeout=5)
    assert [c["body"] for c in last.json()] == ["c4"]
    assert set(last.links) == {"prev", "first"}
    single = env.get(f"/repos/{REPO}/issues/7/comments")
    assert len(single.json()) == 5 and "Link" not in single.headers


def test_since_filters_on_updated_at(env: Env) -> None:
    env.fake.add_comment(REPO, 7, "old", created_at="2026-01-01T00:00:00Z")
    env.fake.add_comment(REPO, 7, "new", created_at="2026-03-01T00:00:00Z")
    response = env.get(f"/repos/{REPO}/issues/7/comments", params={"since": "2026-02-01T00:00:00Z"})
    assert [c["body"] for c in response.json()] == ["new"]


def test_comment_size_limit_and_missing_body(env: Env) -> None:
    too_long = env.send("POST", f"/repos/{REPO}/issues/7/comments", {"body": "x" * 65_537})
    assert too_long.status_code == 422
    assert "Body is too long (maximum is 65536 characters)" in too_long.text
    assert env.send("POST", f"/repos/{REPO}/issues/7/comments", {"body": "x" * 65_536}).ok
    missing = env.send("POST", f"/repos/{REPO}/issues/7/comments", {"text": "x"})
    assert missing.status_code == 422


def test_comment_edit_delete_and_reactions(env: Env) -> None:
    created = env.send("POST", f"/repos/{REPO}/issues/7/comments", {"body": "one"}).json()
    path = f"/repos/{REPO}/issues/comments/{created['id']}"
    assert env.send("PATCH", path, {"body": "two"}).json()["body"] == "two"
    assert env.fake.comment_history(created["id"]) == ["one", "two"]
    assert env.send("POST", f"{path}/reactions", {"content": "eyes"}).status_code == 201
    assert env.send("POST", f"{path}/reactions", {"content": "eyes"}).status_code == 200
    assert env.send("POST", f"{path}/reactions", {"content": "nope"}).status_code == 422
    assert env.get(path).json()["reactions"]["eyes"] == 1
    assert env.send("DELETE", path).status_code == 204
    assert env.get(path).status_code == 404


def test_rate_limit_headers_count_down_and_rate_limit_is_free(env: Env) -> None:
    first = env.get(f"/repos/{REPO}")
    second = env.get(f"/repos/{REPO}")
    assert int(second.headers["x-ratelimit-remaining"]) == (
        int(first.headers["x-ratelimit-remaining"]) - 1
    )
    assert second.headers["x-ratelimit-resource"] == "core"
    used = int(second.headers["x-ratelimit-used"])
    status = env.get("/rate_limit").json()
    assert status["resources"]["core"]["used"] == used and status["rate"]["used"] == used
    env.fake.set_rate_limit(remaining=0, reset_in=100)
    limited = env.get(f"/repos/{REPO}")
    assert limited.status_code == 403 and limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.json()["message"].startswith("API rate limit exceeded")


def test_etag_gives_304_that_does_not_count(env: Env) -> None:
    first = env.get(f"/repos/{REPO}/issues/7")
    again = env.get(
        f"/repos/{REPO}/issues/7", headers={**AUTH, "If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.headers["x-ratelimit-used"] == first.headers["x-ratelimit-used"]


# --- faults -----------------------------------------------------------------------------


def test_faults_match_method_and_path_and_run_out(env: Env) -> None:
    env.fake.add_fault("PATCH", r"/issues/comments/\d+$", 502, times=2)
    comment = env.fake.add_comment(REPO, 7, "x")
    path = f"/repos/{REPO}/issues/comments/{comment.id}"
    assert env.get(path).status_code == 200  # GET is not faulted
    assert [env.send("PATCH", path, {"body": "y"}).status_code for _ in range(3)] == [
        502,
        502,
        200,
    ]


def test_secondary_and_primary_fault_shapes(env: Env) -> None:
    env.fake.add_fault("GET", r"/issues/7$", rate_limit="secondary", retry_after=42)
    secondary = env.get(f"/repos/{REPO}/issues/7")
    assert secondary.status_code == 403 and secondary.headers["Retry-After"] == "42"
    assert secondary.json()["message"].startswith("You have exceeded a secondary rate limit")
    env.fake.add_fault("GET", r"/issues/7$", rate_limit="primary", reset_in=300)
    primary = env.get(f"/repos/{REPO}/issues/7")
    assert primary.status_code == 403 and primary.headers["x-ratelimit-remaining"] == "0"
    assert int(primary.headers["x-ratelimit-reset"]) >= int(time.time()) + 290
    env.fake.add_fault("*", r".", 429, times=None)
    assert env.get("/rate_limit").status_code == 429


# --- App auth ---------------------------------------------------------------------------


def test_app_endpoints_require_a_valid_jwt(env: Env) -> None:
    private, public = make_rsa_keypair()
    env.fake.configure_app(77, public, slug="devin-bridge", token_lifetime=600)
    env.fake.add_installation(5, "octo-org")
    now = int(time.time())

    def bearer(claims: dict[str, Any], key: str = private) -> dict[str, str]:
        return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='RS256')}"}

    good = bearer({"iat": now - 60, "exp": now + 540, "iss": "77"})
    assert env.get("/app", headers=good).json()["slug"] == "devin-bridge"
    assert env.get("/app", headers=AUTH).status_code == 401  # a PAT is not a JWT
    for claims in (
        {"iat": now - 60, "exp": now - 1, "iss": "77"},  # expired
        {"iat": now - 60, "exp": now + 3600, "iss": "77"},  # too far ahead
        {"iat": now - 60, "exp": now + 540, "iss": "78"},  # another app
    ):
        assert env.get("/app", headers=bearer(claims)).status_code == 401
    other_key, _ = make_rsa_keypair()
    forged = bearer({"iat": now - 60, "exp": now + 540, "iss": "77"}, other_key)
    assert env.get("/app", headers=forged).status_code == 401
    minted = env.send("POST", "/app/installations/5/access_tokens", headers=good)
    assert minted.status_code == 201
    token = minted.json()["token"]
    expires = minted.json()["expires_at"]
    assert token.startswith("ghs_") and expires.endswith("Z")
    as_app = {"Authorization": f"token {token}"}
    assert env.get(f"/repos/{REPO}/issues/7", headers=as_app).status_code == 200
    assert env.get("/user", headers=as_app).status_code == 403
    assert env.get("/app", headers=as_app).status_code == 401
    missing = env.send("POST", "/app/installations/999/access_tokens", headers=good)
    assert missing.status_code == 404


# --- admin HTTP API (for subprocess tests) ----------------------------------------------


def test_admin_endpoints_seed_and_inspect(env: Env) -> None:
    def admin(method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{env.url}/_fake/{path}", json=body, timeout=5)
        assert response.ok, response.text
        return response.json()

    admin("POST", "reset")
    admin("POST", "repos", {"full_name": "acme/app", "default_branch": "trunk"})
    admin("POST", "issues", {"full_name": "acme/app", "number": 3, "title": "Bug"})
    seeded = admin("POST", "comments", {"full_name": "acme/app", "number": 3, "body": "/devin x"})
    admin("POST", "collaborators", {"full_name": "acme/app", "login": "bob", "role": "write"})
    admin("POST", "files", {"full_name": "acme/app", "path": "a.txt", "content": "hi"})
    admin("POST", "faults", {"method": "GET", "path": "/issues/3$", "status": 502})
    assert env.get("/repos/acme/app/issues/3").status_code == 502
    assert env.get("/repos/acme/app/issues/3").json()["title"] == "Bug"
    assert env.get("/repos/acme/app/collaborators/bob/permission").json()["role_name"] == "write"
    assert admin("GET", "comments?repo=acme/app&number=3")[0]["id"] == seeded["id"]
    assert admin("GET", f"comments/{seeded['id']}/history") == ["/devin x"]
    assert [r["status"] for r in admin("GET", "requests?path=/issues/3")] == [502, 200]
    bad = requests.post(f"{env.url}/_fake/nonsense", json={}, timeout=5)
    assert bad.status_code == 400
    wrong_args = requests.post(f"{env.url}/_fake/repos", json={"nope": 1}, timeout=5)
    assert wrong_args.status_code == 400


# --- payload fixtures -------------------------------------------------------------------

EXPECTED_FIXTURES = {
    "issue_comment.created",
    "issue_comment.created.pr",
    "issue_comment.created.bot",
    "issue_comment.edited",
    "pull_request_review_comment.created",
    "pull_request.labeled",
    "pull_request.labeled.fork",
    "issues.labeled",
    "issues.opened",
    "ping",
    "workflow_dispatch",
}


def test_all_fixtures_exist_and_share_repository_and_sender() -> None:
    assert {p.stem for p in FIXTURES.glob("*.json")} == EXPECTED_FIXTURES
    for name in EXPECTED_FIXTURES:
        payload = load_payload(name)
        assert payload["repository"]["full_name"] == REPO, name
        assert payload["sender"]["login"] in ("octocat", "renovate[bot]"), name


def test_fixture_details() -> None:
    issue_comment = load_payload("issue_comment.created")
    assert issue_comment["comment"]["body"] == "/devin fix the flaky test"
    assert issue_comment["issue"]["number"] == 7 and "pull_request" not in issue_comment["issue"]
    assert issue_comment["sender"]["type"] == "User" and issue_comment["installation"]["id"]
    assert issue_comment["comment"]["performed_via_github_app"] is None
    on_pr = load_payload("issue_comment.created.pr")
    assert on_pr["issue"]["number"] == 12 and on_pr["issue"]["pull_request"]["url"]
    bot = load_payload("issue_comment.created.bot")
    assert bot["sender"]["type"] == "Bot" and bot["sender"]["login"] == "renovate[bot]"
    assert bot["comment"]["performed_via_github_app"]["slug"] == "renovate"
    edited = load_payload("issue_comment.edited")
    assert edited["changes"]["body"]["from"] == "/devin fix the flaky test"
    review = load_payload("pull_request_review_comment.created")
    assert {"path", "line", "side", "diff_hunk", "commit_id"} <= set(review["comment"])
    assert review["comment"]["commit_id"] == review["pull_request"]["head"]["sha"]
    labeled = load_payload("pull_request.labeled")
    assert labeled["label"]["name"] == "devin" and labeled["number"] == 12
    pr = labeled["pull_request"]
    assert pr["head"]["repo"]["full_name"] == pr["base"]["repo"]["full_name"]
    fork = load_payload("pull_request.labeled.fork")["pull_request"]
    assert fork["head"]["repo"]["full_name"] != fork["base"]["repo"]["full_name"]
    assert fork["head"]["repo"]["fork"] is True
    assert load_payload("issues.labeled")["label"]["name"] == "devin"
    assert load_payload("workflow_dispatch")["inputs"]["prompt"]
    assert load_payload("ping")["hook_id"]
    assert load_payload("issues.opened.json")["action"] == "opened"
    fresh = load_payload("ping")
    fresh["zen"] = "changed"
    assert load_payload("ping")["zen"] != "changed"  # each call is a fresh copy
    with pytest.raises(FileNotFoundError):
        load_payload("nope")


# --- secondary limits on content writes ----------------------------------------------------


def test_content_writes_above_the_secondary_limit_get_403_per_identity(env: Env) -> None:
    other = "ghp_otherIdentityToken0000000000000000000"
    env.fake.add_token(other, "hubot")
    env.fake.set_secondary_limits(per_minute=3, per_hour=10, retry_after=42)
    path = f"/repos/{REPO}/issues/7/comments"
    for n in range(3):
        assert env.send("POST", path, {"body": f"n{n}"}).status_code == 201
    assert env.get(path).status_code == 200  # reads are not content writes
    refused = env.send("PATCH", f"/repos/{REPO}/issues/comments/1", {"body": "x"})
    assert refused.status_code == 403 and refused.headers["Retry-After"] == "42"
    assert "secondary rate limit" in refused.json()["message"]
    headers = {**AUTH, "Authorization": f"token {other}"}
    assert env.send("POST", path, {"body": "hubot"}, headers=headers).status_code == 201
    stats = env.fake.write_stats()
    assert stats["token:octocat"] == {
        "writes": 3,
        "max_per_minute": 3,
        "max_per_hour": 3,
        "secondary_limited": 1,
    }
    assert stats["token:hubot"]["writes"] == 1 and stats["token:hubot"]["secondary_limited"] == 0
    seeded = requests.post(
        env.url + "/_fake/secondary_limits", json={"per_minute": None}, timeout=5
    )
    assert seeded.status_code == 201
    assert env.send("POST", path, {"body": "free again"}).status_code == 201
    assert (
        requests.get(env.url + "/_fake/write_stats", timeout=5).json()["token:octocat"]["writes"]
        == 4
    )


def test_a_fault_can_match_the_request_body(env: Env) -> None:
    env.fake.add_fault("POST", r"/comments$", 502, matching="finished", times=None)
    path = f"/repos/{REPO}/issues/7/comments"
    assert env.send("POST", path, {"body": "working"}).status_code == 201
    assert env.send("POST", path, {"body": "Devin finished"}).status_code == 502
