"""`playbook: <name>` in .github/devin.yml: resolved to the applied playbook at run time."""

from __future__ import annotations

from dataclasses import replace

from bot.core.devin_files import PLAYBOOK, with_mark
from bot.engine.handlers import handle
from bot.engine.playbooks import PlaybookNames
from tests.support.stack import Stack

CONFIG = "commands:\n  fix:\n    playbook: fix-bug\ndefaults:\n  playbook: triage\n"


def applied_playbook(stack: Stack, name: str, scope: str = "") -> str:
    body = with_mark("Reproduce, fix, test.", PLAYBOOK, name, scope)
    return stack.devin_client().create_playbook(f"Playbook {name}", body).playbook_id


def test_a_named_playbook_is_resolved_once_and_cached(stack: Stack) -> None:
    stack.github.add_issue(stack.repo, 7, title="Flaky test")
    stack.allow("alice")
    stack.github.add_file(stack.repo, ".github/devin.yml", CONFIG)
    stack.devin_client().create_playbook("fix-bug", "made by hand, same name as the file")
    applied_playbook(stack, "fix-bug", "someone-else/repo")  # another repository's
    wanted = applied_playbook(stack, "fix-bug", stack.repo)
    names = PlaybookNames()
    stack.github.add_issue(stack.repo, 8, title="Another")
    for number in (7, 8):
        c = stack.github.add_comment(stack.repo, number, "/devin fix it", user="alice")
        deps = stack.deps()
        outcome = handle(stack.comment_trigger(c), replace(deps, playbook_names=names))
        assert outcome.action == "created", outcome
    creates = stack.devin_requests("POST", r"/sessions$")
    assert [r["json"]["playbook_id"] for r in creates] == [wanted, wanted]
    assert len(stack.devin_requests("GET", r"/playbooks$")) == 1  # cached


def test_an_unknown_playbook_name_is_a_clear_reply_and_no_session(stack: Stack) -> None:
    stack.github.add_issue(stack.repo, 7, title="Flaky test")
    stack.allow("alice")
    stack.github.add_file(stack.repo, ".github/devin.yml", CONFIG)
    c = stack.github.add_comment(stack.repo, 7, "/devin fix the flaky test", user="alice")
    deps = stack.deps()
    outcome = handle(stack.comment_trigger(c), replace(deps, playbook_names=PlaybookNames()))
    assert outcome.action == "failed"
    assert stack.devin_requests("POST", r"/sessions$") == []
    [reply] = stack.bot_comments(7)
    assert "fix-bug" in reply["body"] and "devin-bridge apply" in reply["body"]


def test_the_defaults_playbook_by_name_applies_to_plain_comments(stack: Stack) -> None:
    stack.github.add_issue(stack.repo, 7, title="Flaky test")
    stack.allow("alice")
    stack.github.add_file(stack.repo, ".github/devin.yml", CONFIG)
    wanted = applied_playbook(stack, "triage")
    c = stack.github.add_comment(stack.repo, 7, "/devin look into it", user="alice")
    deps = stack.deps()
    outcome = handle(stack.comment_trigger(c), replace(deps, playbook_names=PlaybookNames()))
    assert outcome.action == "created"
    [create] = stack.devin_requests("POST", r"/sessions$")
    assert create["json"]["playbook_id"] == wanted
