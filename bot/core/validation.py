"""Checks run before anything is sent to Devin, so mistakes fail fast and clearly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            m: i + 1
            for i, m in enumerate(
                ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            )
        },
    ),
    (
        "day of week",
        0,
        7,
        {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
    ),
)

MAX_SCHEMA_BYTES = 64 * 1024


def cron_error(expr: str) -> str | None:
    """Why ``expr`` is not a 5-field cron expression (UTC), or None when it is."""
    parts = expr.split()
    if len(parts) != 5:
        return (
            f"cron expression {expr!r} must have 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 9 * * 1-5'"
        )
    for part, (name, low, high, names) in zip(parts, _CRON_FIELDS, strict=True):
        for item in part.split(","):
            problem = _cron_item_error(item, low, high, names)
            if problem:
                return f"cron expression {expr!r}: {name} field {part!r} {problem}"
    return None


def _cron_item_error(item: str, low: int, high: int, names: Mapping[str, int]) -> str | None:
    if not item:
        return "has an empty list item"
    base, _, step = item.partition("/")
    if step and (not _is_number(step) or int(step) == 0):
        return f"has an invalid step {step!r}"
    if base == "*":
        return None
    lo_text, dash, hi_text = base.partition("-")
    values = [lo_text, hi_text] if dash else [lo_text]
    numbers: list[int] = []
    for v in values:
        n = names.get(v.lower()) if v.isalpha() else (int(v) if _is_number(v) else None)
        if n is None:
            return f"has an invalid value {v!r}"
        if not low <= n <= high:
            return f"value {v} is out of range {low}-{high}"
        numbers.append(n)
    if len(numbers) == 2 and numbers[0] > numbers[1]:
        return f"has a backwards range {base!r}"
    return None


def _is_number(text: str) -> bool:
    # str.isdigit() also accepts "²" and "١", which int() or cron cannot use.
    return text.isascii() and text.isdigit()


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
