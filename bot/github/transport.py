"""The request plumbing under `GitHubClient`: one REST call through PyGithub's
`Requester`, with GitHub's errors mapped to `GitHubError`s (secrets scrubbed), the
rate-limit headers and the metrics hook kept up to date, and Link-header pagination.

Requests go through the `Requester` rather than PyGithub's objects so we see every
response's headers (rate limits) and the raw JSON (the permission endpoint's
`role_name`, which PyGithub's objects drop). The endpoint groups build on this class.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

import github
import requests
from github.GithubException import GithubException

from bot.core.write_budget import Priority
from bot.github.auth import AppAuthProvider
from bot.github.budget import WriteBudget
from bot.github.errors import (
    GitHubError,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubWriteDeferred,
    RateLimitState,
    error_from_response,
    rate_limit_from_headers,
)

PAGE_SIZE = 100  # GitHub's maximum per_page
MAX_PAGES = 50  # bound on walking a long thread (5,000 comments)
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')
# GitHub's "content-creating" requests: every mutating method counts.
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# How long a write may wait for its identity's next slot (the spacing) before it is
# deferred instead; callers that must not wait pass max_wait=0.
DEFAULT_MAX_WAIT = 3.0


class GitHubTransport:
    """The state every call shares (PyGithub connection, App credentials, rate limits,
    correlation id, metrics hook) and the helpers that make one call or walk pages."""

    def __init__(
        self,
        gh: github.Github,
        *,
        app: AppAuthProvider | None = None,
        installation_id: int | None = None,
        clock: Callable[[], float] = time.time,
        secrets: tuple[str, ...] = (),
        budget: WriteBudget,
        identity: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._gh = gh
        self.budget = budget
        self.identity = identity  # installation:<id> or token:<hash>, never the token
        self._sleep = sleep
        self._requester = gh.requester
        self._app = app
        self._installation_id = installation_id
        self._clock = clock
        self._secrets = tuple(s for s in secrets if s)
        self._rate: RateLimitState | None = None
        self.delivery_id: str | None = None
        # Called once per HTTP attempt with (method, status or None): metrics hook.
        self.observer: Callable[[str, int | None], None] | None = None

    def close(self) -> None:
        self._gh.close()

    @property
    def rate_limit_state(self) -> RateLimitState | None:
        """The rate-limit headers of the last response that had them (None before any)."""
        return self._rate

    def _request(
        self,
        verb: str,
        url: str,
        *,
        action: str,
        params: Mapping[str, Any] | None = None,
        body: Any | None = None,
        priority: Priority = Priority.NORMAL,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> tuple[dict[str, str], Any]:
        if verb.upper() in WRITE_METHODS:
            self._take_write_slot(action, priority, max_wait)
        else:
            self._check_paused(action)
        headers = {"Accept": "application/vnd.github+json"}
        if self.delivery_id:
            headers["X-GitHub-Delivery"] = self.delivery_id
        try:
            response_headers, data = self._requester.requestJsonAndCheck(
                verb, url, parameters=dict(params) if params else None, headers=headers, input=body
            )
        except GithubException as exc:
            self._observe(verb, exc.status)
            lowered = {k.lower(): str(v) for k, v in (exc.headers or {}).items()}
            self._track(lowered)
            message = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
            if exc.status == 401 and self._app is not None and self._installation_id is not None:
                self._app.invalidate(self._installation_id)
            error = error_from_response(
                exc.status, lowered, str(message), action=action, now=self._clock()
            )
            if isinstance(error, GitHubRateLimited):
                # A secondary limit is per identity: every thread and process holds back.
                self.budget.pause(self.identity, error.retry_after)
            raise self._scrub(error) from None
        except requests.RequestException as exc:
            self._observe(verb, None)
            raise GitHubUnavailable(
                f"GitHub did not answer while {action} ({type(exc).__name__}); "
                "check GITHUB_API_URL and the network, then try again"
            ) from None
        except (ValueError, AssertionError):
            # undecodable JSON, or a Link to a host PyGithub refuses to follow
            raise GitHubError(f"GitHub sent a malformed answer while {action}") from None
        except RuntimeError:
            # PyGithub refuses a redirect to another host or scheme
            raise GitHubError(
                f"GitHub redirected elsewhere while {action}; check GITHUB_API_URL"
            ) from None
        self._observe(verb, 200)  # PyGithub hides the exact 2xx code
        self._track({k.lower(): str(v) for k, v in response_headers.items()})
        return response_headers, data

    def _take_write_slot(self, action: str, priority: Priority, max_wait: float) -> None:
        decision = self.budget.acquire(self.identity, priority, max_wait=max_wait)
        if not decision.granted:
            why = "GitHub asked us to wait" if decision.paused else "no write slot free"
            raise GitHubWriteDeferred(
                f"not {action} yet: {why}; again in {decision.wait:.1f} s",
                retry_after=decision.wait,
            )
        if decision.wait > 0:
            self._sleep(decision.wait)
            # GitHub may have limited the identity while this write waited for its slot.
            self._check_paused(action)

    def _check_paused(self, action: str) -> None:
        left = self.budget.paused_for(self.identity)
        if left > 0:
            raise GitHubRateLimited(
                f"not {action} yet: GitHub asked us to wait; again in {left:.1f} s",
                retry_after=left,
            )

    def _observe(self, verb: str, status: int | None) -> None:
        if self.observer is not None:
            self.observer(verb, status)

    def _track(self, headers: Mapping[str, str]) -> None:
        state = rate_limit_from_headers(headers)
        if state is not None:
            self._rate = state

    def _scrub(self, error: GitHubError) -> GitHubError:
        for secret in self._secrets:
            if secret in error.message:
                error.message = error.message.replace(secret, "***")
                error.args = (error.message,)
        return error

    def _forward(self, url: str, action: str, per_page: int) -> Iterator[Any]:
        next_url: str | None = url
        params: dict[str, Any] | None = {"per_page": max(per_page, 1)}
        for _ in range(MAX_PAGES):
            if next_url is None:
                return
            headers, page = self._request("GET", next_url, params=params, action=action)
            yield from _items(page)
            next_url = _links(headers).get("next")
            params = None  # the Link URL carries the query

    def _newest_first(self, url: str, action: str) -> Iterator[Any]:
        """Items of an oldest-first listing, newest first, reading from the last page back."""
        headers, first = self._request("GET", url, params={"per_page": PAGE_SIZE}, action=action)
        links = _links(headers)
        if "last" not in links:
            if "next" not in links:
                yield from reversed(_items(first))
                return
            # no "last" link: read forward, then walk back
            collected = list(_items(first))
            next_url: str | None = links["next"]
            for _ in range(MAX_PAGES):
                if next_url is None:
                    break
                headers, page = self._request("GET", next_url, action=action)
                collected.extend(_items(page))
                next_url = _links(headers).get("next")
            yield from reversed(collected)
            return
        page_url: str | None = links["last"]
        for _ in range(MAX_PAGES):
            if page_url is None:
                return
            if _page_number(page_url) == 1:
                yield from reversed(_items(first))
                return
            headers, page = self._request("GET", page_url, action=action)
            yield from reversed(_items(page))
            page_url = _links(headers).get("prev")


def repo_path(full_name: str) -> str:
    """The API path of a repository; a malformed name is reported as not found."""
    if not _FULL_NAME.match(full_name or ""):
        raise GitHubNotFound(f"{full_name!r} is not an owner/repo repository name")
    return f"/repos/{full_name}"


def _links(headers: Mapping[str, Any]) -> dict[str, str]:
    value = next((str(v) for k, v in headers.items() if k.lower() == "link"), "")
    return {rel: url for url, rel in _LINK.findall(value)}


def _page_number(url: str) -> int:
    try:
        return int(parse_qs(urlparse(url).query).get("page", ["1"])[0])
    except ValueError:
        return 0


def _items(page: Any) -> list[Any]:
    return page if isinstance(page, list) else []
