"""Session endpoints: /v3/organizations/{org_id}/sessions[...] (reference §2)."""

from __future__ import annotations

from typing import Any

import jsonschema
from flask import Blueprint, request
from flask.wrappers import Response

from bot.emulator.errors import ApiError, FieldError, validation_error
from bot.emulator.ids import bare_session_id
from bot.emulator.scenarios import scenario_hint
from bot.emulator.session_inputs import NewSession, SessionFilter
from bot.emulator.validation import Fields, Query
from bot.emulator.web import base_url, body, cursor_page, emulator, ok, query

DEVIN_MODES = ("normal", "fast", "lite", "ultra", "fusion")
PLATFORMS = ("default", "inherit", "linux", "windows")
ORIGINS = (
    "webapp",
    "slack",
    "teams",
    "api",
    "linear",
    "jira",
    "scheduled",
    "automation",
    "cli",
    "desktop",
    "other",
)
MAX_SCHEMA_BYTES = 64 * 1024


def _external_refs(node: Any) -> bool:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return True
        return any(_external_refs(v) for v in node.values())
    if isinstance(node, list):
        return any(_external_refs(v) for v in node)
    return False


def check_output_schema(f: Fields, name: str = "structured_output_schema") -> dict[str, Any] | None:
    schema = f.obj(name, max_bytes=MAX_SCHEMA_BYTES)
    if schema is None:
        return None
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        f.error(name, f"Not a valid JSON Schema (Draft 7): {exc.message}", "value_error")
        return None
    if _external_refs(schema):
        f.error(name, "Schema must be self-contained (no external $ref)", "value_error")
    return schema


def _check_urls(f: Fields, name: str) -> list[str]:
    urls = f.str_list(name, item_min_len=1, item_max_len=2083) or []
    for i, url in enumerate(urls):
        if "://" not in url:
            f.error((name, i), "Input should be a valid URL", "url_parsing")
    return urls


def _check_session_secrets(f: Fields) -> None:
    for i, item in enumerate(f.obj_list("session_secrets") or []):
        key, value = item.get("key"), item.get("value")
        if not isinstance(key, str) or not 1 <= len(key) <= 256:
            f.error(("session_secrets", i, "key"), "key must be a string of 1..256 characters")
        if not isinstance(value, str) or len(value) > 65536:
            f.error(("session_secrets", i, "value"), "value must be a string of <= 65536 chars")
        if not isinstance(item.get("sensitive", True), bool):
            f.error(("session_secrets", i, "sensitive"), "Input should be a valid boolean")


def _new_session(data: dict[str, Any], parent_id: str | None) -> NewSession:
    f = Fields(data)
    prompt = f.string("prompt", required=True, nullable=False, min_len=1)
    title = f.string("title")
    tags = f.str_list("tags", max_items=50) or []
    playbook_id = f.string("playbook_id")
    for name in ("knowledge_ids", "secret_ids", "session_links"):
        f.str_list(name)
    repos = f.str_list("repos") or []
    _check_session_secrets(f)
    max_acu_limit = f.integer("max_acu_limit", gt=0)
    schema = check_output_schema(f)
    urls = _check_urls(f, "attachment_urls")
    create_as = f.string("create_as_user_id")
    devin_mode = f.enum("devin_mode", DEVIN_MODES)
    platform = f.string("platform")
    f.string("child_playbook_id")
    for name in ("structured_output_required", "bypass_approval", "resumable"):
        f.boolean(name)
    f.check()
    assert prompt is not None  # guaranteed by check()
    if platform is not None and platform not in PLATFORMS:
        raise ApiError(
            400, f"Unknown platform {platform!r}. Valid platforms: {', '.join(PLATFORMS)}"
        )
    emu = emulator()
    if playbook_id and emu.config.strict_playbook_ids and not emu.has_playbook(playbook_id):
        raise validation_error(
            [FieldError(("body", "playbook_id"), f"Unknown playbook {playbook_id}", "value_error")]
        )
    return NewSession(
        prompt=prompt,
        title=title,
        tags=tuple(tags),
        playbook_id=playbook_id,
        create_as_user_id=create_as,
        devin_mode=devin_mode,
        repos=tuple(repos),
        max_acu_limit=max_acu_limit,
        structured_output_schema=schema,
        attachment_urls=tuple(urls),
        scenario=scenario_hint(tags, prompt),
        parent_id=parent_id,
    )


def create_session(org_id: str) -> Response:
    parent = query().string("devin_id")
    return ok(emulator().create_session(_new_session(body(), parent)))


