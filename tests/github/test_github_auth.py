"""GitHub App auth: JWTs the fake verifies, installation tokens cached and refreshed once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from bot.github.auth import AppAuthProvider
from bot.github.client import GitHubClient
from bot.github.errors import GitHubAuthError, GitHubNotFound, GitHubUnavailable
from tests.fakes.fake_github import FakeGitHub, create_fake_github, make_rsa_keypair
from tests.support.servers import ServerThread, serve

APP_ID = 424242
INSTALLATION = 41424344
REPO = "octo-org/octo-repo"


class Clock:
    """A settable clock shared by the fake and the provider."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _Swap:
    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@dataclass
class Env:
    fake: FakeGitHub
    url: str
    clock: Clock
    provider: AppAuthProvider


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return make_rsa_keypair()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[_Swap, ServerThread]]:
    swap = _Swap()
    with serve(swap) as server:
        yield swap, server


@pytest.fixture
def env(keys: tuple[str, str], shared_server: tuple[_Swap, ServerThread]) -> Env:
    private, public = keys
    swap, server = shared_server
    clock = Clock()
    app = create_fake_github(tokens=(), clock=clock, app_id=APP_ID, app_public_key=public)
    swap.app = app
    fake: FakeGitHub = app.extensions["fake_github"]
    fake.configure_app(APP_ID, public, slug="devin-bridge")
    fake.add_installation(INSTALLATION, "octo-org", repos=[])
    fake.add_repo(REPO, installation_id=INSTALLATION, owner_type="Organization")
    fake.add_issue(REPO, 7, title="Flaky test")
    provider = AppAuthProvider(APP_ID, private, server.url, clock=clock)
    return Env(fake, server.url, clock, provider)


def _mints(fake: FakeGitHub) -> int:
    return len(fake.requests("POST", r"/access_tokens$"))


