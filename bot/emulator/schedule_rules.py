"""Validation of schedule bodies (create: full; PATCH: partial, then checked merged)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.emulator.cron import cron_problem
from bot.emulator.errors import FieldError
from bot.emulator.validation import Fields

SCHEDULE_TYPES = ("recurring", "one_time")
AGENTS = ("devin", "data_analyst", "advanced")
NOTIFY_ON = ("always", "failure", "never")
_TEXT_FIELDS = (
    "playbook_id",
    "create_as_user_id",
    "run_as_user_id",
    "platform",
    "slack_channel_id",
    "slack_team_id",
    "target_devin_id",
    "frequency",
    "scheduled_at",
)


def read_schedule_fields(body: dict[str, Any], *, partial: bool) -> tuple[dict[str, Any], Fields]:
    """Type-check the body; returns the given fields (keys present in the body only)."""
    f = Fields(body)
    out: dict[str, Any] = {}
    for name in ("name", "prompt"):
        value = f.string(name, required=not partial, nullable=False, min_len=1)
        if f.present(name):
            out[name] = value
    if f.present("schedule_type"):
        out["schedule_type"] = f.enum("schedule_type", SCHEDULE_TYPES)
    if f.present("agent"):
        out["agent"] = f.enum("agent", AGENTS)
    if f.present("notify_on"):
        out["notify_on"] = f.enum("notify_on", NOTIFY_ON)
    for name in _TEXT_FIELDS:
        if f.present(name):
            out[name] = f.string(name)
    if f.present("interval_count"):
        out["interval_count"] = f.integer("interval_count", ge=1)
    if f.present("tags"):
        out["tags"] = f.str_list("tags", max_items=50)
    if f.present("bypass_approval"):
        out["bypass_approval"] = f.boolean("bypass_approval")
    if partial and f.present("enabled"):
        out["enabled"] = f.boolean("enabled", nullable=False)
    return out, f


def consistency_errors(fields: dict[str, Any], now: float) -> list[FieldError]:
    """Rules across fields, checked on the merged result of create or PATCH."""
    errors: list[FieldError] = []
    kind = fields.get("schedule_type") or "recurring"
    frequency = fields.get("frequency")
    if kind == "recurring":
        if not frequency:
            errors.append(
                FieldError(
                    ("body", "frequency"),
                    "frequency (a 5-field cron expression, UTC) is required for recurring "
                    "schedules",
                    "missing",
                )
            )
        elif (problem := cron_problem(frequency)) is not None:
            errors.append(
                FieldError(
                    ("body", "frequency"), f"Invalid cron expression: {problem}", "value_error"
                )
            )
        if fields.get("target_devin_id"):
            errors.append(
                FieldError(
                    ("body", "target_devin_id"),
                    "target_devin_id is only allowed on one_time schedules",
                    "value_error",
                )
            )
    else:
        scheduled_at = fields.get("scheduled_at")
        if not scheduled_at:
            errors.append(
                FieldError(
                    ("body", "scheduled_at"),
                    "scheduled_at (ISO-8601 with timezone) is required for one_time schedules",
                    "missing",
                )
            )
        else:
            try:
                when = datetime.fromisoformat(scheduled_at)
            except ValueError:
                when = None
            if when is None:
                errors.append(
                    FieldError(
                        ("body", "scheduled_at"), "Invalid ISO-8601 datetime", "datetime_parsing"
                    )
                )
            elif when.tzinfo is None:
                errors.append(
                    FieldError(
                        ("body", "scheduled_at"),
                        "scheduled_at must include a timezone",
                        "timezone_aware",
                    )
                )
            elif when.timestamp() <= now:
                errors.append(
                    FieldError(
                        ("body", "scheduled_at"),
                        "scheduled_at must be in the future",
                        "value_error",
                    )
                )
        if frequency is not None and (problem := cron_problem(frequency)) is not None:
            errors.append(
                FieldError(
                    ("body", "frequency"), f"Invalid cron expression: {problem}", "value_error"
                )
            )
    return errors
