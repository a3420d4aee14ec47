"""The Flask application factory: routes, auth, fault injection, request log, error bodies."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import Any

from flask import Blueprint, Flask, current_app, g, request
from flask.wrappers import Response
from werkzeug.exceptions import HTTPException

from bot.emulator import admin, api_misc, api_resources, api_schedules, api_sessions
from bot.emulator.config import EmulatorConfig
from bot.emulator.errors import ApiError, error_response
from bot.emulator.faults import Fault
from bot.emulator.requestlog import redact
from bot.emulator.state import Emulator
from bot.emulator.web import EXTENSION, emulator

API_PREFIXES = ("/v3", "/v3beta1")
_FAULT_DETAILS = {
    429: "Rate limit exceeded; wait and retry (emulated fault)",
    500: "Internal server error (emulated fault)",
    502: "Bad gateway (emulated fault)",
    503: "Service temporarily unavailable (emulated fault)",
    504: "Gateway timeout (emulated fault)",
}


def create_emulator_app(config: EmulatorConfig | None = None) -> Flask:
    """A fresh emulator app; its state is `app.extensions["devin_emulator"]`."""
    config = config or EmulatorConfig()
    app = Flask("bot.emulator", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False
    app.extensions[EXTENSION] = Emulator(config)

    api = Blueprint("devin_api", __name__)
    for module in (api_misc, api_sessions, api_resources, api_schedules):
        module.register(api)
    app.register_blueprint(api, url_prefix="/v3")
    app.register_blueprint(api, url_prefix="/v3beta1", name="devin_api_v3beta1")
    app.register_blueprint(admin.build_blueprint())

    app.before_request(_before_request)
    app.after_request(_after_request)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _is_api(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in API_PREFIXES)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    style = emulator().config.error_style
    return error_response(style, status, detail, instance=request.path, headers=headers)


def _before_request() -> Response | None:
    g.started = time.monotonic()
    if not _is_api(request.path):
        return None
    emu = emulator()
    fault = emu.take_fault(request.method, request.path, "before")
    if fault is not None:
        g.fault = fault
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            return _drop_connection()
        if fault.status is not None:
            return _fault_response(fault)
    _authenticate(emu.config)
    org_id = (request.view_args or {}).get("org_id")
    if org_id is not None and org_id != emu.config.org_id:
        raise ApiError(
            404, f"Organization {org_id} not found (this key belongs to {emu.config.org_id})"
        )
    return None


def _authenticate(config: EmulatorConfig) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": "Bearer"}
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing or invalid Authorization header", headers=challenge)
    if not config.accepts_key(token.strip()):
        raise ApiError(401, "Invalid or expired API key", headers=challenge)


def _drop_connection() -> Response:
    """Shut the socket so the client sees the connection close with no HTTP answer."""
    sock = request.environ.get("werkzeug.socket")
    if sock is None:
        return _error(502, "drop faults need the werkzeug server (devin-bridge emulator)")
    g.dropped = True
    # Logged before the socket closes: a client that retries at once must find this
    # attempt ahead of its retry in the request log.
    _record(emulator(), Response(b"", status=502))
    g.recorded = True
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    # werkzeug fails to write this and treats it as a dropped connection.
    return Response(b"", status=502)


def _fault_response(fault: Fault) -> Response:
    assert fault.status is not None
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        seconds = fault.retry_after
        headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    if fault.body is None:
        detail = _FAULT_DETAILS.get(fault.status, f"Emulated fault ({fault.status})")
        return _error(fault.status, detail, headers)
    if isinstance(fault.body, str):
        resp = Response(
            fault.body, status=fault.status, mimetype=fault.content_type or "text/plain"
        )
    else:
        resp = Response(
            json.dumps(fault.body),
            status=fault.status,
            mimetype=fault.content_type or "application/json",
        )
    resp.headers.update(headers)
    return resp


def _after_request(response: Response) -> Response:
    if not _is_api(request.path):
        return response
    emu = emulator()
    fault = emu.take_fault(request.method, request.path, "after")
    if fault is not None:
        g.fault = fault
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            response = _drop_connection()
        elif fault.status is not None:
            response = _fault_response(fault)
    if not g.get("recorded"):
        _record(emu, response)
    return response


def _logged_body() -> Any:
    """The request body for the log; never raises (the answer is already decided)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        return {"too_large_bytes": request.content_length}
    try:
        if request.mimetype.startswith("multipart/"):
            return {"files": [f.filename for f in request.files.values()]}
        raw = request.get_data(cache=True)
    except HTTPException:
        return {"unreadable": True}
    if not raw:
        return None
    try:
        return redact(json.loads(raw))
    except (ValueError, UnicodeDecodeError):
        return {"unparsed_bytes": len(raw)}


def _record(emu: Emulator, response: Response) -> None:
    rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    fault: Fault | None = g.get("fault")
    dropped = bool(g.get("dropped"))
    entry: dict[str, Any] = {
        "ts": time.time(),
        "method": request.method,
        "path": request.path,
        "query": {key: request.args.getlist(key) for key in request.args},
        "json": _logged_body(),
        "status": None if dropped else response.status_code,
        "route": rule,
        "dropped": dropped,
        "fault": fault.fault_id if fault is not None else None,
        "duration_ms": round((time.monotonic() - g.get("started", time.monotonic())) * 1000, 2),
    }
    emu.log.record(entry, f"{request.method} {rule}")


def _api_error(exc: ApiError) -> Response:
    return error_response(
        emulator().config.error_style,
        exc.status,
        exc.detail,
        instance=request.path,
        errors=exc.errors,
        headers=exc.headers,
    )


def _http_error(exc: HTTPException) -> Any:
    code = exc.code or 500
    if code < 400:  # routing redirects
        return exc.get_response()
    headers: dict[str, str] = {}
    if code == 404:
        detail = f"Not Found: no route for {request.method} {request.path}"
    elif code == 405:
        allowed = sorted(getattr(exc, "valid_methods", None) or [])
        headers["Allow"] = ", ".join(allowed)
        detail = f"Method {request.method} not allowed here; allowed: {', '.join(allowed)}"
    elif code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        detail = f"Request body too large (limit {limit} bytes)"
    else:
        detail = exc.description or exc.name
    return _error(code, detail, headers)


def _unexpected_error(exc: Exception) -> Response:
    current_app.logger.exception("emulator bug while handling %s %s", request.method, request.path)
    return _error(500, f"Internal emulator error ({type(exc).__name__})")
