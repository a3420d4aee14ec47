"""Small helpers shared by the route modules."""

from __future__ import annotations

from typing import Any, cast

from flask import current_app, jsonify, request
from flask.wrappers import Response

from bot.emulator.pagination import PageRequest, parse_cursor_page
from bot.emulator.state import Emulator
from bot.emulator.validation import Query, parse_json_body

EXTENSION = "devin_emulator"


def emulator() -> Emulator:
    return cast(Emulator, current_app.extensions[EXTENSION])


def base_url() -> str:
    configured = emulator().config.public_url
    return (configured or request.host_url).rstrip("/")


def body(*, required: bool = True) -> dict[str, Any]:
    return parse_json_body(request.get_data(cache=True), required=required)


def query() -> Query:
    return Query(request.args)


def cursor_page(q: Query) -> PageRequest:
    config = emulator().config
    return parse_cursor_page(q, config.page_size_default, config.page_size_max)


def ok(payload: Any, status: int = 200) -> Response:
    resp = jsonify(payload)
    resp.status_code = status
    return resp
