"""Checks that run before anything is sent to Devin."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.validation import cron_error, json_schema_error


@pytest.mark.parametrize(
    "expr",
    [
        "0 9 * * 1-5",
        "*/15 * * * *",
        "0 0 1 1 *",
        "59 23 31 12 7",
        "0 9 * * MON-FRI",
        "0 9 * jan,jul sun",
        "0,30 8-18/2 * * *",
        "5/10 * * * *",
        "  0   9 * *  1  ",
    ],
)
def test_valid_cron(expr: str) -> None:
    assert cron_error(expr) is None


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("", "must have 5 fields"),
        ("0 9 * *", "must have 5 fields"),
        ("0 9 * * * *", "must have 5 fields"),
        ("@daily", "must have 5 fields"),
        ("60 * * * *", "minute field '60' is not acceptable, out of range"),
        ("0 24 * * *", "hour field '24' is not acceptable, out of range"),
        ("0 0 0 * *", "day of month field '0' is not acceptable, out of range"),
        ("0 0 * 13 *", "month field '13' is not acceptable, out of range"),
        ("0 0 * * 8", "day of week field '8' is not acceptable, out of range"),
        ("*/0 * * * *", "minute field '*/0'"),
        ("*/x * * * *", "minute field '*/x'"),
        ("1,,2 * * * *", "minute field '1,,2'"),
        ("mon * * * *", "minute field 'mon'"),
        ("0 9 * * funday", "day of week field 'funday'"),
        ("-5 * * * *", "negative numbers not allowed"),
        ("1-2-3 * * * *", "minute field '1-2-3'"),
        ("0 9 31 2 *", "never fires"),
        # digits that are not ASCII: rejected, never a crash
        ("² * * * *", "not ASCII"),
        ("*/² * * * *", "not ASCII"),
        ("١ * * * *", "not ASCII"),
    ],
)
def test_invalid_cron(expr: str, says: str) -> None:
    # croniter parses; the message still names the expression and the field at fault.
    problem = cron_error(expr)
    assert problem is not None
    assert says in problem
    assert "e.g." in problem or repr(expr) in problem


SIMPLE = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


@pytest.mark.parametrize(
    "schema",
    [
        SIMPLE,
        {},
        {
            "definitions": {"item": {"type": "string"}},
            "type": "array",
            "items": {"$ref": "#/definitions/item"},
        },
        # a property that happens to be called "$ref" is not a reference
        {"type": "object", "properties": {"$ref": {"type": "string"}}},
    ],
)
def test_valid_structured_output_schema(schema: dict[str, Any]) -> None:
    assert json_schema_error(schema) is None


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        (["type", "object"], "must be a JSON object"),
        ("{}", "must be a JSON object"),
        (None, "must be a JSON object"),
        (
            {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}},
            "must be self-contained; it refers to 'https://example.com/s.json'",
        ),
        ({"allOf": [{"$ref": "other.json#/x"}]}, "refers to 'other.json#/x'"),
        ({"type": "objekt"}, "not valid JSON Schema at type"),
        ({"properties": {"a": {"type": 5}}}, "not valid JSON Schema at properties/a/type"),
        ({"required": "ok"}, "not valid JSON Schema at required"),
        (
            {"type": "object", "description": "x" * (64 * 1024)},
            "the limit is 64 KB",
        ),
    ],
)
def test_invalid_structured_output_schema(schema: Any, says: str) -> None:
    problem = json_schema_error(schema)
    assert problem is not None
    assert says in problem
