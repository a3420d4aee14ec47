"""The GitHub write budget's rule, pure: may one identity write now, and if not, when?

GitHub documents secondary limits of about 80 content-creating requests a minute and 500
an hour per identity (App installation or token), and asks for at least a second between
mutating requests. Every write of every thread and process reserves a *slot* (a time) in
one shared log per identity; the rule below grants a slot only when, counting it, no
window of the log's length holds more than the limit. A sliding log, not a fixed window
or a token bucket: those let twice the limit through around a window boundary.

Priorities keep room for what a reader waits for: progress edits may fill only part of
each window, the first comment and replies a little more, a final state all of it. The
windows are a little longer than GitHub's (`margin`), so that a request sent a moment
after its slot still counts in the window GitHub sees.

The same rule runs in memory (the Action), in the store (SQLite / Postgres) and, written
again in Lua, in Redis.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

MINUTE = 60.0
HOUR = 3600.0
DEFAULT_PER_MINUTE = 80
DEFAULT_PER_HOUR = 500
DEFAULT_SPACING = 1.0
DEFAULT_MARGIN = 2.0
# Share of each window that only higher priorities may use (see BudgetLimits.caps).
DEFAULT_RESERVE = 0.1


class Priority(IntEnum):
    """What a write is for; a higher one may use more of each window."""

    PROGRESS = 0  # an edit showing a session still at work; the 👀 reaction
    NORMAL = 1  # the first status comment, replies
    FINAL = 2  # finished, failed, stopped, waiting for input or approval


@dataclass(frozen=True)
class BudgetLimits:
    per_minute: int = DEFAULT_PER_MINUTE
    per_hour: int = DEFAULT_PER_HOUR
    spacing: float = DEFAULT_SPACING  # seconds between two writes of one identity
    margin: float = DEFAULT_MARGIN  # seconds added to both windows
    reserve: float = DEFAULT_RESERVE

    def caps(self, priority: Priority) -> tuple[int, int]:
        """(per minute, per hour) for writes of this priority: progress leaves `reserve`
        of each window free, normal writes half of it, final states none."""
        share = {Priority.PROGRESS: 1.0, Priority.NORMAL: 0.5, Priority.FINAL: 0.0}[priority]
        return (
            _cap(self.per_minute, self.reserve * share),
            _cap(self.per_hour, self.reserve * share),
        )

    @property
    def windows(self) -> tuple[float, float]:
        return MINUTE + self.margin, HOUR + self.margin


def _cap(limit: int, reserve: float) -> int:
    if limit <= 1:
        return max(limit, 1)
    return max(1, limit - math.ceil(limit * reserve))


@dataclass(frozen=True)
class Decision:
    """`granted`: send after `wait` seconds (the reserved slot). Otherwise ask again in
    `wait` seconds; `paused` tells that GitHub itself asked the identity to wait."""

    granted: bool
    wait: float
    paused: bool = False


def decide(
    slots: Sequence[float],
    *,
    last: float | None,
    paused_until: float,
    now: float,
    limits: BudgetLimits,
    priority: Priority,
    max_wait: float,
) -> tuple[Decision, float | None]:
    """The decision and the slot to record (None when denied).

    `slots`: the identity's reserved write times within the last hour and margin,
    ascending; `last`: the latest of them (or a later one that was pruned).
    """
    if paused_until > now:
        return Decision(False, paused_until - now, paused=True), None
    slot = now if last is None else max(now, last + limits.spacing)
    cap_minute, cap_hour = limits.caps(priority)
    for window, cap in zip(limits.windows, (cap_minute, cap_hour), strict=True):
        inside = [t for t in slots if t > slot - window]
        if len(inside) >= cap:
            # The slot frees up when enough of the oldest writes leave the window.
            free_at = inside[len(inside) - cap] + window
            return Decision(False, max(free_at - now, 0.01)), None
    if slot - now > max_wait:
        return Decision(False, slot - now), None
    return Decision(True, slot - now), slot


ENV_SPACING = "DEVIN_BRIDGE_GITHUB_WRITE_SPACING"
ENV_PER_MINUTE = "DEVIN_BRIDGE_GITHUB_WRITES_PER_MINUTE"
ENV_PER_HOUR = "DEVIN_BRIDGE_GITHUB_WRITES_PER_HOUR"


def limits_from_env(env: Mapping[str, str]) -> BudgetLimits:
    """The budget's limits from the environment; ValueError names a malformed variable."""

    def number(name: str, default: float, kind: type[float] | type[int]) -> float:
        text = (env.get(name) or "").strip() or str(default)
        try:
            value = kind(text)
        except ValueError:
            value = -1
        if value < 0 or (kind is int and value < 1):
            what = "a whole number of writes, at least 1" if kind is int else "seconds, >= 0"
            raise ValueError(f"{name} must be {what}, got {text!r}")
        return value

    return BudgetLimits(
        per_minute=int(number(ENV_PER_MINUTE, DEFAULT_PER_MINUTE, int)),
        per_hour=int(number(ENV_PER_HOUR, DEFAULT_PER_HOUR, int)),
        spacing=float(number(ENV_SPACING, DEFAULT_SPACING, float)),
    )


def token_identity(token: str) -> str:
    """A stable name for the identity behind a token that does not reveal the token."""
    digest = hashlib.sha256(("devin-bridge:" + token.strip()).encode()).hexdigest()
    return f"token:{digest[:32]}"


def installation_identity(installation_id: int) -> str:
    return f"installation:{int(installation_id)}"
