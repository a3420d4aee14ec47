"""Admin endpoints under /_emulator/ (no auth): configure and inspect a running emulator."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.wrappers import Response

from bot.emulator.errors import ApiError, field_error
from bot.emulator.validation import Fields
from bot.emulator.web import body, emulator, ok

ENDPOINTS = {
    "GET /_emulator/": "this help",
    "POST /_emulator/reset": "forget all sessions, resources, faults, log and custom scenarios",
    "GET /_emulator/scenario": "the default scenario and all known scenarios",
    "POST /_emulator/scenario": 'set the default for new sessions: {"name": "finish"} or '
    '{"steps": [...], "on_message": [...], "name"?: "mine"}',
    "GET|POST /_emulator/scenarios": "list / register a named scenario without making it default",
    "GET|POST|DELETE /_emulator/faults": "list / add / clear injected faults",
    "GET|DELETE /_emulator/requests": "request log, oldest first: {id, ts, method, path, query "
    "(lists), json (secret values masked), status (null if dropped), route, fault, dropped, "
    "duration_ms}; the Authorization header is never logged / clear it",
    "GET|DELETE /_emulator/stats": "request counts by route template and status / reset them",
    "GET|PATCH /_emulator/sessions/<id>": "session with engine state / set raw fields",
    "POST /_emulator/sessions/<id>/advance": '{"steps": n} apply n steps now; {"polls": n} '
    "simulate n GETs",
    "POST /_emulator/schedules/<id>/run": "start the session the schedule would start now",
    "GET /_emulator/blobs/<token>": "presigned attachment download (token valid 60 s)",
}

FAULT_FIELDS = {
    "method": "HTTP method to match (default: any)",
    "path": "regular expression, full match against the path (default: .*)",
    "status": "answer with this status (problem/detail body unless `body` is given)",
    "retry_after": "Retry-After header value in seconds",
    "delay": "seconds to sleep",
    "phase": '"before" (default: nothing is processed) or "after" (processed, then the '
    "answer is delayed/replaced: a lost response)",
    "drop": "close the TCP connection without an HTTP response",
    "body": "JSON or text body to send instead",
    "times": "how many times it fires (default: until cleared)",
    "skip": "let this many matching requests through first",
}

CHOICES = {
    "session_id": "bare 32-hex by default (config session_id_form); paths accept both "
    "devin-<hex> and <hex>",
    "timestamps": "integer epoch seconds; schedules use ISO-8601 strings",
    "message_source": "devin | user; the prompt is the first (user) message",
    "error_body": "RFC 9457 problem+json with `errors` on 422 (config error_style='detail' "
    "for the FastAPI shapes)",
    "rate_limits": "none by default; inject 429s with Retry-After through /_emulator/faults",
    "permissions": "not modelled: the one key may do everything",
    "schedules_pagination": "limit/offset (default limit 200) or first/after; agent "
    "'advanced' accepted",
    "session_attachments": "bare JSON array (config attachments_envelope for {items})",
    "status_values": "'creating' and 'user_usage_limit_exceeded' accepted in scenarios and "
    "PATCH; devin_mode ultra|fusion accepted",
    "devin_id_query": "on create: parent session (sets parent_session_id / child_session_ids); "
    "ignored on list",
    "org_id_in_path": "always required; another org id gives 404",
    "polling": "a GET of the session, and a list read of the sessions it returns (before "
    "the created_/updated_ bounds are applied), advance a scenario by one poll",
    "tags_filter": "list ?tags=a&tags=b matches sessions having ALL the tags; other list "
    "filters match ANY value",
    "time_filters": "created_/updated_ after/before bounds are inclusive",
    "unknown_playbook": "422 naming playbook_id (config strict_playbook_ids)",
    "message_conflicts": "409 for exited/errored/archived sessions and usage suspensions; "
    "terminate twice: 400 'Devin session already exited'",
    "end_cursor": "null on the last page (config end_cursor_on_last_page)",
    "create_response": "status_detail and structured_output omitted (config "
    "omit_status_detail_on_create)",
}


def help_page() -> Response:
    emu = emulator()
    config = emu.config
    return ok(
        {
            "emulator": "Devin API v3",
            "base_paths": ["/v3", "/v3beta1"],
            "org_id": config.org_id,
            "session_id_form": config.session_id_form,
            "error_style": config.error_style,
            "auth": "Authorization: Bearer <the emulator's key>; /_emulator/* needs none",
            "scenario_selection": "tag emulator-scenario:<name>, or a prompt line "
            "[emulator-scenario: <name>], else the default scenario",
            "endpoints": ENDPOINTS,
            "fault_fields": FAULT_FIELDS,
            "choices": CHOICES,
            **emu.scenarios(),
        }
    )


def reset() -> Response:
    emulator().reset()
    return ok({"status": "reset"})


def get_scenarios() -> Response:
    return ok(emulator().scenarios())


def set_scenario() -> Response:
    return ok(emulator().set_default_scenario(body()))


def register_scenario() -> Response:
    data = body()
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise field_error(("body", "name"), "Field required", "missing")
    return ok(emulator().register_scenario(data))


def list_faults() -> Response:
    return ok(emulator().faults.describe())


def add_fault() -> Response:
    return ok(emulator().add_fault(body()))


def clear_faults() -> Response:
    emulator().faults.clear()
    return ok({"status": "cleared"})


def list_requests() -> Response:
    return ok(emulator().requests())


def clear_requests() -> Response:
    emulator().log.clear()
    return ok({"status": "cleared"})


def get_stats() -> Response:
    return ok(emulator().stats())


def reset_stats() -> Response:
    emulator().log.reset_counters()
    return ok({"status": "cleared"})


def get_session(devin_id: str) -> Response:
    return ok(emulator().session_debug(devin_id))


def patch_session(devin_id: str) -> Response:
    return ok(emulator().patch_session(devin_id, body()))


def advance_session(devin_id: str) -> Response:
    f = Fields(body(required=False))
    steps = f.integer("steps", ge=0)
    polls = f.integer("polls", ge=0)
    f.check()
    if steps is None and polls is None:
        steps = 1
    return ok(emulator().advance(devin_id, steps=steps or 0, polls=polls or 0))


def run_schedule(schedule_id: str) -> Response:
    return ok(emulator().run_schedule(schedule_id))


def get_blob(token: str) -> Response:
    found = emulator().blob(token)
    if found is None:
        raise ApiError(403, "Request has expired or the signature is invalid")
    data, content_type, name = found
    resp = Response(data, mimetype=content_type)
    resp.headers["Content-Disposition"] = f'attachment; filename="{_header_safe(name)}"'
    return resp


def _header_safe(name: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else "_" for c in name)


def build_blueprint() -> Blueprint:
    bp = Blueprint("emulator_admin", __name__, url_prefix="/_emulator")
    routes: list[tuple[str, Any, list[str]]] = [
        ("/", help_page, ["GET"]),
        ("/reset", reset, ["POST"]),
        ("/scenario", get_scenarios, ["GET"]),
        ("/scenario", set_scenario, ["POST"]),
        ("/scenarios", get_scenarios, ["GET"]),
        ("/scenarios", register_scenario, ["POST"]),
        ("/faults", list_faults, ["GET"]),
        ("/faults", add_fault, ["POST"]),
        ("/faults", clear_faults, ["DELETE"]),
        ("/requests", list_requests, ["GET"]),
        ("/requests", clear_requests, ["DELETE"]),
        ("/stats", get_stats, ["GET"]),
        ("/stats", reset_stats, ["DELETE"]),
        ("/sessions/<devin_id>", get_session, ["GET"]),
        ("/sessions/<devin_id>", patch_session, ["PATCH"]),
        ("/sessions/<devin_id>/advance", advance_session, ["POST"]),
        ("/schedules/<schedule_id>/run", run_schedule, ["POST"]),
        ("/blobs/<token>", get_blob, ["GET"]),
    ]
    for path, view, methods in routes:
        endpoint = f"{view.__name__}_{'_'.join(methods).lower()}"
        bp.add_url_rule(path, endpoint=endpoint, view_func=view, methods=methods)
    return bp
