"""How long to wait before polling a session again (pure policy).

Poll often while a session is young or visibly moving, back off while it shows
nothing new, and poll slowly once it waits for someone: a follow-up comment
re-polls such a session at once anyway.
"""

from __future__ import annotations

from bot.core.devin_models import Session

YOUNG_S = 600.0  # sessions younger than this are polled at the base rate
ACTIVE_CAP_S = 300.0  # longest wait while Devin is still working
SETTLED_MIN_S = 120.0  # a settled session (waiting, finished, suspended)
SETTLED_CAP_S = 600.0


def next_delay(session: Session, unchanged_polls: int, age_s: float, base: float = 10.0) -> float:
    """Seconds until the next poll of ``session``.

    ``unchanged_polls`` counts consecutive polls that showed nothing new;
    ``age_s`` is the time since the session (or its tracking) started.
    """
    base = max(float(base), 1.0)
    quiet = max(int(unchanged_polls), 0)
    if session.is_terminal or session.is_archived:
        return SETTLED_CAP_S
    if session.is_settled:
        return min(SETTLED_CAP_S, max(SETTLED_MIN_S, base * 2.0 ** min(quiet, 10)))
    if quiet == 0 or age_s < YOUNG_S:
        return base
    return min(max(ACTIVE_CAP_S, base), base * 2.0 ** min(quiet, 10))
