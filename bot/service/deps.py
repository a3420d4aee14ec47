"""Build the engine's `Deps` for the service: API clients per thread and installation.

PyGithub objects are not documented as thread-safe, so every worker thread gets its own
clients (cached per installation); the App's token cache is one shared, locked
`AppAuthProvider`. Nothing here runs in the webhook request: building a client does no
I/O, and resolving the bot's login (a GitHub call) happens in background work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from bot.devin.client import DevinClient, RetryPolicy
from bot.engine.deps import Deps, RunOptions
from bot.github.auth import AppAuthProvider
from bot.github.budget import MemoryBudget, WriteBudget
from bot.github.client import GitHubClient
from bot.service.metrics import Metrics
from bot.service.settings import Settings

log = logging.getLogger("devin_bridge.deps")

# Background work must not sleep through long rate limits: a Retry-After above a few
# seconds comes back as DevinRateLimited and the job or tick is rescheduled instead.
SERVICE_DEVIN_RETRY = RetryPolicy(attempts=3, base_delay=0.5, max_delay=5.0, max_retry_after=5.0)
GITHUB_TIMEOUT = 10


class DepsFactory:
    """Hands each thread the `Deps` for one repository (and App installation)."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        options: RunOptions | None = None,
        devin_retry: RetryPolicy = SERVICE_DEVIN_RETRY,
        bot_login_cache: Callable[[], str | None] | None = None,
        budget: WriteBudget | None = None,
    ) -> None:
        self.settings = settings
        # One write budget per GitHub identity for every client: shared through the
        # store or Redis when the runtime passes one, else within this process.
        self.budget: WriteBudget = budget or MemoryBudget(settings.github_write_limits)
        self._metrics = metrics
        self._options = options or RunOptions()
        self._devin_retry = devin_retry
        self._local = threading.local()
        self._lock = threading.Lock()
        self._bot_login: str | None = settings.bot_login or None
        self._bot_login_cache = bot_login_cache
        self._app: AppAuthProvider | None = None
        if settings.uses_app:
            self._app = AppAuthProvider(
                settings.github_app_id,
                settings.github_app_private_key,
                settings.github_api_url,
                timeout=GITHUB_TIMEOUT,
            )

    def __repr__(self) -> str:
        kind = "app" if self._app else "token"
        return f"DepsFactory(github={kind}, devin={self.settings.devin_api_url!r})"

    def add_session_tag(self, tag: str) -> None:
        """Tag every session created through these Deps (the deployment's own tag)."""
        if tag not in self._options.tags:
            self._options = replace(self._options, tags=(*self._options.tags, tag))

    def devin(self) -> DevinClient:
        client: DevinClient | None = getattr(self._local, "devin", None)
        if client is None:
            s = self.settings
            client = DevinClient(
                s.devin_api_key,
                s.devin_org_id,
                s.devin_api_url,
                retry=self._devin_retry,
                observer=self._metrics.devin_observer if self._metrics else None,
            )
            self._local.devin = client
        return client

    def github(self, repo: str, installation_id: int | None) -> GitHubClient:
        """The client acting on `repo`: as the App installation, or with the token."""
        cache: dict[int | None, GitHubClient] | None = getattr(self._local, "github", None)
        if cache is None:
            cache = {}
            self._local.github = cache
        key: int | None = None
        if self._app is not None:
            key = installation_id or self._app.installation_for_repo(repo)
        client = cache.get(key)
        if client is None:
            if self._app is not None and key is not None:
                client = GitHubClient.for_installation(
                    self._app,
                    key,
                    self.settings.github_api_url,
                    timeout=GITHUB_TIMEOUT,
                    budget=self.budget,
                )
            else:
                client = GitHubClient.from_token(
                    self.settings.github_token,
                    self.settings.github_api_url,
                    timeout=GITHUB_TIMEOUT,
                    budget=self.budget,
                )
            if self._metrics is not None:
                client.observer = self._metrics.github_observer
            cache[key] = client
        return client

    def deps(
        self, repo: str, installation_id: int | None, *, delivery_id: str | None = None
    ) -> Deps:
        github = self.github(repo, installation_id)
        github.delivery_id = delivery_id
        return Deps(
            devin=self.devin(),
            github=github,
            options=self._options,
            bot_login=self.bot_login(),
            log=logging.getLogger("devin_bridge"),
            poll_interval=self.settings.poll_interval,
        )

    def bot_login(self) -> str | None:
        """DEVIN_BRIDGE_BOT_LOGIN, else what background work resolved and cached."""
        with self._lock:
            if self._bot_login:
                return self._bot_login
        cached = self._bot_login_cache() if self._bot_login_cache else None
        if cached:
            with self._lock:
                self._bot_login = cached
        return cached

    def resolve_bot_login(self) -> str | None:
        """Ask GitHub who the bot is: `<app-slug>[bot]`, or the token's user (slow: I/O)."""
        known = self.bot_login()
        if known:
            return known
        if self._app is not None:
            login: str | None = f"{self._app.app_slug()}[bot]"
        else:
            client = GitHubClient.from_token(
                self.settings.github_token, self.settings.github_api_url, timeout=GITHUB_TIMEOUT
            )
            try:
                login = client.authenticated_login()
            finally:
                client.close()
        if login:
            with self._lock:
                self._bot_login = login
        return login

    def close_thread_clients(self) -> None:
        """Close this thread's GitHub clients (a worker thread that is about to end)."""
        cache: dict[int | None, GitHubClient] | None = getattr(self._local, "github", None)
        for client in (cache or {}).values():
            try:
                client.close()
            except Exception:  # closing must never mask the real error
                log.debug("closing a GitHub client failed", exc_info=True)
        self._local.github = {}
