"""Schedules (reference §5): offset pagination (`limit`/`offset`, or `first`/`after`)."""

from __future__ import annotations

from flask import Blueprint
from flask.wrappers import Response

from bot.emulator.errors import FieldError, validation_error
from bot.emulator.pagination import PageRequest
from bot.emulator.schedule_rules import read_schedule_fields
from bot.emulator.web import body, cursor_page, emulator, ok, query


def list_schedules(org_id: str) -> Response:
    q = query()
    maximum = emulator().config.page_size_max
    if "limit" in q.args or "offset" in q.args or not ("first" in q.args or "after" in q.args):
        limit = q.integer("limit", maximum, ge=1, le=maximum) or maximum
        offset = q.integer("offset", 0, ge=0) or 0
        page = PageRequest(first=limit, offset=offset)
    else:
        page = cursor_page(q)
    q.check()
    return ok(emulator().resources.list_schedules(page))


def _check_playbook(fields: dict[str, object]) -> None:
    playbook_id = fields.get("playbook_id")
    emu = emulator()
    if (
        isinstance(playbook_id, str)
        and emu.config.strict_playbook_ids
        and not emu.has_playbook(playbook_id)
    ):
        raise validation_error(
            [FieldError(("body", "playbook_id"), f"Unknown playbook {playbook_id}", "value_error")]
        )


def create_schedule(org_id: str) -> Response:
    fields, f = read_schedule_fields(body(), partial=False)
    f.check()
    _check_playbook(fields)
    return ok(emulator().resources.create_schedule(fields))


def get_schedule(org_id: str, schedule_id: str) -> Response:
    return ok(emulator().resources.get_schedule(schedule_id))


def update_schedule(org_id: str, schedule_id: str) -> Response:
    fields, f = read_schedule_fields(body(), partial=True)
    f.check()
    _check_playbook(fields)
    return ok(emulator().resources.update_schedule(schedule_id, fields))


def delete_schedule(org_id: str, schedule_id: str) -> Response:
    return ok(emulator().resources.delete_schedule(schedule_id))


def register(bp: Blueprint) -> None:
    base = "/organizations/<org_id>/schedules"
    bp.add_url_rule(base, view_func=list_schedules, methods=["GET"])
    bp.add_url_rule(base, view_func=create_schedule, methods=["POST"])
    bp.add_url_rule(base + "/<schedule_id>", view_func=get_schedule, methods=["GET"])
    bp.add_url_rule(base + "/<schedule_id>", view_func=update_schedule, methods=["PATCH"])
    bp.add_url_rule(base + "/<schedule_id>", view_func=delete_schedule, methods=["DELETE"])
