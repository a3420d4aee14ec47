"""The Devin API v3 client over real HTTP against the emulator.

Every client method round-trips; pagination, both session-id forms, retries
(429 + Retry-After, 503 bursts, dropped connections), create-exactly-once,
error mapping, and that the key never shows up in any output.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask, jsonify, request

from bot.core.devin_models import Session, bare_session_id
from bot.devin.bodies import SessionRequest
from bot.devin.client import IDEMPOTENCY_TAG_PREFIX, DevinClient, RetryPolicy
from bot.devin.errors import (
    DevinAuthError,
    DevinBadRequest,
    DevinConfigError,
    DevinError,
    DevinForbidden,
    DevinNotFound,
    DevinRateLimited,
    DevinServerError,
    DevinUnavailable,
    DevinValidationError,
)
from bot.emulator import EmulatorConfig, create_emulator_app
from tests.support.servers import ServerThread, serve

KEY = "cog_SECRET_abc123xyz"
WRONG_KEY = "cog_SECRET_wrongkey999"
ORG = "org-emulator"
SESSIONS = f"/v3/organizations/{ORG}/sessions"


# --- fixtures -------------------------------------------------------------------------


@dataclass
class Emulator:
    """One running emulator and its admin endpoints (no auth needed there)."""

    url: str
    form: str = "bare"

    @property
    def api(self) -> str:
        return self.url + "/v3"

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        resp = requests.request(method, self.url + "/_emulator" + path, json=json, timeout=5)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def fault(self, **spec: Any) -> None:
        self.admin("POST", "/faults", spec)

    def log(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.admin("GET", "/requests")
            if (method is None or e["method"] == method) and (path is None or e["path"] == path)
        ]

    def settled_log(self, method: str, path: str, count: int) -> list[dict[str, Any]]:
        """The log once ``count`` matching requests are in it.

        A dropped or delayed request is logged only when its handler ends, which
        can be after the client has already given up on it.
        """
        deadline = time.monotonic() + 10
        while len(entries := self.log(method, path)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return entries

    def scenario(self, name: str) -> None:
        self.admin("POST", "/scenario", {"name": name})


@dataclass
class Sleeps:
    """The client's ``sleep``: records waits instead of sleeping."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[tuple[str, str], ServerThread]]:
    started: dict[tuple[str, str], ServerThread] = {}
    yield started
    for srv in started.values():
        srv.stop()


def _emulator(
    emulators: dict[tuple[str, str], ServerThread], form: str = "bare", style: str = "problem"
) -> Emulator:
    srv = emulators.get((form, style))
    if srv is None:
        config = EmulatorConfig(
            api_key=KEY,
            org_id=ORG,
            session_id_form=form,  # type: ignore[arg-type]
            error_style=style,  # type: ignore[arg-type]
        )
        srv = emulators[(form, style)] = ServerThread(create_emulator_app(config)).start()
    emu = Emulator(srv.url, form)
    emu.admin("POST", "/reset")
    return emu


@pytest.fixture
def emu(emulators: dict[tuple[str, str], ServerThread]) -> Emulator:
    return _emulator(emulators)


@pytest.fixture(params=["bare", "prefixed"])
def any_form(
    emulators: dict[tuple[str, str], ServerThread], request: pytest.FixtureRequest
) -> Emulator:
    return _emulator(emulators, form=request.param)


@pytest.fixture(params=["problem", "detail"])
def any_style(
    emulators: dict[tuple[str, str], ServerThread], request: pytest.FixtureRequest
) -> Emulator:
    return _emulator(emulators, style=request.param)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert KEY not in caplog.text
    assert WRONG_KEY not in caplog.text


def client_for(emu: Emulator, sleeps: Sleeps, key: str = KEY, **kwargs: Any) -> DevinClient:
    # Generous: no test waits for these unless it sets its own (a loaded CI box is slow).
    kwargs.setdefault("timeout", (5, 5))
    return DevinClient(key, ORG, emu.api, sleep=sleeps, jitter=lambda: 0.0, **kwargs)


def assert_no_secret(err: BaseException, client: DevinClient) -> None:
    texts = [str(err), repr(err), repr(client), repr(err.args)]
    if isinstance(err, DevinError):
        texts += [err.message, err.detail]
    for text in texts:
        assert KEY not in text
        assert WRONG_KEY not in text
        assert "cog_SECRET" not in text


