"""The webhook service: a Flask application factory (`gunicorn 'bot.app:create_app()'`).

`POST /webhook` verifies, classifies and answers within milliseconds: only a trigger is
recorded (its delivery and job, de-duplicated), an ignored event is answered without a
write. The slow work (GitHub and Devin calls) runs in the background from the job.
`GET /healthz` reports store and queue reachability, `GET /metrics` Prometheus text.

`create_app` does no background work by itself: `devin-bridge serve` runs it in a
process of its own beside gunicorn (bot/service/background.py). Under plain gunicorn run
`devin-bridge worker` next to it, or use `-c python:bot.gunicorn_conf`, which starts the
in-process worker in each gunicorn worker after fork (post_worker_init).
(`background=True` starts it at once: only without --preload.)
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from bot.core import events
from bot.service import intake
from bot.service import logs as service_logging
from bot.service.codec import dump
from bot.service.deps import DepsFactory
from bot.service.feed_status import meta_float, ok_key
from bot.service.metrics import Metrics, render
from bot.service.queue import HEARTBEAT_KEY, JobQueue, trigger_job_thread
from bot.service.runtime import Runtime
from bot.service.settings import Settings, SettingsError
from bot.store.facade import NewJob, Store

log = logging.getLogger("devin_bridge.webhook")

EXTENSION = "devin_bridge"


def _background_health(runtime: Runtime) -> dict[str, Any]:
    """Seconds since background work anywhere in this deployment passed its chores, and
    since the change feed last completed a read (None: never, or the feed is off). The
    web process may do none of that work itself (`serve` runs it beside gunicorn)."""

    def age(key: str) -> float | None:
        try:
            seen = meta_float(runtime.store.get_meta(key))
        except sa.exc.SQLAlchemyError:
            return None
        return None if seen is None else round(max(0.0, time.time() - seen), 1)

    feed = runtime.feed_tag
    return {
        "background_seen_s": age(HEARTBEAT_KEY),
        "change_feed": {
            "on": feed is not None,
            "last_read_s": age(ok_key(feed)) if feed is not None else None,
        },
    }


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    queue: JobQueue | None = None,
    metrics: Metrics | None = None,
    factory: DepsFactory | None = None,
    max_body_bytes: int | None = None,
    background: bool = False,
) -> Flask:
    """The WSGI app. Reads the environment (through Settings) only when `settings` is None."""
    if settings is None:
        settings = Settings.from_env(os.environ)
        missing = settings.missing_for_service()
        if missing:  # e.g. under a plain `gunicorn 'bot.app:create_app()'`
            raise SettingsError(
                "devin-bridge cannot start: set " + ", ".join(missing) + " in the environment"
            )
    if not logging.getLogger().handlers:  # plain gunicorn: nobody configured logging
        service_logging.configure(settings.secrets())
    service_logging.install_filter(settings.secrets())
    runtime = Runtime.build(settings, store=store, queue=queue, metrics=metrics, factory=factory)
    limit = max_body_bytes or settings.max_body_bytes or intake.MAX_BODY_BYTES
    app = Flask("devin_bridge")
    # Werkzeug enforces this while reading the raw body too (answering 413).
    app.config["MAX_CONTENT_LENGTH"] = limit
    app.extensions[EXTENSION] = runtime
    _routes(app, runtime, limit)
    if background:
        runtime.start_background()
    return app


def runtime_of(app: Flask) -> Runtime:
    runtime = app.extensions[EXTENSION]
    assert isinstance(runtime, Runtime)
    return runtime


def _routes(app: Flask, runtime: Runtime, limit: int) -> None:
    @app.post("/webhook")
    def webhook() -> Response:
        hint = intake.printable_header(request.headers.get(intake.DELIVERY_HEADER))
        try:
            return _webhook(runtime, limit)
        except sa.exc.SQLAlchemyError as err:
            log.error("delivery %s: the store failed (%s)", hint or "?", type(err).__name__)
            return _answer(503, "unavailable", "the state store is unavailable; redeliver later")

    @app.get("/healthz")
    def healthz() -> Response:
        store_ok = runtime.store.ping()
        queue_ok = runtime.queue.ping()
        body = {
            "status": "ok" if store_ok and queue_ok else "degraded",
            "store": {"ok": store_ok},
            "queue": {"ok": queue_ok, "kind": runtime.queue.kind},
            "background": runtime.background_running,
            **(_background_health(runtime) if store_ok else {}),
        }
        response = jsonify(body)
        # Without the store nothing can be accepted; without Redis deliveries are still
        # stored and handed to RQ once it is back, so the replica stays in rotation.
        response.status_code = 200 if store_ok else 503
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        try:
            runtime.metrics.flush(runtime.store)
            text = render(runtime.store.counters(), runtime.store.counts())
        except sa.exc.SQLAlchemyError as err:
            log.error("metrics: the store failed (%s)", type(err).__name__)
            return Response("# the state store is unavailable\n", 503, mimetype="text/plain")
        return Response(text, 200, content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_: RequestEntityTooLarge) -> Response:
        runtime.metrics.delivery("unknown", "too_large")
        return _answer(413, "too_large", f"the body is larger than {limit} bytes")

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        code = err.code or 400
        return _answer(code, "error", err.description or err.name)

    @app.errorhandler(Exception)
    def internal(err: Exception) -> Response:
        hint = intake.printable_header(request.headers.get(intake.DELIVERY_HEADER))
        log.exception("internal error on %s (delivery %s)", request.path, hint or "-")
        return _answer(500, "internal", "internal error; see the service log")


def _webhook(runtime: Runtime, limit: int) -> Response:
    declared = request.content_length
    if declared is not None and declared > limit:
        runtime.metrics.delivery("unknown", "too_large")
        return _answer(413, "too_large", f"the body is larger than {limit} bytes")
    body = request.get_data(cache=False)
    if declared is not None and len(body) != declared:
        runtime.metrics.delivery("unknown", "400")
        return _answer(400, "refused", "the body ended before its Content-Length")
    # Only the headers verify reads (werkzeug's lookup ignores case): copying all of them
    # cost more than the rest of an ignored delivery's checks.
    headers = {name: request.headers.get(name, "") for name in intake.READ_HEADERS}
    checked = intake.verify(headers, body, runtime.settings.github_webhook_secret, max_bytes=limit)
    if isinstance(checked, intake.Rejection):
        event = intake.printable_header(request.headers.get(intake.EVENT_HEADER)) or "unknown"
        runtime.metrics.delivery(event if checked.status != 401 else "unknown", str(checked.status))
        log.info(
            "delivery %s refused (%d): %s",
            intake.printable_header(request.headers.get(intake.DELIVERY_HEADER)) or "-",
            checked.status,
            checked.reason,
        )
        return _answer(checked.status, "refused", checked.reason)
    return _accept(runtime, checked)


def _accept(runtime: Runtime, delivery: intake.Delivery) -> Response:
    started = time.monotonic()
    if delivery.event == "ping":
        runtime.metrics.delivery("ping", "pong")
        return _answer(200, "pong", "ping received", delivery.delivery_id)
    found = events.classify(delivery.event, delivery.payload, bot_login=runtime.bot_login())
    change = thread_state_change(delivery.event, delivery.payload)
    if isinstance(found, events.Ignored):
        return _ignore(runtime, delivery, found, change)
    job = NewJob(
        dedupe_key=found.dedupe_key,
        kind="trigger",
        thread_key=trigger_job_thread(found),
        payload=dump(found),
    )
    accepted = runtime.store.accept_delivery(
        hook_id=delivery.hook_id,
        delivery_id=delivery.delivery_id,
        event=delivery.event,
        action=delivery.action,
        outcome="accepted",
        job=job,
        thread_closed=change or _closed_subject(delivery, found),
        dispatch_ttl=runtime.queue.dispatch_ttl,
    )
    runtime.metrics.delivery(delivery.event, accepted.outcome)
    if accepted.outcome == "queued" and accepted.job_id is not None:
        try:
            runtime.queue.notify(accepted.job_id)
        except Exception as err:  # the job is stored: the dispatcher sends it later
            log.warning(
                "delivery %s: could not notify the queue (%s); job %d waits for the next pass",
                delivery.delivery_id,
                type(err).__name__,
                accepted.job_id,
            )
    log.info(
        "%s",
        fields(
            delivery=delivery.delivery_id,
            event=f"{delivery.event}.{delivery.action or '-'}",
            repo=found.repo,
            thread=found.thread or "-",
            job=accepted.job_id or "-",
            outcome=accepted.outcome,
            ms=f"{(time.monotonic() - started) * 1000:.1f}",
        ),
    )
    runtime.metrics.maybe_flush(runtime.store)
    if accepted.outcome == "queued":
        return _answer(202, "accepted", "the work is queued", delivery.delivery_id, accepted.job_id)
    if accepted.outcome == "seen":
        return _answer(200, "duplicate", "this delivery was received before", delivery.delivery_id)
    return _answer(200, accepted.outcome, "this trigger was accepted before", delivery.delivery_id)


def _ignore(
    runtime: Runtime,
    delivery: intake.Delivery,
    found: events.Ignored,
    change: tuple[str, bool] | None,
) -> Response:
    """An event that is no work: answered without recording it (a redelivery of it is
    just as harmless). Only a close or reopen the store knows about is written."""
    changed = change is not None and runtime.store.change_thread_state(*change)
    runtime.metrics.delivery(delivery.event, "ignored")
    if log.isEnabledFor(logging.DEBUG) or changed:
        log.log(
            logging.INFO if changed else logging.DEBUG,
            "%s",
            fields(
                delivery=delivery.delivery_id,
                event=f"{delivery.event}.{delivery.action or '-'}",
                outcome="ignored",
                thread=change[0] if change else "-",
                closed=("yes" if change[1] else "no") if change and changed else "-",
                reason=found.reason,
            ),
        )
    runtime.metrics.maybe_flush(runtime.store)
    return _answer(200, "ignored", found.reason, delivery.delivery_id)


def fields(**values: object) -> str:
    """key=value pairs for one log line; a value with blanks, quotes or `=` is quoted."""
    parts = []
    for key, value in values.items():
        text = str(value)
        if not text or any(c.isspace() or c in '"=\\' for c in text):
            text = json.dumps(text, ensure_ascii=True)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _closed_subject(delivery: intake.Delivery, found: events.Trigger) -> tuple[str, bool] | None:
    """A trigger on a closed issue or pull request: its thread is closed (the poller stops
    at the session's next settled state), also when the close event never reached us."""
    if found.thread is None:
        return None
    for key in ("issue", "pull_request"):
        item = delivery.payload.get(key)
        if isinstance(item, Mapping) and item.get("state") == "closed":
            return found.thread, True
    return None


def thread_state_change(event: str, payload: Mapping[str, Any]) -> tuple[str, bool] | None:
    """(thread, closed) when an issue or pull request was closed, merged or reopened."""
    if event not in ("issues", "pull_request"):
        return None
    action = payload.get("action")
    if action not in ("closed", "reopened"):
        return None
    repo = payload.get("repository")
    item = payload.get("issue" if event == "issues" else "pull_request")
    name = repo.get("full_name") if isinstance(repo, Mapping) else None
    number = item.get("number") if isinstance(item, Mapping) else None
    if number is None:
        number = payload.get("number")
    if not isinstance(name, str) or not isinstance(number, int) or isinstance(number, bool):
        return None
    return f"{name}#{number}", action == "closed"


def _answer(
    status: int,
    outcome: str,
    message: str,
    delivery_id: str | None = None,
    job_id: int | None = None,
) -> Response:
    body: dict[str, Any] = {"status": outcome, "message": message}
    if delivery_id:
        body["delivery"] = delivery_id
    if job_id is not None:
        body["job"] = job_id
    # json.dumps directly: Flask's jsonify costs several times more per answer.
    return Response(json.dumps(body), status, mimetype="application/json")
