"""``devin-bridge schedules ...``: scheduled sessions (cron in UTC, or one run at a time).

The cron expression and the time are checked before anything is sent.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.cli.output import (
    CliUsageError,
    clip,
    crud,
    emit,
    fields,
    out,
    print_json,
    raw_of,
    table,
    with_id,
)

if TYPE_CHECKING:
    from bot.core.devin_org import Schedule
    from bot.devin.client import DevinClient


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    cmds = crud(sub, "schedules", "scheduled sessions")
    cmds.add_parser("list", parents=[common], help="all schedules").set_defaults(api=list_)
    with_id(cmds, "get", common, "one schedule").set_defaults(api=get)
    p = cmds.add_parser("create", parents=[common], help="create a schedule")
    _options(p)
    p.set_defaults(api=create)
    p = with_id(cmds, "update", common, "change a schedule (only the flags given)")
    _options(p)
    enabled = p.add_mutually_exclusive_group()
    enabled.add_argument("--enable", dest="enabled", action="store_true", default=None)
    enabled.add_argument("--disable", dest="enabled", action="store_false")
    p.set_defaults(api=update)
    with_id(cmds, "delete", common, "delete a schedule").set_defaults(api=delete)


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name")
    p.add_argument("--prompt")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--cron", metavar="EXPR", help="recurring, UTC, e.g. '0 9 * * 1-5'")
    when.add_argument("--at", metavar="ISO", help="one run, e.g. 2030-01-31T09:00:00Z")
    p.add_argument("--playbook", metavar="ID")
    p.add_argument("--tag", action="append", help="repeatable")
    p.add_argument("--agent", help="devin (default), data_analyst, ...")
    p.add_argument("--notify", choices=("always", "failure", "never"))
    p.add_argument("--interval-count", type=int, metavar="N", help="run every N cron matches")


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields the flags give, validated; absent flags are left out."""
    from bot.core.validation import cron_error

    values: dict[str, Any] = {
        "playbook_id": args.playbook,
        "tags": args.tag,
        "agent": args.agent,
        "notify_on": args.notify,
        "interval_count": args.interval_count,
    }
    if args.interval_count is not None and args.interval_count < 1:
        raise CliUsageError("--interval-count must be at least 1")
    if args.cron is not None:
        problem = cron_error(args.cron)
        if problem:
            raise CliUsageError(problem)
        values.update(schedule_type="recurring", frequency=args.cron)
    if args.at is not None:
        values.update(schedule_type="one_time", scheduled_at=_iso_time(args.at))
    return {k: v for k, v in values.items() if v is not None}


def _iso_time(text: str) -> str:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliUsageError(
            f"--at {text!r} is not an ISO 8601 time, e.g. 2030-01-31T09:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise CliUsageError(f"--at {text!r} needs a time zone, e.g. a trailing Z for UTC")
    if when <= datetime.now(UTC):
        raise CliUsageError(f"--at {text!r} is in the past")
    return when.isoformat()


def list_(args: argparse.Namespace, client: DevinClient) -> int:
    found = list(client.iter_schedules())
    if args.json:
        print_json([raw_of(s) for s in found])
        return 0
    table(
        ("ID", "NAME", "WHEN", "ENABLED", "LAST RUN", "FAILURES"),
        (
            (
                s.schedule_id,
                clip(s.name),
                _when(s),
                "yes" if s.enabled else "no",
                s.last_executed_at or "never",
                s.consecutive_failures or "",
            )
            for s in found
        ),
        empty="no schedules",
    )
    return 0


def get(args: argparse.Namespace, client: DevinClient) -> int:
    s = client.get_schedule(args.id)
    if args.json:
        print_json(raw_of(s))
        return 0
    fields(
        [
            ("id", s.schedule_id),
            ("name", s.name),
            ("when", _when(s)),
            ("enabled", "yes" if s.enabled else "no"),
            ("agent", s.agent),
            ("notify", s.notify_on),
            ("playbook", s.playbook_id),
            ("tags", ", ".join(s.tags)),
            ("last run", s.last_executed_at),
            ("last error", s.last_error_message),
            ("failures", s.consecutive_failures or None),
        ]
    )
    out()
    out(s.prompt)
    return 0


def create(args: argparse.Namespace, client: DevinClient) -> int:
    values = _fields(args)
    missing = [f for f, v in (("--name", args.name), ("--prompt", args.prompt)) if not v]
    if args.cron is None and args.at is None:
        missing.append("--cron or --at")
    if missing:
        raise CliUsageError("schedules create needs " + ", ".join(missing))
    schedule = client.create_schedule(args.name, args.prompt, **values)
    return _emit(args, schedule, "created schedule", schedule.schedule_id)


def update(args: argparse.Namespace, client: DevinClient) -> int:
    values = _fields(args)
    for key, value in (("name", args.name), ("prompt", args.prompt), ("enabled", args.enabled)):
        if value is not None:
            values[key] = value
    if not values:
        raise CliUsageError("schedules update: give at least one flag to change")
    schedule = client.update_schedule(args.id, **values)
    return _emit(args, schedule, "updated schedule", schedule.schedule_id or args.id)


def delete(args: argparse.Namespace, client: DevinClient) -> int:
    return _emit(args, client.delete_schedule(args.id), "deleted schedule", args.id)


def _emit(args: argparse.Namespace, obj: Schedule | None, verb: str, ident: str) -> int:
    return emit(args, obj, verb, ident)


def _when(s: Schedule) -> str:
    if s.schedule_type == "one_time" or (s.scheduled_at and not s.frequency):
        return f"once at {s.scheduled_at}"
    return f"cron {s.frequency}" if s.frequency else ""
