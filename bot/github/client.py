"""The GitHub REST client: the only module that imports PyGithub.

PyGithub provides auth, connection pooling and write spacing; requests go through its
`Requester` so we see every response's headers (rate limits) and the raw JSON (the
permission endpoint's `role_name`, which PyGithub's objects drop). PyGithub's own retry
is replaced by a small one that only re-tries failed connections: our callers decide
what to do about rate limits and server errors, and nothing here sleeps for minutes.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlparse

import github
import requests
from github.GithubException import GithubException
from urllib3.util.retry import Retry

from bot.core.github_models import (
    REACTIONS,
    Actor,
    CommentInfo,
    FileStat,
    IssueInfo,
    PullInfo,
    RepoInfo,
    effective_role,
    parse_timestamp,
    trim_comment_body,
)
from bot.github.auth import API_VERSION, DEFAULT_API_URL, AppAuthProvider
from bot.github.errors import (
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubUnavailable,
    RateLimitState,
    error_from_response,
    rate_limit_from_headers,
)

PAGE_SIZE = 100  # GitHub's maximum per_page
MAX_PAGES = 50  # bound on walking a long thread (5,000 comments)
T = TypeVar("T")
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')


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


def _make_github(
    auth: github.Auth.Auth, base_url: str, timeout: int, seconds_between_writes: float
) -> github.Github:
    return github.Github(
        auth=auth,
        base_url=base_url.rstrip("/"),
        timeout=timeout,
        user_agent="devin-bridge",
        per_page=PAGE_SIZE,
        retry=_connect_only_retry(),
        seconds_between_requests=None,
        seconds_between_writes=seconds_between_writes or None,
        api_version=API_VERSION,
    )


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


class GitHubClient:
    """Typed access to the few GitHub endpoints the bridge needs.

    One instance per thread (PyGithub's objects are not documented as thread-safe).
    Set `delivery_id` to send it as `X-GitHub-Delivery` on every call, for correlation.
    """

    def __init__(
        self,
        gh: github.Github,
        *,
        app: AppAuthProvider | None = None,
        installation_id: int | None = None,
        clock: Callable[[], float] = time.time,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._gh = gh
        self._requester = gh.requester
        self._app = app
        self._installation_id = installation_id
        self._clock = clock
        self._secrets = tuple(s for s in secrets if s)
        self._rate: RateLimitState | None = None
        self.delivery_id: str | None = None
        # Called once per HTTP attempt with (method, status or None): metrics hook.
        self.observer: Callable[[str, int | None], None] | None = None

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
    ) -> GitHubClient:
        """A client for a PAT or an Actions `GITHUB_TOKEN`."""
        if not token.strip():
            raise GitHubError("the GitHub token is empty; set GITHUB_TOKEN (or github-token)")
        gh = _make_github(
            github.Auth.Token(token.strip()), base_url, timeout, seconds_between_writes
        )
        return cls(gh, secrets=(token.strip(),))

    @classmethod
    def for_installation(
        cls,
        auth_provider: AppAuthProvider,
        installation_id: int,
        base_url: str | None = None,
        timeout: int = 10,
        seconds_between_writes: float = 1.0,
    ) -> GitHubClient:
        """A client acting as one installation of a GitHub App (tokens cached by the provider)."""
        gh = _make_github(
            _InstallationAuth(auth_provider, installation_id),
            base_url or auth_provider.base_url,
            timeout,
            seconds_between_writes,
        )
        return cls(gh, app=auth_provider, installation_id=installation_id)

    def close(self) -> None:
        self._gh.close()

    @property
    def rate_limit_state(self) -> RateLimitState | None:
        """The rate-limit headers of the last response that had them (None before any)."""
        return self._rate

    # --- repositories and files -----------------------------------------------------------

    def repository(self, full_name: str) -> RepoInfo:
        _, data = self._request("GET", _repo(full_name), action=f"reading {full_name}")
        return _parse(_repo_info, data, "repository")

    def read_file(self, full_name: str, path: str, ref: str | None = None) -> str | None:
        """The text of a file, or None when it (or the ref) does not exist."""
        url = f"{_repo(full_name)}/contents/{quote(path.lstrip('/'), safe='/')}"
        try:
            _, data = self._request(
                "GET",
                url,
                params={"ref": ref} if ref else None,
                action=f"reading {path} in {full_name}",
            )
        except GitHubNotFound:
            return None
        if not isinstance(data, dict) or data.get("type") != "file":
            return None  # a directory listing, submodule or symlink
        if data.get("encoding") != "base64":
            raise GitHubError(
                f"{path} in {full_name} is too large for the contents API; keep it under 1 MB"
            )
        try:
            raw = base64.b64decode(str(data.get("content") or ""))
        except (binascii.Error, ValueError):
            raise GitHubError(f"GitHub sent undecodable content for {path}") from None
        return raw.decode("utf-8", errors="replace")

    def permission(self, full_name: str, login: str) -> str:
        """The user's role: admin, maintain, write, triage, read or none (404 → none)."""
        url = f"{_repo(full_name)}/collaborators/{quote(login, safe='')}/permission"
        try:
            _, data = self._request(
                "GET", url, action=f"checking {login}'s permission on {full_name}"
            )
        except GitHubNotFound:
            return "none"  # not a user (e.g. an App) or no such account
        return effective_role(data) if isinstance(data, dict) else "none"

    # --- issues and pull requests ---------------------------------------------------------

    def issue(self, full_name: str, number: int) -> IssueInfo:
        _, data = self._request(
            "GET", f"{_repo(full_name)}/issues/{int(number)}", action=f"reading #{number}"
        )
        return _parse(_issue, data, "issue")

    def pull(self, full_name: str, number: int) -> PullInfo:
        _, data = self._request(
            "GET", f"{_repo(full_name)}/pulls/{int(number)}", action=f"reading PR #{number}"
        )
        return _parse(_pull, data, "pull request")

    def pull_files(self, full_name: str, number: int, limit: int = 100) -> list[FileStat]:
        """The first `limit` files changed by the pull request."""
        url = f"{_repo(full_name)}/pulls/{int(number)}/files"
        files: list[FileStat] = []
        for item in self._forward(url, f"listing the files of PR #{number}", min(limit, 100)):
            if len(files) >= limit:
                break
            files.append(_parse(_file, item, "file"))
        return files

    # --- comments -------------------------------------------------------------------------

    def comments(self, full_name: str, number: int, limit: int = 50) -> list[CommentInfo]:
        """The most recent `limit` conversation comments, oldest first."""
        if limit <= 0:
            return []
        url = f"{_repo(full_name)}/issues/{int(number)}/comments"
        newest: list[CommentInfo] = []
        for item in self._newest_first(url, f"reading the comments of #{number}"):
            newest.append(_parse(_comment, item, "comment"))
            if len(newest) >= limit:
                break
        return newest[::-1]

    def find_comment(self, full_name: str, number: int, marker: str) -> CommentInfo | None:
        """The newest comment on the thread whose body contains `marker`."""
        url = f"{_repo(full_name)}/issues/{int(number)}/comments"
        for item in self._newest_first(url, f"searching the comments of #{number}"):
            if isinstance(item, dict) and marker in str(item.get("body") or ""):
                return _parse(_comment, item, "comment")
        return None

    def get_comment(self, full_name: str, comment_id: int) -> CommentInfo | None:
        try:
            _, data = self._request(
                "GET",
                f"{_repo(full_name)}/issues/comments/{int(comment_id)}",
                action=f"reading comment {comment_id}",
            )
        except GitHubNotFound:
            return None
        return _parse(_comment, data, "comment")

    def create_comment(self, full_name: str, number: int, body: str) -> CommentInfo:
        _, data = self._request(
            "POST",
            f"{_repo(full_name)}/issues/{int(number)}/comments",
            body={"body": trim_comment_body(body)},
            action=f"commenting on #{number}",
        )
        return _parse(_comment, data, "comment")

    def edit_comment(self, full_name: str, comment_id: int, body: str) -> CommentInfo:
        _, data = self._request(
            "PATCH",
            f"{_repo(full_name)}/issues/comments/{int(comment_id)}",
            body={"body": trim_comment_body(body)},
            action=f"editing comment {comment_id}",
        )
        return _parse(_comment, data, "comment")

    def react(
        self,
        full_name: str,
        comment_id: int,
        content: str = "eyes",
        review_comment: bool = False,
    ) -> None:
        """Add a reaction to a conversation comment (or to a PR review comment)."""
        if content not in REACTIONS:
            raise ValueError(f"unknown reaction {content!r}; use one of {sorted(REACTIONS)}")
        kind = "pulls" if review_comment else "issues"
        self._request(
            "POST",
            f"{_repo(full_name)}/{kind}/comments/{int(comment_id)}/reactions",
            body={"content": content},
            action=f"reacting to comment {comment_id}",
        )

    # --- identity -------------------------------------------------------------------------

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

    # --- plumbing -------------------------------------------------------------------------

    def _request(
        self,
        verb: str,
        url: str,
        *,
        action: str,
        params: Mapping[str, Any] | None = None,
        body: Any | None = None,
    ) -> tuple[dict[str, str], Any]:
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


# --- parsing ------------------------------------------------------------------------------


def _repo(full_name: str) -> str:
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


def _parse(build: Callable[[Any], T], data: Any, what: str) -> T:
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise GitHubError(f"GitHub sent a malformed {what}") from None


def _repo_info(data: Any) -> RepoInfo:
    return RepoInfo(
        full_name=str(data["full_name"]),
        default_branch=str(data.get("default_branch") or "main"),
        private=bool(data.get("private")),
    )


def _actor(user: Any) -> Actor:
    if not isinstance(user, dict):
        return Actor(login="ghost", type="User")  # deleted accounts come back as null
    return Actor(login=str(user.get("login") or "ghost"), type=str(user.get("type") or "User"))


def _comment(data: Any) -> CommentInfo:
    app = data.get("performed_via_github_app")
    return CommentInfo(
        id=int(data["id"]),
        body=str(data.get("body") or ""),
        author=_actor(data.get("user")),
        created_at=parse_timestamp(data.get("created_at")),
        updated_at=parse_timestamp(data.get("updated_at") or data.get("created_at")),
        html_url=str(data.get("html_url") or ""),
        author_association=str(data.get("author_association") or "NONE"),
        performed_via_app=str(app["slug"]) if isinstance(app, dict) and app.get("slug") else None,
    )


def _issue(data: Any) -> IssueInfo:
    pull = data.get("pull_request")
    state = str(data.get("state") or "open")
    labels = tuple(
        str(label["name"]) if isinstance(label, dict) else str(label)
        for label in data.get("labels") or []
    )
    return IssueInfo(
        number=int(data["number"]),
        title=str(data.get("title") or ""),
        body=str(data.get("body") or ""),
        state=state,
        is_pull_request=isinstance(pull, dict),
        author=_actor(data.get("user")),
        labels=labels,
        html_url=str(data.get("html_url") or ""),
        closed=state == "closed",
        merged=isinstance(pull, dict) and bool(pull.get("merged_at")),
    )


def _pull(data: Any) -> PullInfo:
    head = data.get("head") or {}
    base = data.get("base") or {}
    head_repo = (head.get("repo") or {}).get("full_name")
    base_repo = str((base.get("repo") or {})["full_name"])
    return PullInfo(
        head_ref=str(head.get("ref") or ""),
        base_ref=str(base.get("ref") or ""),
        head_repo=str(head_repo) if head_repo else None,
        base_repo=base_repo,
        is_fork=not head_repo or str(head_repo).lower() != base_repo.lower(),
        merged=bool(data.get("merged")) or bool(data.get("merged_at")),
        state=str(data.get("state") or "open"),
        draft=bool(data.get("draft")),
        html_url=str(data.get("html_url") or ""),
        number=int(data.get("number") or 0),
        head_sha=str(head.get("sha") or ""),
        title=str(data.get("title") or ""),
    )


def _file(data: Any) -> FileStat:
    return FileStat(
        filename=str(data["filename"]),
        status=str(data.get("status") or "modified"),
        additions=int(data.get("additions") or 0),
        deletions=int(data.get("deletions") or 0),
    )
