"""Validation of 5-field cron expressions (schedules' `frequency`, always UTC)."""

from __future__ import annotations

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

# name, low, high, symbolic names (index + offset = value)
_FIELDS: tuple[tuple[str, int, int, list[str], int], ...] = (
    ("minute", 0, 59, [], 0),
    ("hour", 0, 23, [], 0),
    ("day of month", 1, 31, [], 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day of week", 0, 7, _DAYS, 0),
)


def _value(text: str, low: int, high: int, names: list[str], offset: int) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + offset
    if not text.isdigit():
        raise ValueError(f"'{text}' is not a number")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{number} is outside {low}-{high}")
    return number


def _check_field(text: str, low: int, high: int, names: list[str], offset: int) -> None:
    for item in text.split(","):
        base, slash, step = item.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            raise ValueError(f"step '{step}' must be a positive integer")
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        first = _value(start, low, high, names, offset)
        if dash:
            last = _value(end, low, high, names, offset)
            if last < first:
                raise ValueError(f"range '{base}' is reversed")


def cron_problem(expression: str) -> str | None:
    """None when valid, else a short human explanation."""
    parts = expression.split()
    if len(parts) != 5:
        return (
            f"must have 5 space-separated fields (minute hour day-of-month month day-of-week), "
            f"got {len(parts)}"
        )
    for part, (name, low, high, names, offset) in zip(parts, _FIELDS, strict=True):
        try:
            _check_field(part, low, high, names, offset)
        except ValueError as exc:
            return f"invalid {name} field '{part}': {exc}"
    return None