def _id_set(q: Query, name: str, *, sessions: bool = False) -> frozenset[str] | None:
    values = q.strings(name)
    if not values:
        return None
    return frozenset(bare_session_id(v) for v in values) if sessions else frozenset(values)


def list_sessions(org_id: str) -> Response:
    q = query()
    page = cursor_page(q)
    origins = _id_set(q, "origins")
    for origin in origins or ():
        if origin not in ORIGINS:
            q.error("origins", f"Input should be one of {', '.join(ORIGINS)}", "enum")
    flt = SessionFilter(
        session_ids=_id_set(q, "session_ids", sessions=True),
        tags=frozenset(q.strings("tags")),
        created_after=q.integer("created_after", None),
        created_before=q.integer("created_before", None),
        updated_after=q.integer("updated_after", None),
        updated_before=q.integer("updated_before", None),
        playbook_id=q.string("playbook_id"),
        origins=origins,
        schedule_id=q.string("schedule_id"),
        user_ids=_id_set(q, "user_ids"),
        service_user_ids=_id_set(q, "service_user_ids"),
        repo_names=_id_set(q, "repo_names"),
    )
    q.check()
    return ok(emulator().list_sessions(flt, page))


def get_session(org_id: str, devin_id: str) -> Response:
    # HEAD is routed here too but is not a poll.
    return ok(emulator().get_session(devin_id, poll=request.method == "GET"))


def terminate_session(org_id: str, devin_id: str) -> Response:
    q = query()
    archive = q.boolean("archive", False)
    q.check()
    return ok(emulator().terminate(devin_id, archive=archive))


def archive_session(org_id: str, devin_id: str) -> Response:
    return ok(emulator().archive(devin_id))


def send_message(org_id: str, devin_id: str) -> Response:
    f = Fields(body())
    text = f.string("message", required=True, nullable=False, min_len=1)
    urls = _check_urls(f, "attachment_urls")
    f.string("message_as_user_id")
    f.check()
    assert text is not None
    return ok(emulator().send_message(devin_id, text, urls))


def list_messages(org_id: str, devin_id: str) -> Response:
    q = query()
    page = cursor_page(q)
    q.check()
    return ok(emulator().list_messages(devin_id, page))


def get_tags(org_id: str, devin_id: str) -> Response:
    return ok(emulator().tags(devin_id))


def _tags_body() -> list[str]:
    f = Fields(body())
    if not f.present("tags"):
        f.error("tags", "Field required", "missing")
    tags = f.str_list("tags", max_items=50)
    f.check()
    return tags or []


def append_tags(org_id: str, devin_id: str) -> Response:
    return ok(emulator().set_tags(devin_id, _tags_body(), append=True))


def replace_tags(org_id: str, devin_id: str) -> Response:
    return ok(emulator().set_tags(devin_id, _tags_body(), append=False))


def list_session_attachments(org_id: str, devin_id: str) -> Response:
    emu = emulator()
    items = emu.session_attachments(devin_id, base_url())
    return ok({"items": items} if emu.config.attachments_envelope else items)


def generate_insights(org_id: str, devin_id: str) -> Response:
    return ok(emulator().generate_insights(devin_id))


def get_insights(org_id: str, devin_id: str) -> Response:
    return ok(emulator().insights(devin_id))


def register(bp: Blueprint) -> None:
    base = "/organizations/<org_id>/sessions"
    one = base + "/<devin_id>"
    bp.add_url_rule(base, view_func=list_sessions, methods=["GET"])
    bp.add_url_rule(base, view_func=create_session, methods=["POST"])
    bp.add_url_rule(one, view_func=get_session, methods=["GET"])
    bp.add_url_rule(one, view_func=terminate_session, methods=["DELETE"])
    bp.add_url_rule(one + "/archive", view_func=archive_session, methods=["POST"])
    bp.add_url_rule(one + "/messages", view_func=list_messages, methods=["GET"])
    bp.add_url_rule(one + "/messages", view_func=send_message, methods=["POST"])
    bp.add_url_rule(one + "/tags", view_func=get_tags, methods=["GET"])
    bp.add_url_rule(one + "/tags", view_func=append_tags, methods=["POST"])
    bp.add_url_rule(one + "/tags", view_func=replace_tags, methods=["PUT"])
    bp.add_url_rule(one + "/attachments", view_func=list_session_attachments, methods=["GET"])
    bp.add_url_rule(one + "/insights", view_func=get_insights, methods=["GET"])
    bp.add_url_rule(one + "/insights/generate", view_func=generate_insights, methods=["POST"])
