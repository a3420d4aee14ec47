"""Validation of 5-field cron expressions (schedules' `frequency`, always UTC).

The emulator imports nothing else of ``bot`` (it stands in for the real service), so it
cannot share ``bot.core.validation.cron_error``; both lean on croniter for the parsing
and keep only the five-field rule of Devin's ``frequency`` themselves.
"""

from __future__ import annotations


def cron_problem(expression: str) -> str | None:
    """None when valid, else a short human explanation."""
    from croniter import CroniterError, croniter

    parts = expression.split()
    if len(parts) != 5:
        return (
            f"must have 5 space-separated fields (minute hour day-of-month month day-of-week), "
            f"got {len(parts)}"
        )
    if not expression.isascii():
        return "must be ASCII"
    try:
        croniter(" ".join(parts))
    except (CroniterError, ValueError) as exc:
        text = str(exc)
        return text.split("]", 1)[1].strip(" ,") if text.startswith("[") and "]" in text else text
    return None
