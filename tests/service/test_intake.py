"""Webhook intake: signature, size, headers and JSON checks, de-duplication, and what the
Flask app answers for good and bad deliveries (in-process; no GitHub or Devin call)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.service import intake
from bot.service.app import create_app, runtime_of, thread_state_change
from bot.service.queue import LocalQueue
from bot.service.settings import Settings
from bot.store.facade import Store
from tests.support.payloads import load_payload

SECRET = "It's a Secret to Everybody"
BOT = "devin-bridge[bot]"


# --- pure checks ----------------------------------------------------------------------------


def test_github_documented_test_vector() -> None:
    # docs.github.com "Validating webhook deliveries": the published example.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert intake.signature(SECRET, b"Hello, World!") == expected
    assert intake.signature_ok(SECRET, b"Hello, World!", expected)
    assert not intake.signature_ok(SECRET, b"Hello, World?", expected)
    assert not intake.signature_ok("another secret", b"Hello, World!", expected)


def _headers(body: bytes, **extra: str) -> dict[str, str]:
    headers = {
        "X-Hub-Signature-256": intake.signature(SECRET, body),
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Hook-ID": "292430182",
        "Content-Type": "application/json",
    }
    headers.update(extra)
    return headers


def test_verify_accepts_a_signed_json_delivery_with_any_header_case() -> None:
    body = b'{"action": "created", "zen": "Keep it logically awesome."}'
    headers = {k.lower(): v for k, v in _headers(body).items()}
    checked = intake.verify(headers, body, SECRET)
    assert isinstance(checked, intake.Delivery)
    assert (checked.event, checked.action, checked.hook_id) == (
        "issue_comment",
        "created",
        "292430182",
    )
    assert checked.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"X-Hub-Signature-256": ""}, 401, "missing"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401, "does not match"),
        ({"X-Hub-Signature-256": "sha1=0123"}, 401, "does not match"),
        ({"X-Hub-Signature-256": "sha256=\u00e9\u00e9"}, 401, "does not match"),
        ({"X-GitHub-Event": ""}, 400, "X-GitHub-Event"),
        ({"X-GitHub-Delivery": ""}, 400, "X-GitHub-Delivery"),
        ({"X-GitHub-Delivery": "x" * 500}, 400, "X-GitHub-Delivery"),
    ],
)
def test_verify_refuses_bad_headers(change: dict[str, str], status: int, words: str) -> None:
    body = b'{"action": "created"}'
    headers = _headers(body)
    headers.update(change)
    checked = intake.verify(headers, body, SECRET)
    assert isinstance(checked, intake.Rejection)
    assert checked.status == status
    assert words in checked.reason


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"action": "created"', b"[1, 2, 3]", b'"text"', b"\xff\xfe{}", b"[" * 100_000],
)
def test_verify_refuses_bodies_that_are_not_a_json_object(body: bytes) -> None:
    checked = intake.verify(_headers(body), body, SECRET)
    assert isinstance(checked, intake.Rejection)
    assert checked.status == 400


def test_verify_checks_size_before_anything_else() -> None:
    body = b"{}" * 20
    checked = intake.verify({}, body, SECRET, max_bytes=10)
    assert checked == intake.Rejection(413, "the body is larger than 10 bytes")


def test_verify_reads_form_encoded_deliveries() -> None:
    body = b"payload=%7B%22action%22%3A%22created%22%7D"
    headers = _headers(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    checked = intake.verify(headers, body, SECRET)
    assert isinstance(checked, intake.Delivery)
    assert checked.action == "created"


def test_hook_id_falls_back_to_the_installation_target_header() -> None:
    body = b"{}"
    headers = _headers(body)
    del headers["X-GitHub-Hook-ID"]
    headers["X-GitHub-Hook-Installation-Target-ID"] = "79929171"
    checked = intake.verify(headers, body, SECRET)
    assert isinstance(checked, intake.Delivery)
    assert checked.hook_id == "79929171"


def test_closing_and_reopening_threads_is_recognised() -> None:
    repo = {"full_name": "o/r"}
    assert thread_state_change(
        "issues", {"action": "closed", "issue": {"number": 3}, "repository": repo}
    ) == ("o/r#3", True)
    assert thread_state_change(
        "pull_request", {"action": "reopened", "number": 4, "pull_request": {}, "repository": repo}
    ) == ("o/r#4", False)
    assert (
        thread_state_change(
            "issues", {"action": "opened", "issue": {"number": 3}, "repository": repo}
        )
        is None
    )
    assert (
        thread_state_change(
            "issues", {"action": "closed", "issue": {"number": "3"}, "repository": repo}
        )
        is None
    )


# --- the Flask app ----------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    settings = Settings(
        devin_api_key="cog_test_key_123456",
        devin_org_id="org-test",
        github_token="ghp_test_token_123456",
        github_webhook_secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
        poll_interval=0.2,
        bot_login=BOT,
        github_write_spacing=0,
    )
    return create_app(
        settings, store=Store(settings.database_url), queue=LocalQueue(), max_body_bytes=64 * 1024
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _post(
    client: FlaskClient, event: str, payload: Any, *, delivery: str = "d-1", **headers: str
) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = _headers(body, **{"X-GitHub-Event": event, "X-GitHub-Delivery": delivery})
    sent.update(headers)
    return client.post("/webhook", data=body, headers=sent)


def _jobs(app: Flask) -> dict[str, int]:
    return dict(runtime_of(app).store.counts()["jobs"])


def test_a_command_comment_is_queued_once_and_answered_202(app: Flask, client: FlaskClient) -> None:
    payload = load_payload("issue_comment.created")
    payload["comment"]["body"] = "/devin fix the flaky test"
    first = _post(client, "issue_comment", payload, delivery="d-1")
    assert first.status_code == 202
    assert first.json["status"] == "accepted"
    # The same delivery again (GitHub's "Redeliver"), three times: nothing new.
    for _ in range(3):
        again = _post(client, "issue_comment", payload, delivery="d-1")
        assert again.status_code == 200
        assert again.json["status"] == "duplicate"
    # A new GUID for the same comment (e.g. a second hook): still one job.
    other = _post(client, "issue_comment", payload, delivery="d-2")
    assert other.status_code == 200
    assert _jobs(app) == {"queued": 1}


def test_the_same_guid_from_another_hook_is_a_separate_delivery(
    app: Flask, client: FlaskClient
) -> None:
    payload = load_payload("issue_comment.created")
    payload["comment"]["body"] = "/devin hello"
    assert _post(client, "issue_comment", payload, **{"X-GitHub-Hook-ID": "1"}).status_code == 202
    second = _post(client, "issue_comment", payload, **{"X-GitHub-Hook-ID": "2"})
    assert second.status_code == 200  # recorded for hook 2, but the trigger is the same
    assert _jobs(app) == {"queued": 1}


def test_ping_and_ignored_events_answer_200_without_a_job(app: Flask, client: FlaskClient) -> None:
    assert _post(client, "ping", load_payload("ping")).status_code == 200
    plain = load_payload("issue_comment.created")
    plain["comment"]["body"] = "Looks good to me"
    answer = _post(client, "issue_comment", plain, delivery="d-plain")
    assert answer.status_code == 200
    assert answer.json["status"] == "ignored"
    assert _post(client, "star", {"action": "created"}, delivery="d-star").status_code == 200
    assert _jobs(app) == {}


def test_the_bots_own_comments_and_edits_are_ignored(app: Flask, client: FlaskClient) -> None:
    own = load_payload("issue_comment.created")
    own["comment"]["body"] = "/devin this came from the bot"
    own["comment"]["user"] = {"login": BOT, "type": "Bot"}
    own["sender"] = {"login": BOT, "type": "Bot"}
    assert _post(client, "issue_comment", own, delivery="d-own").json["status"] == "ignored"
    edit = load_payload("issue_comment.edited")
    edit["comment"]["body"] = "<!-- devin-bridge:session=abc -->\n/devin status shown"
    edit["sender"] = {"login": BOT, "type": "Bot"}
    assert _post(client, "issue_comment", edit, delivery="d-edit").json["status"] == "ignored"
    assert _jobs(app) == {}


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"action":"created"}', {"X-Hub-Signature-256": ""}, 401),
        (b'{"action":"created"}', {"X-Hub-Signature-256": "sha256=" + "ab" * 32}, 401),
        (b"definitely not json", {}, 400),
        (b'{"action": "created", "comment": {"bo', {}, 400),
        (b"[]", {}, 400),
        (b'{"action":"created"}', {"X-GitHub-Event": ""}, 400),
        (b"{" * 70_000, {}, 413),
    ],
)
def test_bad_input_gets_a_clear_answer_never_500(
    client: FlaskClient, body: bytes, headers: dict[str, str], status: int
) -> None:
    answer = _post(client, "issue_comment", body, **headers)
    assert answer.status_code == status
    assert answer.json["status"] in ("refused", "too_large")


def test_a_body_truncated_after_signing_is_refused(client: FlaskClient) -> None:
    body = json.dumps(load_payload("issue_comment.created")).encode()
    headers = _headers(body)
    answer = client.post("/webhook", data=body[: len(body) // 2], headers=headers)
    assert answer.status_code == 401


def test_payloads_of_the_wrong_shape_never_crash(app: Flask, client: FlaskClient) -> None:
    weird: list[Any] = [
        {},
        {"action": None},
        {"action": "created", "comment": "text", "issue": [], "repository": 5},
        {
            "action": "created",
            "comment": {"id": "7", "body": None},
            "repository": {"full_name": "a/b"},
        },
        {"action": "closed", "issue": {"number": True}, "repository": {"full_name": "a/b"}},
    ]
    for n, payload in enumerate(weird):
        for event in ("issue_comment", "issues", "pull_request_review_comment"):
            answer = _post(client, event, payload, delivery=f"w-{event}-{n}")
            assert answer.status_code == 200, (event, payload, answer.json)


def _deliveries(app: Flask) -> dict[str, int]:
    return dict(runtime_of(app).store.counts()["deliveries"])


def _closed(app: Flask, thread: str) -> bool | None:
    row = runtime_of(app).store.thread(thread)
    return None if row is None else bool(row["closed"])


def test_ignored_events_are_answered_without_a_write(app: Flask, client: FlaskClient) -> None:
    plain = load_payload("issue_comment.created")
    plain["comment"]["body"] = "Looks good to me"
    db = Path(runtime_of(app).store.engine.url.database or "")
    runtime_of(app).store.dispose()
    before = {p.name: p.stat().st_mtime_ns for p in db.parent.iterdir()}
    for delivery in ("d-1", "d-1", "d-2"):  # a redelivery is just as harmless
        answer = _post(client, "issue_comment", plain, delivery=delivery)
        assert (answer.status_code, answer.json["status"]) == (200, "ignored")
    opened = load_payload("issues.opened")
    assert _post(client, "issues", opened, delivery="d-3").json["status"] == "ignored"
    after = {p.name: p.stat().st_mtime_ns for p in db.parent.iterdir()}
    assert after == before  # nothing written: not the database, not its WAL
    assert _deliveries(app) == {} and _jobs(app) == {}
    text = client.get("/metrics").get_data(as_text=True)  # still counted, in memory
    assert (
        'devin_bridge_webhook_deliveries_total{event="issue_comment",outcome="ignored"} 3' in text
    )


def test_a_trigger_is_recorded_and_its_redeliveries_are_not(
    app: Flask, client: FlaskClient
) -> None:
    payload = load_payload("issue_comment.created")
    payload["comment"]["body"] = "/devin go"
    assert _post(client, "issue_comment", payload, delivery="t-1").status_code == 202
    assert _post(client, "issue_comment", payload, delivery="t-1").json["status"] == "duplicate"
    assert _post(client, "issue_comment", payload, delivery="t-2").json["status"] == "duplicate"
    assert _deliveries(app) == {"queued": 1, "duplicate": 1}
    assert _jobs(app) == {"queued": 1}


def test_closing_a_thread_the_store_never_saw_writes_nothing(
    app: Flask, client: FlaskClient
) -> None:
    payload = {"action": "closed", "issue": {"number": 12}, "repository": {"full_name": "o/r"}}
    assert _post(client, "issues", payload, delivery="close-1").status_code == 200
    assert _closed(app, "o/r#12") is None
    assert _deliveries(app) == {}


def test_closing_a_thread_with_a_waiting_job_is_remembered(app: Flask, client: FlaskClient) -> None:
    trigger = load_payload("issue_comment.created")
    trigger["comment"]["body"] = "/devin go"
    trigger["issue"]["state"] = "open"
    assert _post(client, "issue_comment", trigger, delivery="t-1").status_code == 202
    thread = f"{trigger['repository']['full_name']}#{trigger['issue']['number']}"
    assert _closed(app, thread) is None  # an open issue: nothing to note yet
    closed = {
        "action": "closed",
        "issue": {"number": trigger["issue"]["number"]},
        "repository": trigger["repository"],
    }
    assert _post(client, "issues", closed, delivery="close-1").status_code == 200
    assert _closed(app, thread) is True


def test_close_and_reopen_of_a_known_thread_take_effect_once(
    app: Flask, client: FlaskClient
) -> None:
    store = runtime_of(app).store
    store.set_thread_closed("o/r#7", False)
    payload = {"action": "closed", "issue": {"number": 7}, "repository": {"full_name": "o/r"}}
    assert _post(client, "issues", payload, delivery="c-1").status_code == 200
    assert _closed(app, "o/r#7") is True
    updated = store.thread("o/r#7")
    # The redelivery changes nothing (not even the row's time).
    assert _post(client, "issues", payload, delivery="c-1").status_code == 200
    assert store.thread("o/r#7") == updated
    reopened = {**payload, "action": "reopened"}
    assert _post(client, "issues", reopened, delivery="r-1").status_code == 200
    assert _closed(app, "o/r#7") is False
    assert _deliveries(app) == {}


def test_a_trigger_on_a_closed_issue_closes_its_thread(app: Flask, client: FlaskClient) -> None:
    trigger = load_payload("issue_comment.created")
    trigger["comment"]["body"] = "/devin look at this after all"
    trigger["issue"]["state"] = "closed"
    assert _post(client, "issue_comment", trigger, delivery="t-1").status_code == 202
    thread = f"{trigger['repository']['full_name']}#{trigger['issue']['number']}"
    assert _closed(app, thread) is True


def test_one_info_line_per_trigger_and_debug_for_ignored(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="devin_bridge.webhook")
    trigger = load_payload("issue_comment.created")
    trigger["comment"]["body"] = "/devin fix it"
    plain = load_payload("issue_comment.created")
    plain["comment"]["body"] = "no command here"
    _post(client, "issue_comment", trigger, delivery="t-1")
    _post(client, "issue_comment", plain, delivery="p-1")
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    repo = trigger["repository"]["full_name"]
    number = trigger["issue"]["number"]
    assert len(info) == 1, info
    assert info[0].startswith(
        f"delivery=t-1 event=issue_comment.created repo={repo} thread={repo}#{number} job=1 "
    )
    assert (
        len(debug) == 1 and debug[0].startswith("delivery=p-1 ") and "outcome=ignored" in debug[0]
    )
    for line in info + debug:
        assert SECRET not in line and "fix it" not in line and "no command" not in line


def test_healthz_and_metrics(app: Flask, client: FlaskClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json["store"]["ok"] and health.json["queue"]["kind"] == "in-process"
    _post(client, "ping", {"zen": "hi"})
    _post(client, "issue_comment", b"nope", delivery="bad")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'devin_bridge_webhook_deliveries_total{event="ping",outcome="pong"} 1' in text
    assert 'devin_bridge_webhook_deliveries_total{event="issue_comment",outcome="400"} 1' in text
    assert "# TYPE devin_bridge_poll_lag_seconds gauge" in text


def test_unknown_paths_and_methods_are_plain_errors(client: FlaskClient) -> None:
    assert client.get("/webhook").status_code == 405
    assert client.get("/nothing-here").status_code == 404


# --- lone surrogates ------------------------------------------------------------------------


def _string_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every string value in a payload, and of every key (marked "<key>")."""
    found: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*path, key, "<key>"))
            found += _string_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _string_paths(value, (*path, i))
    elif isinstance(node, str):
        found.append(path)
    return found


