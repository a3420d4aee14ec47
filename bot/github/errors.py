"""The GitHub client's one error hierarchy, and how a failed response maps onto it.

Pure: the fakes and the service's schedulers import it without pulling in PyGithub.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SECONDARY_RATE_LIMIT_FLOOR = 60.0
"""GitHub: without retry-after or a zero remaining count, wait at least one minute."""


@dataclass(frozen=True)
class RateLimitState:
    """The x-ratelimit-* headers of the last response that carried them."""

    limit: int
    remaining: int
    used: int
    reset: int  # epoch seconds
    resource: str


class GitHubError(Exception):
    """Any failure talking to GitHub. `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class GitHubRateLimited(GitHubError):
    """Primary or secondary rate limit (403 or 429); wait `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float, status: int | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class GitHubWriteDeferred(GitHubRateLimited):
    """Our own write budget said "not now": nothing was sent; ask again in `retry_after`."""


class GitHubNotFound(GitHubError):
    pass


class GitHubAuthError(GitHubError):
    pass


class GitHubForbidden(GitHubError):
    pass


class GitHubServerError(GitHubError):
    pass


class GitHubUnavailable(GitHubError):
    """Timeout or connection failure: GitHub did not answer at all."""


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    message: str,
    *,
    action: str,
    now: float,
) -> GitHubError:
    """Map one failed response to our error type, following GitHub's rate-limit rules.

    `headers` must have lower-case keys. `message` is GitHub's own `message` field.
    """
    limited = retry_after_seconds(status, headers, message, now=now)
    if limited is not None:
        return GitHubRateLimited(
            f"GitHub rate limit hit while {action} (HTTP {status}); "
            f"wait {limited:.0f} s before calling GitHub again",
            retry_after=limited,
            status=status,
        )
    detail = _short(message)
    if status == 401:
        return GitHubAuthError(
            f"GitHub rejected the credentials while {action} (HTTP 401{detail}); "
            "check GITHUB_TOKEN, or GITHUB_APP_ID and the App's private key",
            status,
        )
    if status == 403:
        return GitHubForbidden(
            f"GitHub refused {action} (HTTP 403{detail}); give the token or App the "
            "permission it needs (issues/pull-requests: write, contents: read)",
            status,
        )
    if status == 404:
        return GitHubNotFound(
            f"GitHub found nothing while {action} (HTTP 404); check the repository name and "
            "that the token or App installation can see it",
            status,
        )
    if status >= 500:
        return GitHubServerError(
            f"GitHub failed while {action} (HTTP {status}); this is on GitHub's side, "
            "try again shortly",
            status,
        )
    return GitHubError(f"GitHub answered HTTP {status} while {action}{detail}", status)


def retry_after_seconds(
    status: int, headers: Mapping[str, str], message: str, *, now: float
) -> float | None:
    """Seconds to wait when the response is a rate limit, else None.

    Order from GitHub's docs: retry-after; else remaining == 0 → until reset; else (a
    secondary limit without either header) at least a minute.
    """
    if status not in (403, 429):
        return None
    lowered = message.lower()
    retry_after = _float(headers.get("retry-after"))
    if retry_after is not None:
        return max(retry_after, 1.0)
    if headers.get("x-ratelimit-remaining") == "0":
        reset = _float(headers.get("x-ratelimit-reset"))
        if reset is not None:
            return max(reset - now + 1.0, 1.0)
        return SECONDARY_RATE_LIMIT_FLOOR
    if status == 429 or "rate limit" in lowered or "abuse" in lowered:
        return SECONDARY_RATE_LIMIT_FLOOR
    return None


def rate_limit_from_headers(headers: Mapping[str, str]) -> RateLimitState | None:
    limit = _int(headers.get("x-ratelimit-limit"))
    remaining = _int(headers.get("x-ratelimit-remaining"))
    if limit is None or remaining is None:
        return None
    return RateLimitState(
        limit=limit,
        remaining=remaining,
        used=_int(headers.get("x-ratelimit-used")) or max(limit - remaining, 0),
        reset=_int(headers.get("x-ratelimit-reset")) or 0,
        resource=headers.get("x-ratelimit-resource", "core"),
    )


def _short(message: str) -> str:
    text = " ".join(message.split())[:200]
    return f": {text}" if text else ""


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    number = _float(value)
    return None if number is None else int(number)
