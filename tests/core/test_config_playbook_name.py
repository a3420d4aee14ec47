"""`playbook: <name>` in .github/devin.yml (a .devin/playbooks/ name)."""

from __future__ import annotations

from bot.core.config import parse_repo_config
from bot.core.config_model import command_rule_for, effective_settings


def test_a_command_and_the_defaults_may_name_a_playbook() -> None:
    result = parse_repo_config(
        "commands:\n  fix: {playbook: fix-bug}\n  pin: {playbook_id: playbook-1}\n"
        "defaults: {playbook: triage}\n"
    )
    assert result.ok, result.errors
    config = result.config
    fix = effective_settings(config, command_rule_for(config, "fix"))
    assert (fix.playbook_name, fix.playbook_id) == ("fix-bug", None)
    pin = effective_settings(config, command_rule_for(config, "pin"))
    assert (pin.playbook_name, pin.playbook_id) == (None, "playbook-1")  # the rule wins whole
    plain = effective_settings(config)
    assert (plain.playbook_name, plain.playbook_id) == ("triage", None)


def test_bad_playbook_names_are_reported_naming_the_key() -> None:
    for text, says in (
        ("commands:\n  fix: {playbook: 'two words'}\n", "commands.fix.playbook"),
        ("commands:\n  fix: {playbook: playbook-abc}\n", "use playbook_id"),
        ("commands:\n  fix: {playbook: a, playbook_id: playbook-1}\n", "not both"),
        ("defaults: {playbook: [x]}\n", "defaults.playbook"),
    ):
        result = parse_repo_config(text)
        assert any(says in e for e in result.errors), (text, result.errors)