def test_jwt_claims(env: Env, keys: tuple[str, str]) -> None:
    token = env.provider.jwt()
    claims = jwt.decode(token, keys[1], algorithms=["RS256"], options={"verify_exp": False})
    now = int(env.clock.now)
    assert claims == {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_installation_token_is_cached(env: Env) -> None:
    first = env.provider.token(INSTALLATION)
    second = env.provider.token(INSTALLATION)
    assert first == second and first.startswith("ghs_")
    assert _mints(env.fake) == 1
    [mint] = env.fake.requests("POST", r"/access_tokens$")
    assert mint.status == 201 and mint.actor == "devin-bridge"  # the fake verified the JWT


def test_token_is_refreshed_five_minutes_before_expiry(env: Env) -> None:
    first = env.provider.token(INSTALLATION)
    env.clock.advance(54 * 60)  # 6 minutes left: still good
    assert env.provider.token(INSTALLATION) == first
    env.clock.advance(2 * 60)  # 4 minutes left: refresh
    second = env.provider.token(INSTALLATION)
    assert second != first and _mints(env.fake) == 2
    env.clock.advance(30 * 60)
    assert env.provider.token(INSTALLATION) == second


def test_short_lived_tokens_are_never_reused(env: Env) -> None:
    env.fake.token_lifetime = 240  # shorter than the 5-minute margin
    env.provider.token(INSTALLATION)
    env.provider.token(INSTALLATION)
    assert _mints(env.fake) == 2


def test_concurrent_callers_share_one_mint(env: Env) -> None:
    env.fake.add_fault("POST", r"/access_tokens$", delay=0.3)  # slow mint: callers pile up
    barrier = threading.Barrier(8)
    results: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            barrier.wait()
            results.append(env.provider.token(INSTALLATION))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors
    assert len(results) == 8 and len(set(results)) == 1
    assert _mints(env.fake) == 1


def test_installation_for_repo_and_app_slug_are_looked_up_once(env: Env) -> None:
    assert env.provider.installation_for_repo(REPO) == INSTALLATION
    assert env.provider.installation_for_repo("Octo-Org/Octo-Repo") == INSTALLATION
    assert env.provider.app_slug() == "devin-bridge"
    assert env.provider.app_slug() == "devin-bridge"
    assert len(env.fake.requests("GET", r"/installation$")) == 1
    assert len(env.fake.requests("GET", r"^/app$")) == 1
    with pytest.raises(GitHubNotFound):
        env.provider.installation_for_repo("octo-org/not-installed")


def test_client_for_installation_posts_as_the_app(env: Env) -> None:
    client = GitHubClient.for_installation(env.provider, INSTALLATION, seconds_between_writes=0)
    comment = client.create_comment(REPO, 7, "Working on it")
    assert comment.author.login == "devin-bridge[bot]" and comment.author.type == "Bot"
    assert comment.performed_via_app == "devin-bridge"
    assert client.authenticated_login() == "devin-bridge[bot]"
    client.issue(REPO, 7)
    assert _mints(env.fake) == 1
    [post] = env.fake.requests("POST", r"/issues/7/comments$")
    assert post.actor == "devin-bridge[bot]"


def test_revoked_token_is_dropped_after_401(env: Env) -> None:
    client = GitHubClient.for_installation(env.provider, INSTALLATION, seconds_between_writes=0)
    client.issue(REPO, 7)
    env.fake.installation_tokens.clear()  # revoked on GitHub's side
    with pytest.raises(GitHubAuthError):
        client.issue(REPO, 7)
    assert client.issue(REPO, 7).number == 7
    assert _mints(env.fake) == 2


def test_wrong_key_or_app_id_is_an_auth_error(env: Env, keys: tuple[str, str]) -> None:
    other_private, _ = make_rsa_keypair()
    with pytest.raises(GitHubAuthError) as caught:
        AppAuthProvider(APP_ID, other_private, env.url, clock=env.clock).token(INSTALLATION)
    assert caught.value.status == 401
    assert "PRIVATE KEY" not in str(caught.value)
    with pytest.raises(GitHubAuthError):
        AppAuthProvider(999, keys[0], env.url, clock=env.clock).token(INSTALLATION)


def test_clock_skew_is_rejected_by_the_fake(env: Env, keys: tuple[str, str]) -> None:
    skewed = Clock()
    skewed.now = env.clock.now - 3600  # our JWT expired an hour ago by GitHub's clock
    with pytest.raises(GitHubAuthError):
        AppAuthProvider(APP_ID, keys[0], env.url, clock=skewed).token(INSTALLATION)


def test_bad_private_key_fails_at_construction_without_echoing_it() -> None:
    secret_text = "-----BEGIN RSA PRIVATE KEY-----\nNOT-A-KEY-sekrit\n-----END RSA PRIVATE KEY-----"
    with pytest.raises(GitHubAuthError) as caught:
        AppAuthProvider(APP_ID, secret_text)
    assert "sekrit" not in str(caught.value)
    assert "GITHUB_APP_PRIVATE_KEY" in str(caught.value)


def test_escaped_newlines_in_the_key_are_accepted(keys: tuple[str, str]) -> None:
    one_line = keys[0].strip().replace("\n", "\\n")
    assert AppAuthProvider(APP_ID, one_line).jwt().count(".") == 2


def test_repr_hides_key_and_tokens(env: Env, keys: tuple[str, str]) -> None:
    token = env.provider.token(INSTALLATION)
    client = GitHubClient.for_installation(env.provider, INSTALLATION)
    for text in (repr(env.provider), repr(client), str(vars(env.provider).get("_tokens"))):
        assert token not in text
        assert "PRIVATE KEY" not in text and keys[0][40:80] not in text


def test_unreachable_github_is_unavailable(keys: tuple[str, str]) -> None:
    dead = ServerThread(create_fake_github())
    url = dead.url
    dead.server.server_close()
    with pytest.raises(GitHubUnavailable):
        AppAuthProvider(APP_ID, keys[0], url, timeout=2).token(INSTALLATION)
