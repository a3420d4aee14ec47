"""Checks run before anything is sent to Devin, so mistakes fail fast and clearly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_CRON_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")

MAX_SCHEMA_BYTES = 64 * 1024


def cron_error(expr: str) -> str | None:
    """Why ``expr`` is not a 5-field cron expression (UTC), or None when it is.

    croniter does the parsing; this only insists on exactly five fields (croniter also
    takes seconds, years and ``@daily``, which Devin's ``frequency`` does not) and names
    the field at fault by checking each one alone.
    """
    from croniter import CroniterError, croniter

    parts = expr.split()
    if len(parts) != 5 or not expr.isascii():
        if len(parts) == 5:
            return f"cron expression {expr!r} has characters that are not ASCII"
        return (
            f"cron expression {expr!r} must have 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 9 * * 1-5'"
        )
    for index, (part, name) in enumerate(zip(parts, _CRON_FIELD_NAMES, strict=True)):
        alone = ["*"] * 5
        alone[index] = part
        try:
            croniter(" ".join(alone))
        except (CroniterError, ValueError) as exc:
            return f"cron expression {expr!r}: {name} field {part!r} {_croniter_reason(exc)}"
    try:
        croniter(" ".join(parts))
    except (CroniterError, ValueError) as exc:
        return f"cron expression {expr!r} {_croniter_reason(exc)}"
    if not next_runs(expr, datetime(2000, 1, 1, tzinfo=UTC), 1):
        return f"cron expression {expr!r} never fires (no such date)"
    return None


def _croniter_reason(exc: Exception) -> str:
    # croniter's messages start with the expression in brackets: keep the reason only.
    text = str(exc)
    reason = text.split("]", 1)[1].strip(" ,") if text.startswith("[") and "]" in text else text
    return reason or "is not acceptable"


def next_runs(expr: str, after: datetime, count: int = 3) -> tuple[datetime, ...]:
    """The next ``count`` times (UTC) a valid cron expression fires after ``after``;
    fewer when it never fires (e.g. ``0 9 31 2 *``)."""
    from croniter import CroniterBadDateError, croniter

    it = croniter(expr, after.astimezone(UTC))
    runs: list[datetime] = []
    try:
        for _ in range(count):
            runs.append(it.get_next(datetime).astimezone(UTC))
    except CroniterBadDateError:
        pass
    return tuple(runs)


def json_schema_error(schema: Any) -> str | None:
    """Why ``schema`` cannot be a structured-output schema (Draft 7, ≤64 KB,
    self-contained), or None when it can."""
    if not isinstance(schema, Mapping):
        return "the structured output schema must be a JSON object"
    size = len(json.dumps(schema))
    if size > MAX_SCHEMA_BYTES:
        return f"the structured output schema is {size} bytes; the limit is 64 KB"
    external = _external_ref(schema)
    if external:
        return f"the structured output schema must be self-contained; it refers to {external!r}"
    # Imported here: jsonschema is only needed when a schema is actually given.
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft7Validator.check_schema(dict(schema))
    except SchemaError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        return f"the structured output schema is not valid JSON Schema at {where}: {err.message}"
    return None


def _external_ref(node: Any) -> str | None:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return ref
        for v in node.values():
            found = _external_ref(v)
            if found:
                return found
    elif isinstance(node, list):
        for v in node:
            found = _external_ref(v)
            if found:
                return found
    return None