def new_session(client: DevinClient, prompt: str = "Fix the flaky test", **kw: Any) -> Session:
    return client.create_session(SessionRequest(prompt=prompt, **kw))


# --- round trips ------------------------------------------------------------------------


def test_identity_and_organizations(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)

    me = client.whoami()
    assert (me.principal_type, me.org_id) == ("service_user", ORG)
    assert me.id == "service-user-emulator"
    assert [o.org_id for o in client.list_organizations()] == [ORG]
    assert repr(client) == f"DevinClient(base_url={emu.api!r}, org_id='{ORG}', api_key='***')"
    assert client.api_host == emu.url.removeprefix("http://")


def test_v3beta1_prefix_works_too(emu: Emulator, sleeps: Sleeps) -> None:
    client = DevinClient(KEY, ORG, emu.url + "/v3beta1/", timeout=(5, 5), sleep=sleeps)
    assert client.base_url == emu.url + "/v3beta1"
    assert client.whoami().org_id == ORG
    assert emu.log()[0]["path"] == "/v3beta1/self"


def test_session_lifecycle_round_trip(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    session = new_session(
        client,
        title="Flaky test",
        tags=("devin-bridge", "repo:o/r"),
        max_acu_limit=5,
        repos=("o/r",),
        knowledge_ids=(),
    )
    assert session.title == "Flaky test"
    assert session.status in ("new", "claimed", "running")
    assert {"devin-bridge", "repo:o/r"} <= set(session.tags)
    (created,) = emu.log("POST", SESSIONS)
    body = created["json"]
    assert body["prompt"] == "Fix the flaky test"
    assert body["max_acu_limit"] == 5
    assert body["knowledge_ids"] == []  # [] means "no knowledge", unlike null
    assert [t for t in body["tags"] if t.startswith(IDEMPOTENCY_TAG_PREFIX)]

    # The "finish" scenario advances on each GET.
    polled = [client.get_session(session.session_id) for _ in range(4)]
    final = polled[-1]
    assert final.state() == "finished"
    assert final.is_settled
    assert final.acus_consumed > 0
    assert [pr.url for pr in final.pull_requests] == ["https://github.com/o/r/pull/1"]

    listed = client.list_sessions(tags=["repo:o/r"])
    assert [s.session_id for s in listed.items] == [session.session_id]
    assert client.find_session_by_tag("repo:o/r") == listed.items[0]
    assert client.find_session_by_tag("no-such-tag") is None

    reply = client.send_message(session.session_id, "Please also update the changelog")
    assert reply is not None and reply.session_id == session.session_id
    messages = client.list_messages(session.session_id).items
    assert messages[0].source == "user" and messages[0].message == "Fix the flaky test"
    assert any(m.from_devin for m in messages)
    assert "Please also update the changelog" in [m.message for m in messages]

    assert "devin-bridge" in client.get_tags(session.session_id)
    assert "extra" in client.add_tags(session.session_id, ["extra"])
    assert client.replace_tags(session.session_id, ["only"]) == ("only",)
    assert client.get_tags(session.session_id) == ("only",)

    (summary,) = client.session_attachments(session.session_id)
    assert summary.name == "summary.md"
    download = client.open_attachment(summary.url)
    assert download.content.startswith(b"# Summary")

    archived = client.archive_session(session.session_id)
    assert archived is not None and archived.is_archived
    stopped = client.terminate_session(session.session_id)
    assert stopped is not None and stopped.status == "exit"
    assert stopped.state(stopped=True) == "stopped"


def test_terminate_with_archive(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    session = new_session(client)
    stopped = client.terminate_session(session.session_id, archive=True)
    assert stopped is not None and stopped.is_terminal and stopped.is_archived
    (call,) = emu.log("DELETE")
    assert call["query"] == {"archive": ["true"]}


def test_upload_and_send_attachment(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    uploaded = client.upload_attachment("notes.txt", b"hello devin\n", "text/plain")
    assert uploaded.name == "notes.txt"
    assert uploaded.url
    assert client.open_attachment(uploaded.url).content == b"hello devin\n"

    session = new_session(client, attachment_urls=(uploaded.url,))
    client.send_message(session.session_id, "see attached", attachment_urls=[uploaded.url])
    (message_call,) = emu.log(
        "POST", f"{SESSIONS}/devin-{bare_session_id(session.session_id)}/messages"
    )
    assert message_call["json"] == {"message": "see attached", "attachment_urls": [uploaded.url]}


def test_knowledge_notes_round_trip(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    note = client.create_note("Style", "Use ruff", "When writing Python", pinned_repo="o/r")
    assert note.note_id and note.trigger == "When writing Python"
    assert client.get_note(note.note_id) == note
    updated = client.update_note(
        note.note_id, "Style", "Use ruff and mypy", "Python", is_enabled=False
    )
    assert (updated.body, updated.is_enabled) == ("Use ruff and mypy", False)
    assert [n.note_id for n in client.iter_notes()] == [note.note_id]
    assert client.note_folders().root_note_count >= 0
    deleted = client.delete_note(note.note_id)
    assert deleted is not None and deleted.note_id == note.note_id
    assert list(client.iter_notes()) == []
    with pytest.raises(DevinNotFound) as caught:
        client.get_note(note.note_id)
    assert_no_secret(caught.value, client)


def test_playbooks_round_trip(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    book = client.create_playbook(
        "Review", "Review the PR", macro="!review", structured_output_schema=schema
    )
    assert (book.title, book.macro, book.structured_output_schema) == ("Review", "!review", schema)
    assert client.get_playbook(book.playbook_id).body == "Review the PR"
    updated = client.update_playbook(book.playbook_id, "Review", "Review it twice")
    assert updated.body == "Review it twice"
    assert [b.playbook_id for b in client.iter_playbooks()] == [book.playbook_id]

    # A session may follow the playbook now that it exists.
    session = new_session(client, playbook_id=book.playbook_id)
    assert session.playbook_id == book.playbook_id

    assert client.delete_playbook(book.playbook_id) is not None
    assert list(client.iter_playbooks()) == []


def test_schedules_round_trip(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    sched = client.create_schedule(
        "Nightly", "Check dependencies", frequency="0 3 * * *", tags=["n"]
    )
    assert sched.schedule_id.startswith("sched-")
    assert (sched.frequency, sched.enabled) == ("0 3 * * *", True)
    assert client.get_schedule(sched.schedule_id).prompt == "Check dependencies"
    updated = client.update_schedule(sched.schedule_id, enabled=False, frequency="0 4 * * 1-5")
    assert (updated.enabled, updated.frequency) == (False, "0 4 * * 1-5")
    (patch,) = emu.log("PATCH")
    assert patch["json"] == {"enabled": False, "frequency": "0 4 * * 1-5"}
    assert [s.schedule_id for s in client.iter_schedules()] == [sched.schedule_id]
    assert client.delete_schedule(sched.schedule_id) is not None
    assert list(client.iter_schedules()) == []


def test_observer_sees_low_cardinality_routes(emu: Emulator, sleeps: Sleeps) -> None:
    seen: list[tuple[str, str, int | None]] = []
    client = client_for(emu, sleeps, observer=lambda m, r, s, _t: seen.append((m, r, s)))
    session = new_session(client)
    client.get_session(session.session_id)
    assert seen == [
        ("POST", "/organizations/{id}/sessions", 200),
        ("GET", "/organizations/{id}/sessions/{id}", 200),
    ]


# --- pagination -------------------------------------------------------------------------


def test_sessions_paginate_over_several_pages(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    made = {new_session(client, f"task {i}", tags=("batch",)).session_id for i in range(5)}
    new_session(client, "other")

    walked = [s.session_id for s in client.iter_sessions(tags=["batch"], first=2)]
    assert sorted(walked) == sorted(made)  # each once, none missed

    pages = emu.log("GET", SESSIONS)
    assert len(pages) == 3
    assert [p["query"].get("first") for p in pages] == [["2"], ["2"], ["2"]]
    assert "after" not in pages[0]["query"]
    assert pages[1]["query"]["after"] != pages[2]["query"]["after"]
    assert all(p["query"]["tags"] == ["batch"] for p in pages)

    first = client.list_sessions(tags=["batch"], first=2)
    assert first.has_next_page and first.end_cursor and first.total == 5
    second = client.list_sessions(tags=["batch"], first=2, after=first.end_cursor)
    assert not {s.session_id for s in first.items} & {s.session_id for s in second.items}
    assert len(list(client.iter_sessions(first=2, limit=3))) == 3


def test_first_is_kept_within_the_documented_range(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    new_session(client)
    assert len(list(client.iter_sessions(first=500))) == 1
    assert len(client.list_sessions(first=0).items) == 1
    assert [p["query"]["first"] for p in emu.log("GET", SESSIONS)] == [["200"], ["1"]]


def test_notes_messages_and_schedules_paginate(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    notes = {client.create_note(f"n{i}", "body", "always").note_id for i in range(5)}
    assert {n.note_id for n in client.iter_notes(first=2)} == notes
    assert len(emu.log("GET", f"/v3/organizations/{ORG}/knowledge/notes")) == 3

    session = new_session(client)
    for i in range(4):
        client.send_message(session.session_id, f"message {i}")
    messages = [m.message for m in client.iter_messages(session.session_id, first=2)]
    assert messages == [
        m.message for m in client.list_messages(session.session_id, first=200).items
    ]
    assert [m for m in messages if m.startswith("message ")] == [f"message {i}" for i in range(4)]
    assert len(messages) >= 5

    for i in range(3):
        client.create_schedule(f"s{i}", "p", frequency="0 9 * * *")
    assert len(list(client.iter_schedules(page_size=2))) == 3
    pages = emu.log("GET", f"/v3/organizations/{ORG}/schedules")
    assert [p["query"] for p in pages] == [
        {"limit": ["2"], "offset": ["0"]},
        {"limit": ["2"], "offset": ["2"]},
    ]


# --- both session-id forms --------------------------------------------------------------


def test_both_session_id_forms(any_form: Emulator, sleeps: Sleeps) -> None:
    client = client_for(any_form, sleeps)
    session = new_session(client)
    bare = bare_session_id(session.session_id)
    prefixed = "devin-" + bare
    assert session.session_id == (bare if any_form.form == "bare" else prefixed)

    for sid in (bare, prefixed):
        assert client.get_session(sid).session_id == session.session_id
        reply = client.send_message(sid, f"hello via {sid}")
        assert reply is not None and reply.session_id == session.session_id
        assert f"hello via {sid}" in [m.message for m in client.list_messages(sid).items]
        assert client.get_tags(sid)
    stopped = client.terminate_session(prefixed if any_form.form == "bare" else bare)
    assert stopped is not None and stopped.status == "exit"

    per_session = [e["path"] for e in any_form.log() if e["path"].startswith(SESSIONS + "/")]
    assert per_session and all(p.startswith(f"{SESSIONS}/{prefixed}") for p in per_session)


# --- retries ----------------------------------------------------------------------------


def test_429_waits_exactly_retry_after(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    session = new_session(client)
    emu.fault(method="GET", path=f"{SESSIONS}/.*", status=429, retry_after=7, times=1)

    assert client.get_session(session.session_id).session_id == session.session_id
    assert sleeps.waits == [7.0]
    assert [e["status"] for e in emu.log("GET")] == [429, 200]


def test_429_on_post_is_retried(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    session = new_session(client)
    path = f"{SESSIONS}/devin-{bare_session_id(session.session_id)}/messages"
    emu.fault(method="POST", path=path, status=429, retry_after=2, times=2)

    client.send_message(session.session_id, "hi")
    assert sleeps.waits == [2.0, 2.0]
    assert [e["status"] for e in emu.log("POST", path)] == [429, 429, 200]


def test_429_without_retry_after_backs_off(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    emu.fault(method="GET", path="/v3/self", status=429, times=2)
    client.whoami()
    assert sleeps.waits == [0.25, 0.5]  # 0.5 s base, doubling, jitter pinned low


def test_a_long_retry_after_is_left_to_the_caller(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    emu.fault(method="GET", path="/v3/self", status=429, retry_after=120, times=1)
    with pytest.raises(DevinRateLimited) as caught:
        client.whoami()
    assert caught.value.retry_after == 120
    assert "Retry after 120 s" in str(caught.value)
    assert sleeps.waits == []
    assert_no_secret(caught.value, client)


def test_503_burst_on_reads_is_survived(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    new_session(client)
    emu.fault(method="GET", path=SESSIONS, status=503, times=3)

    assert len(client.list_sessions().items) == 1
    assert sleeps.waits == [0.25, 0.5, 1.0]
    assert [e["status"] for e in emu.log("GET", SESSIONS)] == [503, 503, 503, 200]


def test_503_that_never_ends_is_raised_after_the_retry_budget(
    emu: Emulator, sleeps: Sleeps
) -> None:
    client = client_for(emu, sleeps, retry=RetryPolicy(attempts=3))
    emu.fault(method="GET", path="/v3/self", status=503)
    with pytest.raises(DevinServerError) as caught:
        client.whoami()
    assert caught.value.status == 503
    assert "try again later" in str(caught.value)
    assert len(emu.log("GET", "/v3/self")) == 3
    assert len(sleeps.waits) == 2
    assert_no_secret(caught.value, client)


def test_dropped_connection_on_a_read_is_survived(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    session = new_session(client)
    emu.fault(method="GET", path=f"{SESSIONS}/.*", drop=True, times=1)

    assert client.get_session(session.session_id).session_id == session.session_id
    assert len(sleeps.waits) == 1
    path = f"{SESSIONS}/devin-{bare_session_id(session.session_id)}"
    assert [e["dropped"] for e in emu.settled_log("GET", path, 2)] == [True, False]


def test_503_on_post_message_is_raised_not_retried(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    session = new_session(client)
    path = f"{SESSIONS}/devin-{bare_session_id(session.session_id)}/messages"
    emu.fault(method="POST", path=path, status=503, times=1)

    with pytest.raises(DevinServerError) as caught:
        client.send_message(session.session_id, "hi")
    assert caught.value.status == 503
    assert len(emu.log("POST", path)) == 1
    assert sleeps.waits == []
    assert_no_secret(caught.value, client)


def test_adding_tags_is_retried_because_it_is_idempotent(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    session = new_session(client)
    path = f"{SESSIONS}/devin-{bare_session_id(session.session_id)}/tags"
    emu.fault(method="POST", path=path, status=503, phase="after", times=1)

    assert client.add_tags(session.session_id, ["x"]).count("x") == 1
    assert [e["status"] for e in emu.log("POST", path)] == [503, 200]


def test_dropped_post_message_is_raised_not_retried(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    session = new_session(client)
    path = f"{SESSIONS}/devin-{bare_session_id(session.session_id)}/messages"
    emu.fault(method="POST", path=path, drop=True, times=1)

    with pytest.raises(DevinUnavailable) as caught:
        client.send_message(session.session_id, "hi")
    assert "could not connect" in str(caught.value)
    assert len(emu.settled_log("POST", path, 1)) == 1
    assert_no_secret(caught.value, client)


def _sessions_in(emu: Emulator, sleeps: Sleeps) -> list[Session]:
    return list(client_for(emu, sleeps).iter_sessions())


def _request_tag(session: Session) -> str:
    (tag,) = [t for t in session.tags if t.startswith(IDEMPOTENCY_TAG_PREFIX)]
    return tag


@pytest.mark.parametrize(
    ("fault", "posts"),
    [
        ({"status": 503, "phase": "after"}, 1),  # created, answer lost: found by tag
        ({"drop": True, "phase": "after"}, 1),
        ({"status": 503, "phase": "before"}, 2),  # nothing created: safe to send again
        ({"drop": True, "phase": "before"}, 2),
        ({"status": 429, "retry_after": 1, "phase": "before"}, 2),
    ],
)
def test_create_after_a_failure_yields_exactly_one_session(
    emu: Emulator, sleeps: Sleeps, fault: dict[str, Any], posts: int
) -> None:
    client = client_for(emu, sleeps)
    emu.fault(method="POST", path=SESSIONS, times=1, **fault)

    session = client.create_session(SessionRequest(prompt="once"))

    (only,) = _sessions_in(emu, sleeps)
    assert only.session_id == session.session_id
    # (a list read advances the session, as a GET does: compare ids, not states)
    listed = client.list_sessions(tags=[_request_tag(session)]).items
    assert [s.session_id for s in listed] == [only.session_id]
    assert len(emu.settled_log("POST", SESSIONS, posts)) == posts


def test_create_after_a_read_timeout_yields_exactly_one_session(
    emu: Emulator, sleeps: Sleeps
) -> None:
    posts: list[int | None] = []
    client = client_for(
        emu,
        sleeps,
        timeout=(5, 1),
        observer=lambda m, r, s, _t: posts.append(s) if m == "POST" else None,
    )
    # The emulator creates the session, then sits on the answer past the read timeout.
    emu.fault(method="POST", path=SESSIONS, phase="after", delay=2.0, times=1)

    session = client.create_session(SessionRequest(prompt="slow server"))

    assert posts == [None]  # one POST, which timed out; never sent again
    (only,) = _sessions_in(emu, sleeps)
    assert only.session_id == session.session_id
    found = client.list_sessions(tags=[_request_tag(session)]).items
    assert [s.session_id for s in found] == [session.session_id]
    # Wait for the delayed handler to finish so it is logged here, not in a later test.
    assert len(emu.settled_log("POST", SESSIONS, 1)) == 1


def test_create_with_an_idempotency_key_returns_the_earlier_session(
    emu: Emulator, sleeps: Sleeps
) -> None:
    client = client_for(emu, sleeps)
    first = client.create_session(SessionRequest(prompt="x"), idempotency_key="delivery-1")
    again = client.create_session(SessionRequest(prompt="x"), idempotency_key="delivery-1")
    other = client.create_session(SessionRequest(prompt="x"), idempotency_key="delivery-2")

    assert again.session_id == first.session_id
    assert other.session_id != first.session_id
    assert f"{IDEMPOTENCY_TAG_PREFIX}delivery-1" in first.tags
    assert len(emu.log("POST", SESSIONS)) == 2


def test_create_gives_up_when_the_server_stays_down(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps, retry=RetryPolicy(attempts=2))
    emu.fault(method="POST", path=SESSIONS, status=503)
    with pytest.raises(DevinServerError) as caught:
        client.create_session(SessionRequest(prompt="x"))
    assert len(emu.log("POST", SESSIONS)) == 2
    assert _sessions_in(emu, sleeps) == []
    assert_no_secret(caught.value, client)


# --- errors -----------------------------------------------------------------------------


def test_401_names_the_setting_to_fix(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps, key=WRONG_KEY)
    with pytest.raises(DevinAuthError) as caught:
        client.whoami()
    message = str(caught.value)
    assert "DEVIN_API_KEY" in message and "cog_" in message
    assert caught.value.status == 401
    assert_no_secret(caught.value, client)
    assert len(emu.log()) == 1  # never retried


def test_404_for_an_unknown_session(any_style: Emulator, sleeps: Sleeps) -> None:
    client = client_for(any_style, sleeps)
    with pytest.raises(DevinNotFound) as caught:
        client.get_session("devin-" + "0" * 32)
    assert "not found (404)" in str(caught.value)
    assert "DEVIN_ORG_ID" in str(caught.value)
    assert_no_secret(caught.value, client)


def test_404_for_another_org(emu: Emulator, sleeps: Sleeps) -> None:
    client = DevinClient(KEY, "org-other", emu.api, timeout=(5, 5), sleep=sleeps)
    with pytest.raises(DevinNotFound) as caught:
        client.list_sessions()
    assert "org-other" in str(caught.value)
    assert_no_secret(caught.value, client)


def test_403_says_which_permission(any_style: Emulator, sleeps: Sleeps) -> None:
    client = client_for(any_style, sleeps)
    session = new_session(client)
    any_style.fault(method="POST", path=f"{SESSIONS}/.*/messages", status=403, times=1)
    with pytest.raises(DevinForbidden) as caught:
        client.send_message(session.session_id, "hi")
    assert "(403)" in str(caught.value)
    assert "ManageOrgSessions" in str(caught.value)
    assert_no_secret(caught.value, client)


@pytest.mark.parametrize(
    ("call", "fields"),
    [
        (
            lambda c, _s: c.create_session(SessionRequest(prompt="x", devin_mode="turbo")),
            ("devin_mode",),
        ),
        (
            lambda c, _s: c.create_session(SessionRequest(prompt="x", max_acu_limit=0)),
            ("max_acu_limit",),
        ),
        (
            lambda c, s: c.send_message(s, "hi", attachment_urls=["not a url"]),
            ("attachment_urls.0",),
        ),
        (
            lambda c, _s: c.create_session(SessionRequest(prompt="x", playbook_id="playbook-nope")),
            ("playbook_id",),
        ),
    ],
)
def test_422_names_the_fields(
    any_style: Emulator, sleeps: Sleeps, call: Any, fields: tuple[str, ...]
) -> None:
    client = client_for(any_style, sleeps)
    session = new_session(client)
    before = len(_sessions_in(any_style, sleeps))
    with pytest.raises(DevinValidationError) as caught:
        call(client, session.session_id)
    assert caught.value.status == 422
    assert caught.value.fields == fields
    for name in fields:
        assert name in str(caught.value)
    assert len(_sessions_in(any_style, sleeps)) == before
    assert_no_secret(caught.value, client)


def test_400_on_an_unknown_platform(any_style: Emulator, sleeps: Sleeps) -> None:
    client = client_for(any_style, sleeps)
    with pytest.raises(DevinBadRequest) as caught:
        client.create_session(SessionRequest(prompt="x", platform="amiga"))
    assert caught.value.status == 400
    assert "amiga" in str(caught.value) and "windows" in str(caught.value)
    assert_no_secret(caught.value, client)


def test_terminating_twice_and_messaging_a_stopped_session(
    any_style: Emulator, sleeps: Sleeps
) -> None:
    client = client_for(any_style, sleeps)
    session = new_session(client)
    client.terminate_session(session.session_id)

    with pytest.raises(DevinBadRequest) as twice:
        client.terminate_session(session.session_id)
    assert twice.value.status == 400
    assert "already exited" in str(twice.value)
    assert_no_secret(twice.value, client)

    with pytest.raises(DevinBadRequest) as conflict:
        client.send_message(session.session_id, "are you there?")
    assert conflict.value.status == 409
    assert "(409)" in str(conflict.value)
    assert_no_secret(conflict.value, client)


def test_usage_suspended_session_refuses_messages(emu: Emulator, sleeps: Sleeps) -> None:
    emu.scenario("usage_limit")
    client = client_for(emu, sleeps)
    session = new_session(client)
    for _ in range(10):
        session = client.get_session(session.session_id)
        if session.is_settled:
            break
    assert session.blocked_by_usage
    assert session.state() == "suspended"
    with pytest.raises(DevinBadRequest) as caught:
        client.send_message(session.session_id, "continue")
    assert caught.value.status == 409
    assert "usage_limit_exceeded" in str(caught.value)
    assert_no_secret(caught.value, client)


def test_non_json_success_points_at_the_api_url(emu: Emulator, sleeps: Sleeps) -> None:
    client = client_for(emu, sleeps)
    emu.fault(
        method="GET",
        path="/v3/self",
        status=200,
        body="<html>login</html>",
        content_type="text/html",
    )
    with pytest.raises(DevinError) as caught:
        client.whoami()
    assert "DEVIN_API_URL" in str(caught.value)
    assert_no_secret(caught.value, client)


def test_unreachable_api(sleeps: Sleeps) -> None:
    with serve(Flask("gone")) as srv:
        dead = srv.url
    client = DevinClient(KEY, ORG, dead + "/v3", timeout=(1, 1), sleep=sleeps, jitter=lambda: 0.0)
    with pytest.raises(DevinUnavailable) as caught:
        client.whoami()
    assert "could not connect" in str(caught.value)
    assert len(sleeps.waits) == 4  # reads are retried
    assert_no_secret(caught.value, client)


@pytest.mark.parametrize(
    ("call", "error", "says"),
    [
        (lambda c: c.create_session(SessionRequest(prompt="  ")), DevinValidationError, "prompt"),
        (
            lambda c: c.create_session(
                SessionRequest(prompt="x", structured_output_schema={"type": "nope"})
            ),
            DevinValidationError,
            "structured output schema",
        ),
        (
            lambda c: c.create_session(
                SessionRequest(prompt="x", tags=tuple(f"t{i}" for i in range(50)))
            ),
            DevinValidationError,
            "at most 50 tags",
        ),
        (lambda c: c.send_message("devin-abc", "   "), DevinValidationError, "empty"),
        (lambda c: c.get_session("../../self"), DevinValidationError, "session id"),
        (lambda c: c.get_session("devin-"), DevinValidationError, "session id"),
        (lambda c: c.get_note("a/b"), DevinValidationError, "note id"),
        (lambda c: c.get_playbook(".."), DevinValidationError, "playbook id"),
        (lambda c: c.create_note("", "b", "t"), DevinValidationError, "name"),
        (lambda c: c.create_playbook("t", "b", macro="review"), DevinValidationError, "macro"),
        (lambda c: c.create_schedule("n", "p"), DevinValidationError, "cron frequency"),
        (
            lambda c: c.create_schedule("n", "p", frequency="0 25 * * *"),
            DevinValidationError,
            "hour",
        ),
        (
            lambda c: c.create_schedule("n", "p", schedule_type="one_time"),
            DevinValidationError,
            "scheduled_at",
        ),
        (
            lambda c: c.update_schedule("sched-1", schedule_type="weekly"),
            DevinValidationError,
            "schedule_type",
        ),
    ],
)
def test_bad_input_fails_before_any_request(
    emu: Emulator, sleeps: Sleeps, call: Any, error: type[DevinError], says: str
) -> None:
    client = client_for(emu, sleeps)
    with pytest.raises(error, match=says) as caught:
        call(client)
    assert emu.log() == []
    assert_no_secret(caught.value, client)


def test_settings_errors(emu: Emulator, sleeps: Sleeps) -> None:
    with pytest.raises(DevinConfigError, match="DEVIN_API_KEY"):
        DevinClient("  ", ORG, emu.api)
    with pytest.raises(DevinConfigError, match="DEVIN_API_URL"):
        DevinClient(KEY, ORG, "api.devin.ai/v3")
    client = DevinClient(KEY, None, emu.api, timeout=(5, 5), sleep=sleeps)
    assert client.whoami().principal_type == "service_user"  # needs no org
    with pytest.raises(DevinConfigError, match="DEVIN_ORG_ID") as caught:
        client.list_sessions()
    assert_no_secret(caught.value, client)
    assert len(emu.log()) == 1


def test_a_server_echoing_the_key_never_gets_it_into_an_error(sleeps: Sleeps) -> None:
    app = Flask("echo")

    @app.route("/v3/self")
    def echo() -> Any:
        auth = request.headers.get("Authorization", "")
        # Long enough that the error text is cut off in the middle of the key.
        return jsonify(detail="x" * 270 + " you sent " + auth), 403

    @app.route("/v3/organizations/<org>/playbooks/<pid>")
    def echo_text(org: str, pid: str) -> Any:
        echoed = "bad credential: " + request.headers.get("Authorization", "")
        return echoed, 400, {"Content-Type": "text/plain"}

    with serve(app) as srv:
        client = DevinClient(KEY, ORG, srv.url + "/v3", timeout=(5, 5), sleep=sleeps)
        with pytest.raises(DevinForbidden) as cut:
            client.whoami()
        with pytest.raises(DevinBadRequest) as whole:
            client.get_playbook("playbook-1")
    assert_no_secret(cut.value, client)
    assert_no_secret(whole.value, client)
    assert "***" in str(whole.value)


def test_schedules_stop_when_a_server_ignores_offset() -> None:
    """A server that answers every offset with the same page must not loop forever."""

    app = Flask("ignores-offset")
    calls: list[str] = []

    @app.get("/v3/organizations/org-x/schedules")
    def schedules() -> Any:
        calls.append("GET")
        item = {"scheduled_session_id": "sched-1", "name": "n", "prompt": "p"}
        return jsonify({"items": [item], "has_next_page": True, "end_cursor": None})

    with serve(app) as srv:
        client = DevinClient("cog_key", "org-x", srv.url + "/v3", sleep=lambda _: None)
        found = [s.schedule_id for s in client.iter_schedules(page_size=1)]
    assert found == ["sched-1"]
    assert len(calls) == 2
