"""Which failures of background work are worth retrying later, and when."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.devin.errors import DevinRateLimited, DevinServerError, DevinUnavailable
from bot.github.errors import GitHubRateLimited, GitHubServerError, GitHubUnavailable

MAX_BACKOFF_S = 300.0


@dataclass(frozen=True)
class Retry:
    """Try again in `delay` seconds; `reason` is safe to log (no secrets)."""

    delay: float
    reason: str
    rate_limited: bool


def retry_for(err: BaseException, attempt: int, base: float = 2.0) -> Retry | None:
    """A Retry for rate limits and outages of Devin or GitHub; None for anything else."""
    if isinstance(err, DevinRateLimited | GitHubRateLimited):
        wait = err.retry_after if err.retry_after is not None else backoff(attempt, base)
        return Retry(max(wait, 0.1), f"{type(err).__name__}: {err}", True)
    if isinstance(err, DevinUnavailable | DevinServerError | GitHubUnavailable | GitHubServerError):
        return Retry(backoff(attempt, base), f"{type(err).__name__}: {err}", False)
    return None


def backoff(attempt: int, base: float = 2.0, cap: float = MAX_BACKOFF_S) -> float:
    """Exponential backoff with full jitter in [delay/2, delay]."""
    delay = min(cap, base * 2.0 ** max(0, min(attempt, 16) - 1))
    return delay / 2.0 + random.random() * delay / 2.0
