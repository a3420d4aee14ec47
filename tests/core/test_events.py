"""classify(): which GitHub events become work for the bridge, and which are ignored."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.events import Ignored, Trigger, classify
from tests.support.payloads import load_payload

REPO = {"full_name": "octo-org/octo-repo", "name": "octo-repo", "owner": {"login": "octo-org"}}


def user(login: str = "alice", type: str = "User") -> dict[str, Any]:
    return {"login": login, "type": type, "id": 1}


def issue_comment(
    body: str,
    *,
    action: str = "created",
    pr: bool = False,
    sender: str = "alice",
    sender_type: str = "User",
    previous: str | None = None,
) -> dict[str, Any]:
    issue: dict[str, Any] = {"number": 7, "title": "Flaky test", "body": "details"}
    if pr:
        issue["pull_request"] = {"url": "https://api.github.com/repos/octo-org/octo-repo/pulls/7"}
    payload: dict[str, Any] = {
        "action": action,
        "issue": issue,
        "comment": {
            "id": 1001,
            "body": body,
            "user": user(sender, sender_type),
            "html_url": "https://github.com/octo-org/octo-repo/issues/7#issuecomment-1001",
            "created_at": "2026-01-02T03:04:05Z",
            "updated_at": "2026-01-02T03:05:00Z",
        },
        "repository": REPO,
        "sender": user(sender, sender_type),
        "installation": {"id": 42},
    }
    if previous is not None:
        payload["changes"] = {"body": {"from": previous}}
    return payload


def review_comment(body: str = "/devin rename this") -> dict[str, Any]:
    return {
        "action": "created",
        "comment": {
            "id": 555,
            "body": body,
            "path": "src/app.py",
            "line": 12,
            "original_line": 10,
            "start_line": None,
            "side": "RIGHT",
            "diff_hunk": "@@ -1,3 +1,4 @@\n def f():\n-    return 1\n+    return 2",
            "commit_id": "abc",
            "user": user(),
            "html_url": "https://github.com/octo-org/octo-repo/pull/9#discussion_r555",
            "created_at": "2026-01-02T03:04:05Z",
        },
        "pull_request": {"number": 9, "title": "Refactor", "head": {"ref": "feature"}},
        "repository": REPO,
        "sender": user(),
    }


def labeled(event: str, label: str = "devin") -> dict[str, Any]:
    key = "issue" if event == "issues" else "pull_request"
    return {
        "action": "labeled",
        "label": {"name": label},
        key: {"number": 3, "updated_at": "2026-01-02T03:04:05Z", "head": {"ref": "x"}},
        "number": 3,
        "repository": REPO,
        "sender": user(),
    }


def accepted(result: Trigger | Ignored) -> Trigger:
    assert isinstance(result, Trigger), result
    return result


def test_issue_comment_command_becomes_a_comment_trigger() -> None:
    t = accepted(classify("issue_comment", issue_comment("  \n/devin fix the flaky test")))
    assert t.kind == "comment"
    assert t.repo == "octo-org/octo-repo"
    assert t.number == 7
    assert t.thread == "octo-org/octo-repo#7"
    assert not t.is_pull_request
    assert t.sender.login == "alice" and not t.sender.is_bot
    assert t.comment_id == 1001
    assert t.comment_url and t.comment_url.endswith("issuecomment-1001")
    assert t.installation_id == 42
    assert t.created_at == "2026-01-02T03:04:05Z"
    assert "/devin fix" in t.text


def test_pr_conversation_comment_is_marked_as_pull_request() -> None:
    t = accepted(classify("issue_comment", issue_comment("/devin review", pr=True)))
    assert t.is_pull_request


@pytest.mark.parametrize("body", ["thanks!", "", "please /devin do it", "> /devin quoted"])
def test_comments_that_are_not_commands_are_ignored(body: str) -> None:
    result = classify("issue_comment", issue_comment(body))
    assert isinstance(result, Ignored)


def test_deleted_comment_is_ignored() -> None:
    assert isinstance(
        classify("issue_comment", issue_comment("/devin x", action="deleted")), Ignored
    )


def test_own_comments_are_ignored_by_login_and_by_marker() -> None:
    mine = classify(
        "issue_comment",
        issue_comment("/devin status", sender="devin-bridge[bot]", sender_type="Bot"),
        bot_login="devin-bridge[bot]",
    )
    assert isinstance(mine, Ignored)
    marked = classify(
        "issue_comment",
        issue_comment("/devin x\n<!-- devin-bridge:session=abc -->", sender="someone"),
    )
    assert isinstance(marked, Ignored)


def test_other_bots_pass_classify_and_are_judged_by_handle() -> None:
    t = accepted(
        classify("issue_comment", issue_comment("/devin x", sender="ci[bot]", sender_type="Bot"))
    )
    assert t.sender.is_bot


def test_edit_counts_only_when_the_command_line_changed() -> None:
    same = classify(
        "issue_comment",
        issue_comment("/devin fix it\nmore words", action="edited", previous="/devin fix it"),
    )
    assert isinstance(same, Ignored)
    changed = accepted(
        classify(
            "issue_comment",
            issue_comment("/devin fix it properly", action="edited", previous="/devin fix it"),
        )
    )
    assert changed.previous_text == "/devin fix it"
    assert changed.created_at == "2026-01-02T03:05:00Z"
    created = accepted(classify("issue_comment", issue_comment("/devin fix it properly")))
    assert changed.dedupe_key != created.dedupe_key


def test_dedupe_key_is_stable_for_the_same_comment() -> None:
    a = accepted(classify("issue_comment", issue_comment("/devin a")))
    b = accepted(classify("issue_comment", issue_comment("/devin a")))
    assert a.dedupe_key == b.dedupe_key


def test_review_comment_carries_its_diff_location() -> None:
    t = accepted(classify("pull_request_review_comment", review_comment()))
    assert t.kind == "review_comment"
    assert t.number == 9 and t.is_pull_request
    assert t.review is not None
    assert t.review.path == "src/app.py"
    assert t.review.line == 12
    assert t.review.side == "RIGHT"
    assert "return 2" in t.review.diff_hunk
    assert t.comment_url == t.review.url
    assert t.installation_id is None


def test_review_comment_edits_are_ignored() -> None:
    payload = review_comment()
    payload["action"] = "edited"
    assert isinstance(classify("pull_request_review_comment", payload), Ignored)


@pytest.mark.parametrize("event", ["issues", "pull_request"])
def test_labeled_events_become_label_triggers(event: str) -> None:
    t = accepted(classify(event, labeled(event, "devin:review")))
    assert t.kind == "label"
    assert t.label == "devin:review" and t.text == "devin:review"
    assert t.number == 3
    assert t.is_pull_request == (event == "pull_request")


def test_unlabeled_and_other_actions_are_ignored() -> None:
    payload = labeled("issues")
    payload["action"] = "unlabeled"
    assert isinstance(classify("issues", payload), Ignored)
    payload["action"] = "opened"
    assert isinstance(classify("issues", payload), Ignored)


def test_label_added_by_the_bridge_itself_is_ignored() -> None:
    payload = labeled("issues")
    payload["sender"] = user("devin-bridge[bot]", "Bot")
    assert isinstance(classify("issues", payload, bot_login="devin-bridge[bot]"), Ignored)


def test_prompt_makes_any_event_a_prompt_trigger() -> None:
    dispatch = {"inputs": {}, "ref": "refs/heads/main", "repository": REPO, "sender": user()}
    t = accepted(classify("workflow_dispatch", dispatch, prompt="  Update the changelog  "))
    assert t.kind == "prompt"
    assert t.text == "Update the changelog"
    assert t.number is None and t.thread is None
    assert t.created_at


def test_prompt_on_an_issue_event_reports_to_that_issue() -> None:
    payload = {
        "action": "opened",
        "issue": {"number": 12, "updated_at": "2026-01-01T00:00:00Z"},
        "repository": REPO,
        "sender": user(),
    }
    t = accepted(classify("issues", payload, prompt="Triage this issue"))
    assert t.number == 12 and not t.is_pull_request
    pr = {"action": "opened", "number": 4, "pull_request": {"number": 4, "head": {}}}
    t2 = accepted(classify("pull_request", {**pr, "repository": REPO}, prompt="Review"))
    assert t2.number == 4 and t2.is_pull_request


def test_schedule_without_sender_is_accepted_with_a_placeholder_actor() -> None:
    t = accepted(classify("schedule", {"schedule": "0 9 * * 1", "repository": REPO}, prompt="Go"))
    assert t.sender.login == "ghost"


def test_unknown_events_without_prompt_are_ignored() -> None:
    assert isinstance(classify("push", {"repository": REPO}), Ignored)
    assert isinstance(classify("workflow_dispatch", {"repository": REPO}, prompt="  "), Ignored)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"repository": "nope"},
        {"repository": REPO, "action": "created", "issue": "x", "comment": 3},
        {"repository": REPO, "action": "created", "issue": {"number": "7"}, "comment": {}},
        {"repository": {"full_name": 5}, "comment": {"body": "/devin"}},
    ],
)
def test_malformed_payloads_are_ignored_not_raised(payload: dict[str, Any]) -> None:
    assert isinstance(classify("issue_comment", payload), Ignored)


def test_non_mapping_payload_is_ignored() -> None:
    assert isinstance(classify("issue_comment", ["not", "a", "dict"]), Ignored)  # type: ignore[arg-type]


# --- recorded payloads (tests/fixtures/github) --------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "is_pr"),
    [
        ("issue_comment.created", "comment", False),
        ("issue_comment.created.pr", "comment", True),
        ("issue_comment.edited", "comment", False),
        ("issues.labeled", "label", False),
        ("pull_request.labeled", "label", True),
        ("pull_request.labeled.fork", "label", True),
        ("pull_request_review_comment.created", "review_comment", True),
    ],
)
def test_recorded_payloads_are_accepted(name: str, kind: str, is_pr: bool) -> None:
    t = accepted(classify(name.split(".")[0], load_payload(name), bot_login="devin-bridge[bot]"))
    assert t.kind == kind
    assert t.is_pull_request == is_pr
    assert t.number is not None and "/" in t.repo
    assert t.sender.login == "octocat"
    if kind == "review_comment":
        assert t.review is not None and t.review.path and t.review.diff_hunk


def test_recorded_bot_comment_is_left_to_the_permission_check() -> None:
    t = accepted(classify("issue_comment", load_payload("issue_comment.created.bot")))
    assert t.sender.is_bot and t.sender.login == "renovate[bot]"


@pytest.mark.parametrize("name", ["issues.opened", "ping", "workflow_dispatch"])
def test_recorded_payloads_without_a_command_are_ignored(name: str) -> None:
    assert isinstance(classify(name.split(".")[0], load_payload(name)), Ignored)


def test_recorded_workflow_dispatch_with_a_prompt() -> None:
    t = accepted(classify("workflow_dispatch", load_payload("workflow_dispatch"), prompt="Go"))
    assert t.kind == "prompt" and t.number is None
