"""Parsers for Devin API v3 responses: tolerant of every documented variant."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.devin_models import (
    USAGE_SUSPEND_REASONS,
    Attachment,
    Message,
    PullRequest,
    Session,
    bare_session_id,
    path_session_id,
    same_session,
)
from bot.core.devin_org import (
    FolderTree,
    Identity,
    KnowledgeNote,
    Organization,
    Playbook,
    Schedule,
)
from bot.core.parsing import Page

HEX = "0a4d31d638894ec2b9d64338be35eb3b"


def session_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "session_id": HEX,
        "url": f"https://app.devin.ai/sessions/{HEX}",
        "status": "running",
        "status_detail": "working",
        "title": "Fix the flaky test",
        "tags": ["devin-bridge", "repo:o/r"],
        "org_id": "org-1",
        "user_id": None,
        "service_user_id": "service-user-1",
        "playbook_id": None,
        "created_at": 1_760_000_000,
        "updated_at": 1_760_000_100,
        "acus_consumed": 1.5,
        "pull_requests": [],
        "structured_output": None,
        "is_archived": False,
    }
    body.update(overrides)
    return body


# --- sessions -----------------------------------------------------------------


def test_session_parses_documented_fields_and_keeps_unknown_ones_in_raw() -> None:
    data = session_json(devin_mode="fast", automation_id="auto-1", origin="api")
    session = Session.from_api(data)

    assert session.session_id == HEX
    assert session.status == "running"
    assert session.status_detail == "working"
    assert session.tags == ("devin-bridge", "repo:o/r")
    assert session.acus_consumed == 1.5
    assert session.created_at == 1_760_000_000
    assert session.origin == "api"
    assert session.raw["devin_mode"] == "fast"
    assert session.raw["automation_id"] == "auto-1"


@pytest.mark.parametrize("sid", [HEX, f"devin-{HEX}"])
def test_session_accepts_both_id_forms_and_keeps_the_one_returned(sid: str) -> None:
    session = Session.from_api(session_json(session_id=sid, url=None))

    assert session.session_id == sid  # written back exactly as the API returned it
    assert session.path_id == f"devin-{HEX}"
    assert session.url == f"https://app.devin.ai/sessions/{HEX}"


def test_session_id_helpers() -> None:
    assert bare_session_id(f"devin-{HEX}") == HEX
    assert bare_session_id(f" {HEX} ") == HEX
    assert path_session_id(HEX) == f"devin-{HEX}"
    assert path_session_id(f"devin-{HEX}") == f"devin-{HEX}"
    assert same_session(HEX, f"devin-{HEX}")
    assert not same_session(HEX, "devin-other")


@pytest.mark.parametrize("bad", ["", "   ", "devin-", "a/b", "../x", "abc?x=1", "abc#f", "a b"])
def test_path_session_id_rejects_what_is_not_an_id(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Devin session id"):
        path_session_id(bad)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # v3
        (
            {"pull_requests": [{"pr_url": "https://github.com/o/r/pull/1", "pr_state": "open"}]},
            [PullRequest("https://github.com/o/r/pull/1", "open")],
        ),
        # v3 with a null state (required but nullable)
        (
            {"pull_requests": [{"pr_url": "https://github.com/o/r/pull/2", "pr_state": None}]},
            [PullRequest("https://github.com/o/r/pull/2", None)],
        ),
        # v2 / some docs
        (
            {"pull_requests": [{"url": "https://github.com/o/r/pull/3", "state": "merged"}]},
            [PullRequest("https://github.com/o/r/pull/3", "merged")],
        ),
        # v1: a single object
        (
            {"pull_request": {"url": "https://github.com/o/r/pull/4"}},
            [PullRequest("https://github.com/o/r/pull/4", None)],
        ),
        # junk items are dropped, not fatal
        (
            {"pull_requests": ["nope", {"pr_state": "open"}, None, {"pr_url": 5}]},
            [],
        ),
        ({"pull_requests": "not a list"}, []),
    ],
)
def test_pull_request_shapes(data: dict[str, Any], expected: list[PullRequest]) -> None:
    body = session_json()
    body.pop("pull_requests")
    body.update(data)
    assert list(Session.from_api(body).pull_requests) == expected


def test_v3_pull_requests_win_over_a_legacy_single_pull_request() -> None:
    body = session_json(
        pull_requests=[{"pr_url": "https://github.com/o/r/pull/9", "pr_state": "open"}],
        pull_request={"url": "https://github.com/o/r/pull/1"},
    )
    assert [p.url for p in Session.from_api(body).pull_requests] == [
        "https://github.com/o/r/pull/9"
    ]


@pytest.mark.parametrize("data", [None, [], "text", 42, {}])
def test_session_parser_never_raises_on_junk(data: Any) -> None:
    session = Session.from_api(data)
    assert session.session_id == ""
    assert session.url == ""
    assert session.status == "new"


def test_session_parser_ignores_wrong_types() -> None:
    session = Session.from_api(
        session_json(
            tags=["ok", 3, None],
            created_at="yesterday",
            updated_at=12.9,
            acus_consumed=True,
            is_archived="yes",
            structured_output=["not", "an", "object"],
            title=7,
        )
    )
    assert session.tags == ("ok",)
    assert session.created_at == 0
    assert session.updated_at == 12
    assert session.acus_consumed == 0.0
    assert session.is_archived is False
    assert session.structured_output is None
    assert session.title is None


def test_session_structured_output_and_archive_flags() -> None:
    session = Session.from_api(
        session_json(status="exit", structured_output={"ok": True}, is_archived=True)
    )
    assert session.structured_output == {"ok": True}
    assert session.is_archived
    assert session.is_terminal
    assert not session.is_live


# --- the status model ------------------------------------------------------------

RUNNING_DETAILS: list[tuple[str | None, str, bool, bool]] = [
    # detail, state, needs_input, settled
    (None, "working", False, False),
    ("working", "working", False, False),
    ("waiting_for_user", "waiting-for-input", True, True),
    ("waiting_for_approval", "waiting-for-approval", False, True),
    ("finished", "finished", False, True),
]

SUSPEND_REASONS = [
    None,
    "inactivity",
    "user_request",
    "error",
    "usage_limit_exceeded",
    "out_of_credits",
    "out_of_quota",
    "no_quota_allocation",
    "payment_declined",
    "org_usage_limit_exceeded",
    "total_session_limit_exceeded",
    "user_usage_limit_exceeded",
]

USAGE_REASONS = {
    "usage_limit_exceeded",
    "out_of_credits",
    "out_of_quota",
    "no_quota_allocation",
    "payment_declined",
    "org_usage_limit_exceeded",
    "total_session_limit_exceeded",
    "user_usage_limit_exceeded",
}

# status, status_detail, state(), state(stopped=True), needs_input, is_settled, blocked_by_usage
STATUS_TABLE: list[tuple[str, str | None, str, str, bool, bool, bool]] = [
    ("new", None, "queued", "queued", False, False, False),
    ("creating", None, "queued", "queued", False, False, False),
    ("claimed", None, "queued", "queued", False, False, False),
    ("resuming", None, "working", "working", False, False, False),
    ("exit", None, "finished", "stopped", False, True, False),
    ("error", None, "failed", "failed", False, True, False),
    # a detail left over from "running" changes nothing once the session is over
    ("exit", "finished", "finished", "stopped", False, True, False),
    ("error", "waiting_for_user", "failed", "failed", False, True, False),
    # an unknown future status is treated as still working: keep polling
    ("sleeping", None, "working", "working", False, False, False),
    *[
        ("running", detail, state, state, needs, settled, False)
        for detail, state, needs, settled in RUNNING_DETAILS
    ],
    *[
        ("suspended", reason, "suspended", "stopped", False, True, reason in USAGE_REASONS)
        for reason in SUSPEND_REASONS
    ],
    # "waiting_for_user" only means something while running
    ("suspended", "waiting_for_user", "suspended", "stopped", False, True, False),
]


@pytest.mark.parametrize(
    ("status", "detail", "state", "stopped_state", "needs_input", "settled", "blocked"),
    STATUS_TABLE,
)
def test_status_model(
    status: str,
    detail: str | None,
    state: str,
    stopped_state: str,
    needs_input: bool,
    settled: bool,
    blocked: bool,
) -> None:
    session = Session.from_api(session_json(status=status, status_detail=detail))

    assert session.state() == state
    assert session.state(stopped=True) == stopped_state
    assert session.needs_input is needs_input
    assert session.is_settled is settled
    assert session.blocked_by_usage is blocked
    assert session.is_terminal is (status in ("exit", "error"))
    assert session.suspend_reason == (detail if status == "suspended" else None)


def test_usage_reasons_table_matches_the_model() -> None:
    assert set(USAGE_SUSPEND_REASONS) == USAGE_REASONS


def test_approval_and_finished_flags() -> None:
    approval = Session.from_api(session_json(status_detail="waiting_for_approval"))
    assert approval.needs_approval and not approval.needs_input

    done = Session.from_api(session_json(status_detail="finished"))
    assert done.is_finished and not done.is_working
    assert Session.from_api(session_json(status="exit", status_detail=None)).is_finished
    assert Session.from_api(session_json(status="new", status_detail=None)).is_working


# --- messages, attachments, pages ---------------------------------------------------


def test_message_parser() -> None:
    msg = Message.from_api(
        {"event_id": "ev-1", "source": "user", "message": "hi", "created_at": 5, "x": 1}
    )
    assert (msg.event_id, msg.source, msg.message, msg.created_at) == ("ev-1", "user", "hi", 5)
    assert not msg.from_devin
    assert msg.raw["x"] == 1
    assert Message.from_api({"event_id": "ev-2", "source": "devin", "message": "yo"}).from_devin
    # v1 used "type" for the source; nothing at all means Devin
    assert Message.from_api({"id": "e", "type": "user_message"}).source == "user_message"
    assert Message.from_api({}).source == "devin"


ATTACHMENT = {
    "attachment_id": "7b1b0f9e-7f4e-4b7e-9a52-1c5d3f1a0b11",
    "name": "summary.md",
    "source": "devin",
    "url": "https://api.devin.ai/v3/organizations/org-1/attachments/7b1b/summary.md",
    "content_type": "text/markdown",
    "extra": "kept",
}


@pytest.mark.parametrize("body", [[ATTACHMENT], {"items": [ATTACHMENT]}])
def test_session_attachments_as_array_or_items(body: Any) -> None:
    (att,) = Page.from_api(body, Attachment.from_api).items
    assert att.attachment_id == ATTACHMENT["attachment_id"]
    assert att.name == "summary.md"
    assert att.source == "devin"
    assert att.content_type == "text/markdown"
    assert att.url.endswith("/summary.md")
    assert att.raw["extra"] == "kept"


def test_upload_response_parses_as_attachment() -> None:
    att = Attachment.from_api({"attachment_id": "a1", "name": "log.txt", "url": "https://x/y"})
    assert (att.attachment_id, att.name, att.url, att.source) == (
        "a1",
        "log.txt",
        "https://x/y",
        None,
    )


def test_page_envelope() -> None:
    page = Page.from_api(
        {"items": [{"event_id": "1"}], "end_cursor": "c1", "has_next_page": True, "total": 3},
        Message.from_api,
    )
    assert [m.event_id for m in page.items] == ["1"]
    assert page.end_cursor == "c1"
    assert page.has_next_page
    assert page.total == 3


@pytest.mark.parametrize(
    ("body", "has_next"),
    [
        ({"items": [], "end_cursor": None, "has_next_page": False}, False),
        ({"items": [], "end_cursor": "c"}, True),  # no flag: a cursor means more
        ({"items": [], "end_cursor": "c", "has_next_page": False}, False),
        ({"items": [], "next_cursor": "c", "has_more": True}, True),
        ({"items": "junk"}, False),
        (None, False),
    ],
)
def test_page_has_next_variants(body: Any, has_next: bool) -> None:
    page = Page.from_api(body, Message.from_api)
    assert page.has_next_page is has_next
    assert page.items == ()


# --- identity, organisations ------------------------------------------------------------


def test_identity_shapes() -> None:
    service = Identity.from_api(
        {
            "principal_type": "service_user",
            "service_user_id": "service-user-abc123",
            "service_user_name": "CI Bot",
            "org_id": None,
        }
    )
    assert (service.principal_type, service.id, service.name, service.org_id) == (
        "service_user",
        "service-user-abc123",
        "CI Bot",
        None,
    )
    pat = Identity.from_api(
        {
            "principal_type": "pat_user",
            "user_id": "user-1",
            "user_name": "Ada",
            "api_key_id": "k1",
            "api_key_name": "laptop",
            "org_id": "org-1",
        }
    )
    assert (pat.id, pat.name, pat.org_id) == ("user-1", "Ada", "org-1")
    assert pat.raw["api_key_name"] == "laptop"
    assert Identity.from_api({}).principal_type == "unknown"


def test_organization_parser() -> None:
    org = Organization.from_api(
        {"org_id": "org-1", "name": "Acme", "max_session_acu_limit": 10, "created_at": 1}
    )
    assert (org.org_id, org.name, org.max_session_acu_limit, org.max_cycle_acu_limit) == (
        "org-1",
        "Acme",
        10,
        None,
    )


# --- knowledge, playbooks, schedules ----------------------------------------------------


def test_knowledge_note_v3_and_v1_field_names() -> None:
    v3 = KnowledgeNote.from_api(
        {
            "note_id": "note-1",
            "name": "Style",
            "body": "Use ruff",
            "trigger": "when writing Python",
            "folder_id": None,
            "folder_path": "/",
            "is_enabled": False,
            "pinned_repo": "o/r",
            "macro": None,
            "access_type": "org",
            "created_at": 1,
            "updated_at": 2,
        }
    )
    assert (v3.note_id, v3.trigger, v3.is_enabled, v3.pinned_repo) == (
        "note-1",
        "when writing Python",
        False,
        "o/r",
    )
    assert v3.raw["access_type"] == "org"
    v1 = KnowledgeNote.from_api(
        {"id": "n1", "name": "x", "body": "y", "trigger_description": "t", "parent_folder_id": "f"}
    )
    assert (v1.note_id, v1.trigger, v1.folder_id, v1.is_enabled) == ("n1", "t", "f", True)


def test_folder_tree() -> None:
    tree = FolderTree.from_api(
        {
            "folders": [
                {"folder_id": "f1", "name": "A", "path": "/A", "note_count": 2},
                {"folder_id": "f2", "name": "B", "path": "/A/B", "parent_folder_id": "f1"},
            ],
            "root_note_count": 4,
        }
    )
    assert [f.path for f in tree.folders] == ["/A", "/A/B"]
    assert tree.folders[1].parent_folder_id == "f1"
    assert tree.root_note_count == 4
    assert FolderTree.from_api(None).folders == ()


def test_playbook_spec_names_and_common_flows_names() -> None:
    spec = Playbook.from_api(
        {
            "playbook_id": "playbook-1",
            "title": "Review",
            "body": "Do it",
            "macro": "!review",
            "structured_output_schema": {"type": "object"},
        }
    )
    assert (spec.playbook_id, spec.title, spec.body, spec.macro) == (
        "playbook-1",
        "Review",
        "Do it",
        "!review",
    )
    assert spec.structured_output_schema == {"type": "object"}
    flows = Playbook.from_api({"id": "p2", "name": "Review", "instructions": "Do it"})
    assert (flows.playbook_id, flows.title, flows.body) == ("p2", "Review", "Do it")


@pytest.mark.parametrize(
    ("id_key", "cron_key"),
    [
        ("scheduled_session_id", "frequency"),  # the spec
        ("schedule_id", "cron_schedule"),  # the Common Flows page
    ],
)
def test_schedule_field_name_variants(id_key: str, cron_key: str) -> None:
    schedule = Schedule.from_api(
        {
            id_key: "sched-1",
            cron_key: "0 9 * * 1-5",
            "name": "Nightly",
            "prompt": "Check deps",
            "enabled": False,
            "playbook": {"playbook_id": "playbook-1", "title": "Deps"},
            "created_at": "2026-01-01T00:00:00Z",
            "last_executed_at": 1_760_000_000,
            "consecutive_failures": 2,
            "tags": ["a"],
            "slack_channel_id": "C1",
        }
    )
    assert schedule.schedule_id == "sched-1"
    assert schedule.frequency == "0 9 * * 1-5"
    assert schedule.enabled is False
    assert schedule.playbook_id == "playbook-1"
    assert schedule.created_at == "2026-01-01T00:00:00Z"
    assert schedule.last_executed_at == "1760000000"
    assert schedule.consecutive_failures == 2
    assert schedule.tags == ("a",)
    assert schedule.raw["slack_channel_id"] == "C1"


def test_schedule_spec_id_wins_and_is_enabled_alias() -> None:
    schedule = Schedule.from_api(
        {"scheduled_session_id": "sched-spec", "schedule_id": "other", "is_enabled": False}
    )
    assert schedule.schedule_id == "sched-spec"
    assert schedule.enabled is False
    assert Schedule.from_api({}).enabled is True
