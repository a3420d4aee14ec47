"""The GitHub REST client: `GitHubClient`, how it is built (a token, or one installation
of a GitHub App) and whom it acts as.

PyGithub provides auth and connection pooling. Writes are paced by a `WriteBudget` per
GitHub identity (spacing and the secondary limits; see bot/core/write_budget.py), shared
by every client of the process or, in the service, of every process. Its own retry is replaced
by a small one that only re-tries failed connections: our callers decide what to do
about rate limits and server errors, and nothing here sleeps for minutes. The calls
themselves live in `transport.py` (one request, errors, rate limits, paging) and the
endpoint groups `issues.py` and `repos.py`.
"""

from __future__ import annotations

import github
from urllib3.util.retry import Retry

from bot.core.write_budget import BudgetLimits, installation_identity, token_identity
from bot.github.auth import API_VERSION, DEFAULT_API_URL, AppAuthProvider
from bot.github.budget import MemoryBudget, WriteBudget
from bot.github.checks import CheckEndpoints
from bot.github.errors import GitHubError, GitHubForbidden
from bot.github.issues import IssueEndpoints
from bot.github.repos import RepoEndpoints
from bot.github.transport import PAGE_SIZE


def _connect_only_retry() -> Retry:
    # Re-try only connections that never reached GitHub (safe for POST too); no status
    # or read retries, so a comment is never posted twice and 403/429 come back to us.
    return Retry(
        total=2,
        connect=2,
        read=0,
        status=0,
        other=0,
        backoff_factor=0.2,
        raise_on_status=False,
        respect_retry_after_header=False,
    )


def _make_github(auth: github.Auth.Auth, base_url: str, timeout: int) -> github.Github:
    return github.Github(
        auth=auth,
        base_url=base_url.rstrip("/"),
        timeout=timeout,
        user_agent="devin-bridge",
        per_page=PAGE_SIZE,
        retry=_connect_only_retry(),
        # Spacing is the write budget's, per identity rather than per PyGithub object.
        seconds_between_requests=None,
        seconds_between_writes=None,
        api_version=API_VERSION,
    )


def _own_budget(spacing: float) -> MemoryBudget:
    return MemoryBudget(BudgetLimits(spacing=max(spacing, 0.0)))


class _InstallationAuth(github.Auth.Auth):
    """PyGithub auth that asks our provider (shared cache, one lock) for each request."""

    def __init__(self, provider: AppAuthProvider, installation_id: int) -> None:
        self._provider = provider
        self._installation_id = installation_id

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._provider.token(self._installation_id)

    @property
    def _masked_token(self) -> str:
        return "token (installation token removed)"

    def __repr__(self) -> str:
        return f"_InstallationAuth(installation_id={self._installation_id})"


class GitHubClient(IssueEndpoints, RepoEndpoints, CheckEndpoints):
    """Typed access to the few GitHub endpoints the bridge needs.

    One instance per thread (PyGithub's objects are not documented as thread-safe).
    Set `delivery_id` to send it as `X-GitHub-Delivery` on every call, for correlation.
    """

    def __repr__(self) -> str:
        kind = "app installation" if self._app else "token"
        return f"GitHubClient({kind}, base_url={self._requester.base_url!r})"

    @classmethod
    def from_token(
        cls,
        token: str,
        base_url: str = DEFAULT_API_URL,
        timeout: int = 10,
        seconds_between_writes: float = 1.0,
        budget: WriteBudget | None = None,
    ) -> GitHubClient:
        """A client for a PAT or an Actions `GITHUB_TOKEN`.

        Without `budget`, the client paces its own writes (`seconds_between_writes`,
        default limits); clients sharing an identity should share one budget.
        """
        if not token.strip():
            raise GitHubError("the GitHub token is empty; set GITHUB_TOKEN (or github-token)")
        gh = _make_github(github.Auth.Token(token.strip()), base_url, timeout)
        return cls(
            gh,
            secrets=(token.strip(),),
            budget=budget or _own_budget(seconds_between_writes),
            identity=token_identity(token),
        )

    @classmethod
    def for_installation(
        cls,
        auth_provider: AppAuthProvider,
        installation_id: int,
        base_url: str | None = None,
        timeout: int = 10,
        seconds_between_writes: float = 1.0,
        budget: WriteBudget | None = None,
    ) -> GitHubClient:
        """A client acting as one installation of a GitHub App (tokens cached by the provider)."""
        gh = _make_github(
            _InstallationAuth(auth_provider, installation_id),
            base_url or auth_provider.base_url,
            timeout,
        )
        return cls(
            gh,
            app=auth_provider,
            installation_id=installation_id,
            budget=budget or _own_budget(seconds_between_writes),
            identity=installation_identity(installation_id),
        )

    def authenticated_login(self) -> str | None:
        """Who our comments are posted as: `<slug>[bot]` for an App, the token's user else.

        None when the token may not read its own user (an Actions `GITHUB_TOKEN` or an
        installation token answers 403 to GET /user).
        """
        if self._app is not None:
            return f"{self._app.app_slug()}[bot]"
        try:
            _, data = self._request("GET", "/user", action="reading the token's user")
        except GitHubForbidden:
            return None
        login = data.get("login") if isinstance(data, dict) else None
        return login if isinstance(login, str) and login else None

    def token_user(self) -> tuple[str | None, str | None]:
        """`GET /user` for a token: its login, and the `X-OAuth-Scopes` header (None for
        fine-grained tokens, which do not list permissions). Raises GitHubForbidden for
        App and Actions tokens, which may not read /user."""
        headers, data = self._request("GET", "/user", action="reading the token's user")
        login = data.get("login") if isinstance(data, dict) else None
        scopes = next((v for k, v in headers.items() if k.lower() == "x-oauth-scopes"), None)
        return (str(login) if login else None), (str(scopes) if scopes is not None else None)