def _with_surrogate(payload: Any, path: tuple[Any, ...]) -> Any:
    data = json.loads(json.dumps(payload))
    *parents, last = path
    node = data
    if last == "<key>":
        *parents, key = parents
        for step in parents:
            node = node[step]
        node[key + "\udfff"] = node.pop(key)
        return data
    for step in parents:
        node = node[step]
    node[last] = node[last] + "\udfff"
    return data


def test_a_lone_surrogate_in_any_string_is_refused_with_400_and_nothing_is_stored(
    app: Flask, client: FlaskClient
) -> None:
    payload = load_payload("issue_comment.created")
    payload["comment"]["body"] = "/devin fix the flaky test"
    paths = _string_paths(payload)
    assert len(paths) > 100
    for n, path in enumerate(paths):
        bad = _with_surrogate(payload, path)
        body = json.dumps(bad).encode()  # ASCII JSON with a `\udfff` escape: valid JSON
        assert b"\\udfff" in body
        answer = _post(client, "issue_comment", body, delivery=f"s-{n}")
        assert answer.status_code == 400, path
        assert "surrogate" in answer.json["message"]
    counts = runtime_of(app).store.counts()
    assert counts["jobs"] == {} and counts["deliveries"] == {}
    # A proper pair (an emoji written as two escapes) is text, and accepted.
    payload["comment"]["body"] = "/devin fix it \ud83d\ude80"
    assert _post(client, "issue_comment", payload, delivery="ok").status_code == 202
