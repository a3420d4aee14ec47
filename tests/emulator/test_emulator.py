"""The Devin API v3 emulator, driven over real HTTP with plain `requests`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from bot.emulator import Emulator, EmulatorConfig, create_emulator_app
from tests.support.servers import serve

KEY = "cog_emulator_key"
ORG = "org-emulator"
TIMEOUT = 10


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Api:
    """A thin `requests` wrapper bound to one running emulator."""

    root: str
    emulator: Emulator
    key: str = KEY

    @property
    def base(self) -> str:
        return f"{self.root}/v3"

    @property
    def org(self) -> str:
        return f"{self.base}/organizations/{ORG}"

    def call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {"Authorization": f"Bearer {self.key}"})
        kwargs.setdefault("timeout", TIMEOUT)
        return requests.request(method, url, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", self.org + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", self.org + path, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.root}/_emulator{path}", timeout=TIMEOUT, **kwargs)

    def create(self, prompt: str = "Fix the bug", **fields: Any) -> dict[str, Any]:
        resp = self.post("/sessions", json={"prompt": prompt, **fields})
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def poll(self, session_id: str) -> dict[str, Any]:
        resp = self.get(f"/sessions/{session_id}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


def _running(config: EmulatorConfig | None = None) -> Iterator[Api]:
    app = create_emulator_app(config)
    with serve(app) as srv:
        yield Api(srv.url, app.extensions["devin_emulator"])


# One server per module (stopping a werkzeug server takes up to half a second); each test
# starts from a reset emulator.
@pytest.fixture(scope="module")
def default_server() -> Iterator[Api]:
    yield from _running()


@pytest.fixture(scope="module")
def timed_server() -> Iterator[tuple[Api, FakeClock]]:
    clock = FakeClock()
    for api in _running(EmulatorConfig(clock=clock)):
        yield api, clock


@pytest.fixture
def api(default_server: Api) -> Api:
    assert default_server.admin("POST", "/reset").ok
    return default_server


@pytest.fixture
def clock(timed_server: tuple[Api, FakeClock]) -> FakeClock:
    timed_server[1].now = FakeClock().now
    return timed_server[1]


@pytest.fixture
def timed_api(timed_server: tuple[Api, FakeClock], clock: FakeClock) -> Api:
    timed_server[0].emulator.reset()
    return timed_server[0]


def _logged(api: Api, method: str, path: str) -> dict[str, Any]:
    """The log entry of a request still in flight on the server (e.g. delayed by a fault)."""
    for _ in range(100):
        for entry in api.admin("GET", "/requests").json():
            if (entry["method"], entry["path"]) == (method, path):
                return dict(entry)
        time.sleep(0.05)
    raise AssertionError(f"{method} {path} never reached the request log")


def _locs(resp: requests.Response) -> list[list[Any]]:
    return [e["loc"] for e in resp.json()["errors"]]


# Auth and errors --------------------------------------------------------------------------


def test_missing_or_wrong_key_is_401_problem_json(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": KEY}):
        resp = api.call("GET", f"{api.base}/self", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        body = resp.json()
        assert body["status"] == 401
        assert body["title"] == "Unauthorized"
        assert body["instance"] == "/v3/self"
        assert isinstance(body["detail"], str)


def test_detail_error_style_uses_fastapi_shapes() -> None:
    for api in _running(EmulatorConfig(error_style="detail")):
        resp = api.call("GET", f"{api.base}/self", headers={})
        assert resp.status_code == 401
        assert resp.json() == {"detail": "Missing or invalid Authorization header"}
        resp = api.post("/sessions", json={"title": "no prompt"})
        assert resp.status_code == 422
        assert resp.json()["detail"] == [
            {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}
        ]


def test_extra_keys_are_accepted() -> None:
    for api in _running(EmulatorConfig(api_key="cog_main", extra_keys=("cog_other",))):
        api.key = "cog_other"
        assert api.call("GET", f"{api.base}/self").status_code == 200
        api.key = KEY
        assert api.call("GET", f"{api.base}/self").status_code == 401


def test_unknown_route_wrong_method_and_wrong_org(api: Api) -> None:
    resp = api.call("GET", f"{api.base}/nothing/here")
    assert resp.status_code == 404
    assert "no route" in resp.json()["detail"]
    resp = api.call("PUT", f"{api.base}/self")
    assert resp.status_code == 405
    assert "GET" in resp.headers["Allow"]
    resp = api.call("GET", f"{api.base}/organizations/org-other/sessions")
    assert resp.status_code == 404
    assert "org-other" in resp.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/sessions"),
        ("POST", "/knowledge/notes"),
        ("POST", "/playbooks"),
        ("POST", "/schedules"),
        ("POST", "/secrets"),
    ],
)
def test_malformed_json_is_422_never_500(api: Api, method: str, path: str) -> None:
    for data in ("{not json", "[1, 2]", '"text"', ""):
        resp = api.call(method, api.org + path, data=data)
        assert resp.status_code == 422, (data, resp.text)
        assert resp.json()["errors"]


def test_bad_query_values_are_422(api: Api) -> None:
    for query in ("first=0", "first=201", "first=abc", "after=%%%", "created_after=soon"):
        resp = api.get(f"/sessions?{query}")
        assert resp.status_code == 422, query
        assert resp.json()["errors"][0]["loc"][0] == "query"


# Identity and organisations ----------------------------------------------------------------


def test_self_and_organizations(api: Api) -> None:
    assert api.call("GET", f"{api.base}/self").json() == {
        "principal_type": "service_user",
        "service_user_id": "service-user-emulator",
        "service_user_name": "Devin API Emulator",
        "org_id": ORG,
    }
    page = api.call("GET", f"{api.base}/enterprise/organizations?first=1").json()
    assert [org["org_id"] for org in page["items"]] == [ORG]
    assert page["has_next_page"] is False
    assert set(page["items"][0]) == {
        "org_id",
        "name",
        "created_at",
        "updated_at",
        "max_session_acu_limit",
        "max_cycle_acu_limit",
    }
    assert api.call("GET", f"{api.base}/enterprise/organizations/{ORG}").status_code == 200
    assert api.call("GET", f"{api.base}/enterprise/organizations/org-x").status_code == 404


def test_v3beta1_prefix_is_an_alias(api: Api) -> None:
    resp = api.call("GET", f"{api.root}/v3beta1/self")
    assert resp.status_code == 200
    created = api.call(
        "POST", f"{api.root}/v3beta1/organizations/{ORG}/sessions", json={"prompt": "hi"}
    ).json()
    assert api.poll(created["session_id"])["session_id"] == created["session_id"]


# Sessions ---------------------------------------------------------------------------------


def test_create_returns_session_response_with_bare_id(api: Api) -> None:
    body = api.create("Fix the login bug\nDetails follow", tags=["x"], unknown_field=1)
    sid = body["session_id"]
    assert len(sid) == 32 and int(sid, 16) >= 0
    assert body["url"] == f"https://app.devin.ai/sessions/{sid}"
    assert body["status"] == "new"
    assert body["title"] == "Fix the login bug"
    assert body["tags"] == ["x"]
    assert body["org_id"] == ORG
    assert body["pull_requests"] == []
    assert body["acus_consumed"] == 0
    assert isinstance(body["created_at"], int)
    assert "status_detail" not in body  # "only populated on get/list"
    assert "status_detail" in api.poll(sid)


def test_prefixed_session_ids() -> None:
    for api in _running(EmulatorConfig(session_id_form="prefixed")):
        body = api.create()
        assert body["session_id"].startswith("devin-")
        assert body["url"].endswith("/sessions/" + body["session_id"])
        bare = body["session_id"].removeprefix("devin-")
        assert api.poll(bare)["session_id"] == body["session_id"]


def test_both_id_forms_work_in_paths(api: Api) -> None:
    sid = api.create()["session_id"]
    for form in (sid, f"devin-{sid}"):
        assert api.poll(form)["session_id"] == sid
        assert api.get(f"/sessions/{form}/messages").status_code == 200
        assert api.get(f"/sessions/{form}/tags").json() == {"tags": []}
    assert api.get("/sessions/devin-" + "0" * 32).status_code == 404


def test_create_validates_every_documented_field(api: Api) -> None:
    bad = {
        "prompt": "",
        "title": 5,
        "tags": [f"t{i}" for i in range(51)],
        "knowledge_ids": "all",
        "secret_ids": [1],
        "session_secrets": [{"key": "", "value": "v"}],
        "repos": "acme/app",
        "max_acu_limit": 0,
        "structured_output_schema": {"type": "nonsense"},
        "structured_output_required": "yes",
        "attachment_urls": ["not a url"],
        "create_as_user_id": 7,
        "devin_mode": "turbo",
        "bypass_approval": 1,
        "child_playbook_id": [],
        "session_links": {},
        "resumable": "no",
    }
    resp = api.post("/sessions", json=bad)
    assert resp.status_code == 422
    fields = {loc[1] for loc in _locs(resp)}
    assert fields == set(bad) - {"platform"}
    assert api.post("/sessions", json={}).status_code == 422
    huge = {"type": "object", "description": "x" * 70_000}
    resp = api.post("/sessions", json={"prompt": "p", "structured_output_schema": huge})
    assert _locs(resp) == [["body", "structured_output_schema"]]
    resp = api.post("/sessions", json={"prompt": "p", "max_acu_limit": True})
    assert _locs(resp) == [["body", "max_acu_limit"]]


def test_unknown_platform_is_400_listing_labels(api: Api) -> None:
    resp = api.post("/sessions", json={"prompt": "p", "platform": "amiga"})
    assert resp.status_code == 400
    assert "windows" in resp.json()["detail"]
    assert api.post("/sessions", json={"prompt": "p", "platform": "windows"}).status_code == 200


def test_unknown_playbook_is_422_and_known_one_is_accepted(api: Api) -> None:
    resp = api.post("/sessions", json={"prompt": "p", "playbook_id": "playbook-nope"})
    assert resp.status_code == 422
    assert _locs(resp) == [["body", "playbook_id"]]
    playbook = api.post("/playbooks", json={"title": "T", "body": "B"}).json()
    body = api.create(playbook_id=playbook["playbook_id"])
    assert body["playbook_id"] == playbook["playbook_id"]
    listed = api.get(f"/sessions?playbook_id={playbook['playbook_id']}").json()
    assert [s["session_id"] for s in listed["items"]] == [body["session_id"]]


def test_list_pages_newest_first_with_all_tags_filter(api: Api) -> None:
    both = [api.create(f"both {i}", tags=["a", "b"])["session_id"] for i in range(5)]
    only_a = [api.create(f"a {i}", tags=["a"])["session_id"] for i in range(3)]
    api.create("none")

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        query = "tags=a&tags=b&first=2" + (f"&after={after}" if after else "")
        page = api.get(f"/sessions?{query}").json()
        pages += 1
        assert page["total"] == 5
        seen += [s["session_id"] for s in page["items"]]
        if not page["has_next_page"]:
            assert page["end_cursor"] is None
            break
        after = page["end_cursor"]
    assert pages == 3
    assert seen == list(reversed(both))
    tagged_a = api.get("/sessions?tags=a&first=200").json()
    assert [s["session_id"] for s in tagged_a["items"]] == list(reversed(both + only_a))
    picked = api.get(f"/sessions?session_ids=devin-{both[0]}&session_ids={only_a[0]}").json()
    assert {s["session_id"] for s in picked["items"]} == {both[0], only_a[0]}
    assert api.get("/sessions?origins=api").json()["total"] == 9
    assert api.get("/sessions?origins=slack").json()["total"] == 0


def test_list_filters_by_time_user_and_repo(timed_api: Api, clock: FakeClock) -> None:
    api = timed_api
    early = api.create(repos=["acme/app"])["session_id"]
    clock.now += 100
    late = api.create(create_as_user_id="user-1")["session_id"]
    cut = int(clock.now)

    def ids(query: str) -> list[str]:
        return [s["session_id"] for s in api.get(f"/sessions?{query}").json()["items"]]

    assert ids(f"created_after={cut}") == [late]
    assert ids(f"created_before={cut - 1}") == [early]
    assert ids("user_ids=user-1") == [late]
    assert ids("service_user_ids=service-user-emulator") == [early]
    assert ids("repo_names=acme/app") == [early]


def test_a_list_read_advances_the_sessions_it_looks_at_like_a_get(api: Api) -> None:
    sid = api.create()["session_id"]
    other = api.create(tags=["elsewhere"])["session_id"]
    for _ in range(3):
        api.get(f"/sessions/{sid}/messages")  # reading messages is not a poll
    assert api.get(f"/sessions/{sid}/tags").json()["tags"] == []
    listed = api.get(f"/sessions?session_ids={sid}").json()["items"]
    assert [s["status"] for s in listed] == ["running"]
    # The other session was not looked at, so it did not move.
    assert api.admin("GET", f"/sessions/{other}").json()["status"] == "new"


def test_a_time_bound_list_still_advances_sessions_it_leaves_out(api: Api) -> None:
    """A change feed lists with updated_after: the quiet sessions it does not return must
    still move, or a client that only reads the feed would never see them change."""
    sid = api.create(tags=["feed"])["session_id"]
    created = api.poll(sid)["updated_at"]
    seen = []
    for _ in range(6):
        items = api.get(f"/sessions?tags=feed&updated_after={created + 3600}").json()["items"]
        seen.append(len(items))
    assert seen == [0] * 6
    assert api.poll(sid)["status_detail"] == "finished"


def test_finish_scenario_produces_message_pr_attachment_and_finishes(api: Api) -> None:
    sid = api.create(repos=["acme/app"])["session_id"]
    states = [api.poll(sid) for _ in range(5)]
    assert [(s["status"], s["status_detail"]) for s in states] == [
        ("running", "working"),
        ("running", "working"),
        ("running", "working"),
        ("running", "finished"),
        ("running", "finished"),
    ]
    acus = [s["acus_consumed"] for s in states]
    assert acus == sorted(acus) and acus[0] > 0
    assert states[-1]["pull_requests"] == [
        {"pr_url": "https://github.com/acme/app/pull/1", "pr_state": "open"}
    ]
    messages = api.get(f"/sessions/{sid}/messages").json()["items"]
    assert [m["source"] for m in messages] == ["user", "devin", "devin"]
    assert messages[0]["message"] == "Fix the bug"
    assert "pull/1" in messages[-1]["message"]
    assert set(messages[0]) == {"event_id", "source", "message", "created_at"}
    attachments = api.get(f"/sessions/{sid}/attachments").json()
    assert [(a["name"], a["source"], a["content_type"]) for a in attachments] == [
        ("summary.md", "devin", "text/markdown")
    ]
    download = api.call("GET", attachments[0]["url"])
    assert download.status_code == 200
    assert sid in download.text


def test_finish_fills_structured_output_from_schema(api: Api) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "kind": {"enum": ["fix", "feat"]}},
    }
    sid = api.create(structured_output_schema=schema)["session_id"]
    outputs = [api.poll(sid)["structured_output"] for _ in range(4)]
    assert outputs[:3] == [None, None, None]
    assert outputs[3] == {"ok": True, "kind": "fix"}


def test_wait_for_user_resumes_on_message(api: Api) -> None:
    sid = api.create(tags=["emulator-scenario:wait_for_user"])["session_id"]
    api.poll(sid)
    waiting = api.poll(sid)
    assert (waiting["status"], waiting["status_detail"]) == ("running", "waiting_for_user")
    for _ in range(3):
        assert api.poll(sid)["status_detail"] == "waiting_for_user"
    resp = api.post(f"/sessions/devin-{sid}/messages", json={"message": "use main"})
    assert resp.status_code == 200
    assert resp.json()["status_detail"] == "working"
    done = api.poll(sid)
    assert (done["status"], done["status_detail"]) == ("running", "finished")
    assert done["pull_requests"]
    messages = api.get(f"/sessions/{sid}/messages").json()["items"]
    assert [m["source"] for m in messages] == ["user", "devin", "user", "devin"]
    assert "use main" in messages[-1]["message"]


def test_inactivity_suspends_and_a_message_resumes(api: Api) -> None:
    sid = api.create("[emulator-scenario: inactivity]\nDo it")["session_id"]
    api.poll(sid)
    asleep = api.poll(sid)
    assert (asleep["status"], asleep["status_detail"]) == ("suspended", "inactivity")
    assert api.poll(sid)["status"] == "suspended"
    resumed = api.post(f"/sessions/{sid}/messages", json={"message": "wake up"}).json()
    assert resumed["status"] == "resuming"
    assert (api.poll(sid)["status"], api.poll(sid)["status_detail"]) == ("running", "finished")


def test_usage_limit_refuses_messages_with_409(api: Api) -> None:
    sid = api.create(tags=["emulator-scenario:usage_limit"])["session_id"]
    api.poll(sid)
    state = api.poll(sid)
    assert (state["status"], state["status_detail"]) == ("suspended", "usage_limit_exceeded")
    resp = api.post(f"/sessions/{sid}/messages", json={"message": "more"})
    assert resp.status_code == 409
    assert "usage_limit_exceeded" in resp.json()["detail"]


def test_max_acu_limit_suspends_the_session(api: Api) -> None:
    sid = api.create(max_acu_limit=1)["session_id"]
    states = [api.poll(sid) for _ in range(3)]
    assert (states[-1]["status"], states[-1]["status_detail"]) == (
        "suspended",
        "usage_limit_exceeded",
    )
    assert states[-1]["acus_consumed"] == 1


@pytest.mark.parametrize(
    ("scenario", "polls", "status", "detail"),
    [
        ("exit", 3, "exit", None),
        ("error", 3, "error", None),
        ("approval", 2, "running", "waiting_for_approval"),
        ("idle", 1, "running", "finished"),
        ("long", 10, "running", "working"),
    ],
)
def test_builtin_scenarios_reach_their_state(
    api: Api, scenario: str, polls: int, status: str, detail: str | None
) -> None:
    sid = api.create(tags=[f"emulator-scenario:{scenario}"])["session_id"]
    state = [api.poll(sid) for _ in range(polls)][-1]
    assert (state["status"], state["status_detail"]) == (status, detail)


def test_unknown_scenario_name_is_422(api: Api) -> None:
    resp = api.post("/sessions", json={"prompt": "p", "tags": ["emulator-scenario:nope"]})
    assert resp.status_code == 422
    assert "finish" in resp.json()["detail"]


def test_default_and_custom_scenarios_over_admin_api(api: Api) -> None:
    assert api.admin("POST", "/scenario", json={"name": "error"}).status_code == 200
    sid = api.create()["session_id"]
    assert [api.poll(sid)["status"] for _ in range(3)][-1] == "error"
    steps = [
        {"after_polls": 0, "status": "claimed"},
        {"after_polls": 2, "status": "running", "status_detail": "finished", "title": "Custom"},
    ]
    assert api.admin("POST", "/scenario", json={"steps": steps, "name": "mine"}).ok
    created = api.create()
    assert created["status"] == "claimed"
    sid = created["session_id"]
    assert api.poll(sid)["status"] == "claimed"
    final = api.poll(sid)
    assert (final["status"], final["title"]) == ("running", "Custom")
    bad = api.admin("POST", "/scenario", json={"steps": [{"status": "sleeping"}]})
    assert bad.status_code == 422
    assert "status" in bad.json()["detail"]
    help_page = api.admin("GET", "/").json()
    assert {"finish", "mine", "long"} <= {s["name"] for s in help_page["scenarios"]}


def test_follow_up_message_gets_a_reply(api: Api) -> None:
    sid = api.create(tags=["emulator-scenario:idle"])["session_id"]
    api.poll(sid)
    api.post(f"/sessions/{sid}/messages", json={"message": "one more thing"})
    assert api.admin("GET", f"/sessions/{sid}").json()["status_detail"] == "working"
    assert api.poll(sid)["status_detail"] == "finished"
    last = api.get(f"/sessions/{sid}/messages").json()["items"][-1]
    assert last["source"] == "devin" and "one more thing" in last["message"]


def test_terminate_archive_and_conflicts(api: Api) -> None:
    sid = api.create()["session_id"]
    api.poll(sid)
    ended = api.call("DELETE", f"{api.org}/sessions/devin-{sid}")
    assert ended.status_code == 200
    assert (ended.json()["status"], ended.json()["is_archived"]) == ("exit", False)
    again = api.call("DELETE", f"{api.org}/sessions/{sid}")
    assert again.status_code == 400
    assert again.json()["detail"] == "Devin session already exited"
    msg = api.post(f"/sessions/{sid}/messages", json={"message": "hi"})
    assert msg.status_code == 409
    assert api.poll(sid)["status"] == "exit"

    other = api.create()["session_id"]
    archived = api.call("DELETE", f"{api.org}/sessions/{other}?archive=true").json()
    assert (archived["status"], archived["is_archived"]) == ("exit", True)
    bad_flag = api.call("DELETE", f"{api.org}/sessions/{api.create()['session_id']}?archive=x")
    assert bad_flag.status_code == 422

    running = api.create()["session_id"]
    api.poll(running)
    slept = api.post(f"/sessions/{running}/archive").json()
    assert (slept["is_archived"], slept["status"], slept["status_detail"]) == (
        True,
        "suspended",
        "user_request",
    )
    assert api.post(f"/sessions/{running}/messages", json={"message": "x"}).status_code == 409


def test_message_validation(api: Api) -> None:
    sid = api.create()["session_id"]
    assert api.post(f"/sessions/{sid}/messages", json={}).status_code == 422
    assert api.post(f"/sessions/{sid}/messages", json={"message": 3}).status_code == 422
    assert api.post("/sessions/" + "f" * 32 + "/messages", json={"message": "x"}).status_code == (
        404
    )


def test_messages_paginate_chronologically(api: Api) -> None:
    sid = api.create("first")["session_id"]
    for i in range(4):
        api.post(f"/sessions/{sid}/messages", json={"message": f"m{i}"})
    texts: list[str] = []
    after = ""
    while True:
        page = api.get(f"/sessions/{sid}/messages?first=2{after}").json()
        texts += [m["message"] for m in page["items"]]
        if not page["has_next_page"]:
            break
        after = f"&after={page['end_cursor']}"
    assert texts == ["first", "m0", "m1", "m2", "m3"]


def test_tags_get_append_replace(api: Api) -> None:
    sid = api.create(tags=["a"])["session_id"]
    path = f"/sessions/{sid}/tags"
    assert api.post(path, json={"tags": ["b", "a", "c"]}).json() == {"tags": ["a", "b", "c"]}
    assert api.call("PUT", api.org + path, json={"tags": ["z"]}).json() == {"tags": ["z"]}
    assert api.get(path).json() == {"tags": ["z"]}
    too_many = {"tags": [str(i) for i in range(51)]}
    assert api.call("PUT", api.org + path, json=too_many).status_code == 422
    fifty = [str(i) for i in range(50)]
    assert api.call("PUT", api.org + path, json={"tags": fifty}).status_code == 200
    assert api.post(path, json={"tags": ["one-more"]}).status_code == 422
    assert api.post(path, json={}).status_code == 422


def test_insights_generate_then_get(api: Api) -> None:
    sid = api.create()["session_id"]
    before = api.get(f"/sessions/{sid}/insights").json()
    assert before["analysis"] is None
    assert before["num_user_messages"] == 1
    assert api.post(f"/sessions/{sid}/insights/generate").json() == {"status": "started"}
    assert api.post(f"/sessions/{sid}/insights/generate").json() == {"status": "already_exists"}
    after = api.get(f"/sessions/{sid}/insights").json()
    assert after["analysis"] is not None
    assert after["session_id"] == sid


def test_parent_session_via_devin_id_query(api: Api) -> None:
    parent = api.create()["session_id"]
    child = api.post(f"/sessions?devin_id=devin-{parent}", json={"prompt": "child"}).json()
    assert child["parent_session_id"] == parent
    assert api.poll(parent)["child_session_ids"] == [child["session_id"]]


# Attachments ------------------------------------------------------------------------------


def test_upload_redirect_download_and_expiry(timed_api: Api, clock: FakeClock) -> None:
    api = timed_api
    files = {"file": ("notes.txt", b"hello emulator", "text/plain")}
    uploaded = api.post("/attachments", files=files).json()
    assert set(uploaded) == {"attachment_id", "name", "url"}
    assert uploaded["name"] == "notes.txt"
    assert uploaded["url"] == (f"{api.org}/attachments/{uploaded['attachment_id']}/notes.txt")
    redirect = api.call("GET", uploaded["url"], allow_redirects=False)
    assert redirect.status_code == 307
    blob_url = redirect.headers["Location"]
    assert "/_emulator/blobs/" in blob_url
    blob = requests.get(blob_url, timeout=TIMEOUT)
    assert blob.content == b"hello emulator"
    assert blob.headers["Content-Type"].startswith("text/plain")
    clock.now += 61
    assert requests.get(blob_url, timeout=TIMEOUT).status_code == 403

    sid = api.create(attachment_urls=[uploaded["url"], "https://example.com/x.png"])["session_id"]
    listed = api.get(f"/sessions/{sid}/attachments").json()
    assert [(a["name"], a["source"]) for a in listed] == [("notes.txt", "user"), ("x.png", "user")]
    assert api.post("/attachments", data={"other": "x"}).status_code == 422
    wrong_name = uploaded["url"].replace("notes.txt", "other.txt")
    assert api.call("GET", wrong_name, allow_redirects=False).status_code == 404


def test_session_attachments_envelope_option() -> None:
    for api in _running(EmulatorConfig(attachments_envelope=True)):
        sid = api.create()["session_id"]
        assert api.get(f"/sessions/{sid}/attachments").json() == {"items": []}


# Faults -----------------------------------------------------------------------------------


def test_fault_429_with_retry_after_then_recovers(api: Api) -> None:
    sid = api.create()["session_id"]
    fault = {
        "method": "GET",
        "path": "/v3/organizations/.*/sessions/.*",
        "status": 429,
        "retry_after": 1,
        "times": 2,
    }
    assert api.admin("POST", "/faults", json=fault).status_code == 200
    for _ in range(2):
        resp = api.get(f"/sessions/{sid}")
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "1"
        assert resp.json()["status"] == 429
    assert api.get(f"/sessions/{sid}").status_code == 200
    assert api.admin("GET", "/faults").json() == []


def test_fault_503_burst_and_skip_and_clear(api: Api) -> None:
    api.admin("POST", "/faults", json={"path": "/v3/self", "status": 503, "skip": 1})
    codes = [api.call("GET", f"{api.base}/self").status_code for _ in range(4)]
    assert codes == [200, 503, 503, 503]
    assert api.admin("DELETE", "/faults").status_code == 200
    assert api.call("GET", f"{api.base}/self").status_code == 200


def test_fault_body_override(api: Api) -> None:
    api.admin("POST", "/faults", json={"path": "/v3/self", "status": 502, "body": "<html>bad"})
    resp = api.call("GET", f"{api.base}/self")
    assert (resp.status_code, resp.text) == (502, "<html>bad")


def test_fault_delay_makes_a_client_time_out(api: Api) -> None:
    api.admin("POST", "/faults", json={"path": "/v3/self", "delay": 0.6, "times": 1})
    with pytest.raises(requests.Timeout):
        api.call("GET", f"{api.base}/self", timeout=0.2)
    assert _logged(api, "GET", "/v3/self")["status"] == 200


def test_fault_after_phase_creates_exactly_one_session(api: Api) -> None:
    fault = {
        "method": "POST",
        "path": "/v3/organizations/[^/]+/sessions",
        "phase": "after",
        "delay": 0.6,
        "times": 1,
    }
    api.admin("POST", "/faults", json=fault)
    with pytest.raises(requests.Timeout):
        api.post("/sessions", json={"prompt": "lost answer", "tags": ["k:1"]}, timeout=0.3)
    assert _logged(api, "POST", f"/v3/organizations/{ORG}/sessions")["status"] == 200
    listed = api.get("/sessions?tags=k:1").json()
    assert listed["total"] == 1
    assert listed["items"][0]["title"] == "lost answer"

    api.admin("POST", "/faults", json={**fault, "delay": 0, "status": 503})
    assert api.post("/sessions", json={"prompt": "p", "tags": ["k:2"]}).status_code == 503
    assert api.get("/sessions?tags=k:2").json()["total"] == 1


def test_fault_drop_gives_connection_error(api: Api) -> None:
    api.admin("POST", "/faults", json={"path": "/v3/self", "drop": True, "times": 1})
    with pytest.raises(requests.ConnectionError):
        api.call("GET", f"{api.base}/self")
    assert api.call("GET", f"{api.base}/self").status_code == 200
    log = api.admin("GET", "/requests").json()
    assert [(e["status"], e["dropped"]) for e in log] == [(None, True), (200, False)]


def test_bad_fault_spec_is_422(api: Api) -> None:
    assert api.admin("POST", "/faults", json={"path": "("}).status_code == 422
    assert api.admin("POST", "/faults", json={"path": ".*"}).status_code == 422
    assert api.admin("POST", "/faults", json={"status": "x"}).status_code == 422


def test_admin_routes_are_never_faulted(api: Api) -> None:
    api.admin("POST", "/faults", json={"path": ".*", "status": 500})
    assert api.admin("GET", "/stats").status_code == 200
    assert api.call("GET", f"{api.base}/self").status_code == 500


# Request log, stats, admin -----------------------------------------------------------------


def test_request_log_hides_key_and_secret_values(api: Api) -> None:
    secrets = [{"key": "TOKEN", "value": "s3cr3t-value"}]
    api.create("with secret", session_secrets=secrets)
    api.call("GET", f"{api.base}/self", headers={"Authorization": "Bearer cog_wrong_key"})
    raw = api.admin("GET", "/requests").text
    assert KEY not in raw
    assert "cog_wrong_key" not in raw
    assert "s3cr3t-value" not in raw
    log = json.loads(raw)
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", f"/v3/organizations/{ORG}/sessions", 200),
        ("GET", "/v3/self", 401),
    ]
    assert log[0]["json"]["prompt"] == "with secret"
    assert set(log[0]) >= {"method", "path", "query", "json", "status", "ts"}
    assert api.admin("DELETE", "/requests").ok
    assert api.admin("GET", "/requests").json() == []


def test_stats_count_by_route_template(api: Api) -> None:
    sids = [api.create()["session_id"] for _ in range(3)]
    for sid in sids:
        api.poll(sid)
        api.poll(f"devin-{sid}")
    stats = api.admin("GET", "/stats").json()
    assert stats["by_route"] == {
        "POST /v3/organizations/<org_id>/sessions": 3,
        "GET /v3/organizations/<org_id>/sessions/<devin_id>": 6,
    }
    assert stats["sessions"] == 3
    assert stats["live_sessions"] == 3


def test_admin_patch_advance_and_reset(api: Api) -> None:
    sid = api.create()["session_id"]
    patched = api.admin(
        "PATCH", f"/sessions/devin-{sid}", json={"status": "suspended", "acus_consumed": 7}
    )
    assert patched.status_code == 200
    state = api.poll(sid)
    assert (state["status"], state["acus_consumed"]) == ("suspended", 7)
    assert api.admin("PATCH", f"/sessions/{sid}", json={"bogus": 1}).status_code == 422
    assert api.admin("PATCH", f"/sessions/{sid}", json={"status": "zzz"}).status_code == 422

    other = api.create()["session_id"]
    advanced = api.admin("POST", f"/sessions/{other}/advance", json={"steps": 4}).json()
    assert advanced["status_detail"] == "finished"
    assert advanced["pending_steps"] == 0

    assert api.admin("POST", "/reset").ok
    assert api.admin("GET", "/stats").json()["total"] == 0
    assert api.get("/sessions").json()["total"] == 0


def test_in_process_controls(api: Api) -> None:
    emu = api.emulator
    emu.set_default_scenario("exit")
    emu.add_fault(path="/v3/self", status=418, times=1)
    assert api.call("GET", f"{api.base}/self").status_code == 418
    sid = api.create()["session_id"]
    assert [api.poll(sid)["status"] for _ in range(3)][-1] == "exit"
    assert emu.requests()[-1]["status"] == 200


# Knowledge notes, playbooks, schedules, secrets -------------------------------------------


def test_knowledge_notes_crud_and_folders(api: Api) -> None:
    note = api.post(
        "/knowledge/notes",
        json={"name": "Style", "body": "Use ruff", "trigger": "python", "pinned_repo": "a/b"},
    ).json()
    assert note["note_id"].startswith("note-")
    assert (note["folder_path"], note["access_type"], note["org_id"]) == ("/", "org", ORG)
    assert note["is_enabled"] is True and note["macro"] is None
    assert isinstance(note["created_at"], int)
    api.post(
        "/knowledge/notes",
        json={"name": "Deploy", "body": "b", "trigger": "t", "folder_id": "folder-ops"},
    )
    assert api.get("/knowledge/notes?search=RUFF").json()["total"] == 1
    assert api.get("/knowledge/notes?folder_path=/ops").json()["items"][0]["name"] == "Deploy"
    assert api.get("/knowledge/notes?pinned_repo=a/b").json()["total"] == 1
    folders = api.get("/knowledge/folders").json()
    assert folders["root_note_count"] == 1
    assert [(f["folder_id"], f["note_count"]) for f in folders["folders"]] == [("folder-ops", 1)]

    path = f"/knowledge/notes/{note['note_id']}"
    replaced = api.call(
        "PUT", api.org + path, json={"name": "S2", "body": "B2", "trigger": "T2"}
    ).json()
    assert (replaced["name"], replaced["pinned_repo"]) == ("S2", None)
    assert api.call("PUT", api.org + path, json={"name": "only"}).status_code == 422
    assert api.call("DELETE", api.org + path).json()["name"] == "S2"
    assert api.get(path).status_code == 404
    missing = api.post("/knowledge/notes", json={"name": "n"})
    assert {loc[1] for loc in _locs(missing)} == {"body", "trigger"}


def test_playbooks_crud_and_macro_validation(api: Api) -> None:
    created = api.post(
        "/playbooks", json={"title": "Review", "body": "Steps", "macro": "!review_pr"}
    ).json()
    pid = created["playbook_id"]
    assert pid.startswith("playbook-")
    assert created["created_by"] == created["updated_by"] == "service-user-emulator"
    assert api.post(
        "/playbooks", json={"title": "T", "body": "B", "macro": "nope"}
    ).status_code == (422)
    assert api.post("/playbooks", json={"title": "T"}).status_code == 422
    updated = api.call("PUT", f"{api.org}/playbooks/{pid}", json={"title": "R2", "body": "S2"})
    assert (updated.json()["title"], updated.json()["macro"]) == ("R2", None)
    assert api.get("/playbooks").json()["total"] == 1
    assert api.call("DELETE", f"{api.org}/playbooks/{pid}").json()["playbook_id"] == pid
    assert api.get(f"/playbooks/{pid}").status_code == 404


def test_schedules_create_validate_patch_delete_and_run(timed_api: Api, clock: FakeClock) -> None:
    api = timed_api
    created = api.post(
        "/schedules",
        json={"name": "Nightly", "prompt": "Check deps", "frequency": "0 9 * * 1-5", "tags": ["s"]},
    ).json()
    sched_id = created["scheduled_session_id"]
    assert sched_id.startswith("sched-")
    assert created["enabled"] is True
    assert (created["agent"], created["notify_on"], created["schedule_type"]) == (
        "devin",
        "failure",
        "recurring",
    )
    assert created["created_at"].startswith("2027-")  # ISO-8601, unlike sessions
    assert created["playbook"] is None

    for cron in ("61 * * * *", "* * *", "*/0 * * * *", "0 9 * * MON-XYZ"):
        resp = api.post("/schedules", json={"name": "n", "prompt": "p", "frequency": cron})
        assert resp.status_code == 422, cron
        assert _locs(resp) == [["body", "frequency"]]
    missing = api.post("/schedules", json={"name": "n", "prompt": "p"})
    assert _locs(missing) == [["body", "frequency"]]
    past = api.post(
        "/schedules",
        json={
            "name": "once",
            "prompt": "p",
            "schedule_type": "one_time",
            "scheduled_at": "2020-01-01T00:00:00+00:00",
        },
    )
    assert _locs(past) == [["body", "scheduled_at"]]
    bad_agent = api.post(
        "/schedules", json={"name": "n", "prompt": "p", "frequency": "* * * * *", "agent": "x"}
    )
    assert _locs(bad_agent) == [["body", "agent"]]

    patched = api.call(
        "PATCH", f"{api.org}/schedules/{sched_id}", json={"enabled": False, "name": "N2"}
    ).json()
    assert (patched["enabled"], patched["name"], patched["frequency"]) == (
        False,
        "N2",
        "0 9 * * 1-5",
    )
    bad_patch = api.call("PATCH", f"{api.org}/schedules/{sched_id}", json={"frequency": "x"})
    assert bad_patch.status_code == 422

    run = api.admin("POST", f"/schedules/{sched_id}/run").json()
    assert run["origin"] == "scheduled"
    by_schedule = api.get(f"/sessions?schedule_id={sched_id}").json()
    assert [s["session_id"] for s in by_schedule["items"]] == [run["session_id"]]

    api.post("/schedules", json={"name": "B", "prompt": "p", "frequency": "@hourly"})
    second = api.post("/schedules", json={"name": "B", "prompt": "p", "frequency": "5 * * * *"})
    assert second.status_code == 200
    page = api.get("/schedules?limit=1&offset=1").json()
    assert [s["name"] for s in page["items"]] == ["B"]
    assert page["total"] == 2
    assert api.get("/schedules?first=1").json()["has_next_page"] is True

    deleted = api.call("DELETE", f"{api.org}/schedules/{sched_id}").json()
    assert deleted["scheduled_session_id"] == sched_id
    assert api.get(f"/schedules/{sched_id}").status_code == 404
    assert api.get("/schedules").json()["total"] == 1


def test_secrets_never_echo_values(api: Api) -> None:
    created = api.post("/secrets", json={"key": "NPM", "value": "tok-123"})
    assert created.status_code == 200
    assert "tok-123" not in created.text
    assert api.post("/secrets", json={"key": "NPM", "value": "again"}).status_code == 409
    secret_id = created.json()["secret_id"]
    assert api.get("/secrets").json()["total"] == 1
    assert api.call("DELETE", f"{api.org}/secrets/{secret_id}").status_code == 200
    assert api.get("/secrets").json()["total"] == 0


# Scale and the command-line server ---------------------------------------------------------


def test_many_sessions_page_at_the_200_cap() -> None:
    app = create_emulator_app()
    client = app.test_client()
    auth = {"Authorization": f"Bearer {KEY}"}
    for i in range(250):
        client.post(f"/v3/organizations/{ORG}/sessions", json={"prompt": f"p{i}"}, headers=auth)
    first = client.get(f"/v3/organizations/{ORG}/sessions?first=200", headers=auth).get_json()
    assert (len(first["items"]), first["has_next_page"], first["total"]) == (200, True, 250)
    rest = client.get(
        f"/v3/organizations/{ORG}/sessions?first=200&after={first['end_cursor']}", headers=auth
    ).get_json()
    assert len(rest["items"]) == 50
    assert rest["items"][-1]["title"] == "p0"


def test_serve_prints_base_url_and_answers() -> None:
    code = (
        "from bot.emulator import serve, EmulatorConfig\n"
        "serve(port=0, config=EmulatorConfig(org_id='org-cli'), quiet=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("Devin API emulator on http://127.0.0.1:")
        assert "(org org-cli, key cog_emulator_key)" in line
        base = line.split()[4]
        assert base.endswith("/v3")
        resp = requests.get(
            f"{base}/self", headers={"Authorization": f"Bearer {KEY}"}, timeout=TIMEOUT
        )
        assert resp.json()["org_id"] == "org-cli"
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)


def test_no_route_answers_500_to_bad_input() -> None:
    app = create_emulator_app(EmulatorConfig(max_upload_bytes=10_000))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {KEY}"}
    sid = client.post(
        f"/v3/organizations/{ORG}/sessions", json={"prompt": "p"}, headers=auth
    ).get_json()["session_id"]
    values = {"org_id": ORG, "devin_id": sid, "token": "t", "name": "n"}
    bodies: list[dict[str, Any]] = [
        {"data": "{oops"},
        {"data": "null"},
        {"json": {"prompt": None, "tags": "x", "message": [], "steps": 3, "status": {}}},
        {"json": {k: {"deep": [1]} for k in ("name", "body", "title", "frequency", "key")}},
        {"data": "x" * 20_000},
        {"query_string": "first=-1&after=zz&limit=x&offset=-3&archive=maybe&tags="},
    ]
    checked = 0
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", values.get(arg, "x")).replace(f"<path:{arg}>", "x")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for extra in bodies:
                resp = client.open(path, method=method, headers=auth, **extra)
                assert resp.status_code < 500, (method, path, extra, resp.get_data())
                checked += 1
    assert checked > 300
