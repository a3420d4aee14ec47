"""Error bodies in the two shapes the Devin API has used (reference §7.1)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from flask import Response

from bot.emulator.config import ErrorStyle

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldError:
    """One Pydantic-style validation error."""

    loc: Loc
    msg: str
    type: str

    def to_json(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


@dataclass(eq=False)  # exceptions must stay hashable
class ApiError(Exception):
    """Raised by handlers; rendered by the app in the configured error style."""

    status: int
    detail: str
    errors: Sequence[FieldError] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


def validation_error(errors: Sequence[FieldError]) -> ApiError:
    shown = "; ".join(f"{'.'.join(str(p) for p in e.loc)}: {e.msg}" for e in errors[:5])
    return ApiError(422, f"Request validation failed: {shown}", errors)


def field_error(loc: Loc, msg: str, type_: str = "value_error") -> ApiError:
    return validation_error([FieldError(loc, msg, type_)])


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(
    style: ErrorStyle, status: int, detail: str, errors: Sequence[FieldError], instance: str
) -> dict[str, Any]:
    if style == "detail":
        if status == 422 and errors:
            return {"detail": [e.to_json() for e in errors]}
        return {"detail": detail}
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if status == 422:
        body["errors"] = [e.to_json() for e in errors]
    return body


def error_response(
    style: ErrorStyle,
    status: int,
    detail: str,
    *,
    instance: str,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = error_body(style, status, detail, errors, instance)
    mimetype = "application/problem+json" if style == "problem" else "application/json"
    resp = Response(json.dumps(body), status=status, mimetype=mimetype)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp
