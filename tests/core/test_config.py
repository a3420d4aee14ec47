"""`.github/devin.yml`: defaults, valid settings, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import parse_repo_config
from bot.core.config_model import (
    PermissionRule,
    RepoConfig,
    SessionDefaults,
    SessionRule,
    allowed,
    bot_allowed,
    command_rule_for,
    effective_settings,
    label_rule_for,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "devin.yml"


@pytest.mark.parametrize("text", [None, "", "   \n", "# only a comment\n", "~\n"])
def test_missing_or_empty_config_gives_defaults(text: str | None) -> None:
    result = parse_repo_config(text)
    assert result.errors == ()
    assert result.config == RepoConfig()
    assert result.config.trigger == "/devin"
    assert dict(result.config.labels) == {"devin": SessionRule()}
    assert result.config.permissions == PermissionRule(
        min="write", allow_bots=(), reply_to_refused=True
    )


def test_example_config_is_valid() -> None:
    result = parse_repo_config(EXAMPLE.read_text(encoding="utf-8"))
    assert result.errors == ()
    cfg = result.config
    assert set(cfg.labels) == {"devin", "devin:review", "devin:triage"}
    assert set(cfg.commands) == {"fix", "docs", "scope"}
    assert cfg.commands["fix"].playbook_macro == "!fix_bug"
    assert cfg.commands["docs"].knowledge_ids == ()
    assert cfg.commands["scope"].structured_output_schema is not None
    assert cfg.defaults.max_acu_limit == 10


def test_full_valid_config() -> None:
    text = """
trigger: /ai
labels:
  ai: {}
  "ai:review": {playbook_id: playbook-abc, prompt: "Review this pull request", max_acu_limit: 5}
commands:
  Fix: {playbook_id: playbook-fix, playbook_macro: fix_bug, max_acu_limit: 10, tags: [bugs]}
defaults:
  max_acu_limit: 20
  knowledge_ids: [note-1]
  tags: [team-a]
  repos: [octo-org/other]
  playbook_id: playbook-default
  devin_mode: fast
permissions:
  min: maintain
  allow_bots: ["renovate[bot]"]
  reply_to_refused: false
"""
    result = parse_repo_config(text)
    assert result.errors == ()
    cfg = result.config
    assert cfg.trigger == "/ai"
    assert cfg.labels["ai:review"] == SessionRule(
        playbook_id="playbook-abc", prompt="Review this pull request", max_acu_limit=5
    )
    assert cfg.commands == {
        "fix": SessionRule(
            playbook_id="playbook-fix", playbook_macro="!fix_bug", max_acu_limit=10, tags=("bugs",)
        )
    }
    assert cfg.defaults == SessionDefaults(
        max_acu_limit=20,
        knowledge_ids=("note-1",),
        tags=("team-a",),
        repos=("octo-org/other",),
        playbook_id="playbook-default",
        devin_mode="fast",
    )
    assert cfg.permissions == PermissionRule("maintain", ("renovate[bot]",), False)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            'labels:\n  "devin:review": {max_acu_limit: ten}',
            "labels.devin:review.max_acu_limit must be a positive integer, got 'ten'",
        ),
        (
            "labels:\n  devin: {max_acu_limit: 0}",
            "labels.devin.max_acu_limit must be a positive integer, got 0",
        ),
        (
            "labels:\n  devin: {max_acu_limit: true}",
            "labels.devin.max_acu_limit must be a positive integer, got true",
        ),
        (
            "labels:\n  devin: {max_acu_limt: 3}",
            "labels.devin.max_acu_limt is not a known setting (did you mean max_acu_limit?)",
        ),
        ("labels:\n  devin: [1]", "labels.devin must be a mapping of settings, got a list"),
        ("labels: devin", "labels must be a mapping of names to settings, got 'devin'"),
        ("commands:\n  stop: {}", "commands.stop cannot be used: 'stop' is a built-in command"),
        ("commands:\n  fix it: {}", 'commands["fix it"] must be a single word'),
        ("commands:\n  fix: {}\n  FIX: {}", "commands.FIX is listed twice"),
        (
            "commands:\n  fix: {tags: [thread:x]}",
            "commands.fix.tags[0] 'thread:x' uses a prefix reserved",
        ),
        (
            "commands:\n  fix: {tags: devin}",
            "commands.fix.tags must be a list of tags, got 'devin'",
        ),
        (
            "commands:\n  fix: {playbook_id: '!fix_bug'}",
            "commands.fix.playbook_id must be a playbook id like 'playbook-…', "
            "got the macro '!fix_bug'",
        ),
        (
            "commands:\n  fix: {playbook_macro: 'not a macro'}",
            "commands.fix.playbook_macro must be a playbook macro",
        ),
        ("commands:\n  fix: {prompt: [a]}", "commands.fix.prompt must be text, got a list"),
        (
            "commands:\n  fix: {knowledge_ids: [1]}",
            "commands.fix.knowledge_ids[0] must be a non-empty string, got 1",
        ),
        (
            "commands:\n  fix: {structured_output_schema: {type: nope}}",
            "commands.fix.structured_output_schema is not a valid JSON Schema at type",
        ),
        (
            "commands:\n  fix: {structured_output_schema: {$ref: 'https://x/s.json'}}",
            "commands.fix.structured_output_schema must be self-contained",
        ),
        (
            "defaults:\n  max_acu_limit: -1",
            "defaults.max_acu_limit must be a positive integer, got -1",
        ),
        (
            "defaults:\n  repos: [bad repo]",
            "defaults.repos[0] must look like 'owner/repo', got 'bad repo'",
        ),
        ("defaults: 3", "defaults must be a mapping of settings, got 3"),
        ("permissions:\n  min: read", "permissions.min 'read' is not allowed"),
        ("permissions:\n  min: triage", "permissions.min 'triage' is not allowed"),
        (
            "permissions:\n  min: owner",
            "permissions.min must be one of write, maintain, admin, got 'owner'",
        ),
        ("permissions:\n  allow_bots: ['*']", "permissions.allow_bots[0] '*' is not allowed"),
        (
            "permissions:\n  reply_to_refused: sometimes",
            "permissions.reply_to_refused must be true or false",
        ),
        ("trigger: ''", "trigger must be a word such as '/devin', got ''"),
        ("trigger: /devin please", "trigger must be a single word"),
        ("trigger: '> x'", "trigger must be a single word"),
        ("labls: {}", "labls is not a known setting (did you mean labels?)"),
        ("- a\n- b", ".github/devin.yml must be a mapping of settings"),
        ("labels: [", ".github/devin.yml is not valid YAML:"),
        ("a: b: c", ".github/devin.yml is not valid YAML:"),
        ("!!python/object:os.system {}", ".github/devin.yml is not valid YAML:"),
    ],
)
def test_errors_name_the_key(text: str, error: str) -> None:
    result = parse_repo_config(text)
    assert any(error in e for e in result.errors), result.errors


def test_error_path_uses_the_given_path() -> None:
    assert (
        parse_repo_config("x: [", path="cfg/devin.yaml")
        .errors[0]
        .startswith("cfg/devin.yaml is not valid YAML")
    )


def test_invalid_entry_is_dropped_and_the_rest_kept() -> None:
    text = """
labels:
  devin: {}
  "devin:review": {max_acu_limit: ten}
  "devin:typo": {max_acu_limt: 3}
commands:
  fix: {max_acu_limit: 10}
  bad: {tags: [repo:x]}
defaults:
  max_acu_limit: nope
  tags: [ok]
permissions:
  min: read
  allow_bots: ["*", "renovate[bot]"]
"""
    result = parse_repo_config(text)
    assert len(result.errors) == 6
    cfg = result.config
    assert set(cfg.labels) == {"devin"}  # the broken entries never start sessions
    assert set(cfg.commands) == {"fix"}
    assert cfg.defaults == SessionDefaults(max_acu_limit=None, tags=("ok",))
    assert cfg.permissions.min == "write"
    assert cfg.permissions.allow_bots == ("renovate[bot]",)


def test_invalid_yaml_gives_all_defaults_and_reports_the_line() -> None:
    result = parse_repo_config("trigger: /ai\nlabels: {devin: [}\n")
    assert result.config == RepoConfig()
    assert len(result.errors) == 1
    assert "line 2" in result.errors[0]


def test_every_problem_in_one_entry_is_reported() -> None:
    result = parse_repo_config("commands:\n  fix: {max_acu_limit: x, tags: 3}")
    assert len(result.errors) == 2
    assert result.config.commands == {}


def test_oversized_config_is_refused() -> None:
    result = parse_repo_config("# " + "x" * 200_000)
    assert result.config == RepoConfig()
    assert "too large" in result.errors[0]


def test_labels_as_a_list_and_null_entries() -> None:
    result = parse_repo_config('labels: [devin, "devin:review"]\ncommands:\n  fix:\n')
    assert result.errors == ()
    assert dict(result.config.labels) == {"devin": SessionRule(), "devin:review": SessionRule()}
    assert dict(result.config.commands) == {"fix": SessionRule()}


def test_empty_labels_disable_label_triggers() -> None:
    cfg = parse_repo_config("labels: {}").config
    assert label_rule_for(cfg, "devin") is None


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("devin", SessionRule()),
        ("DEVIN", SessionRule()),
        ("devin:review", SessionRule(prompt="Review")),
        ("Devin:Review", SessionRule(prompt="Review")),
        ("devin:fix", SessionRule(max_acu_limit=3)),  # <label>:<command>
        ("devin:unknown", None),
        ("other:fix", None),
        ("bug", None),
    ],
)
def test_label_rule_for(label: str, expected: SessionRule | None) -> None:
    cfg = parse_repo_config(
        'labels:\n  devin: {}\n  "devin:review": {prompt: Review}\n'
        "commands:\n  fix: {max_acu_limit: 3}\n"
    ).config
    assert label_rule_for(cfg, label) == expected


def test_command_rule_for_is_case_insensitive() -> None:
    cfg = parse_repo_config("commands:\n  Fix: {max_acu_limit: 3}").config
    assert command_rule_for(cfg, "FIX") == SessionRule(max_acu_limit=3)
    assert command_rule_for(cfg, "nope") is None


@pytest.mark.parametrize(
    ("role", "min_role", "ok"),
    [
        ("admin", "write", True),
        ("maintain", "write", True),
        ("write", "write", True),
        ("WRITE", "write", True),
        ("triage", "write", False),
        ("read", "write", False),
        ("none", "write", False),
        ("", "write", False),
        (None, "write", False),
        ("custom-role", "write", False),
        ("write", "maintain", False),
        ("admin", "admin", True),
        ("write", "bogus", False),
    ],
)
def test_allowed(role: str | None, min_role: str, ok: bool) -> None:
    assert allowed(role, min_role) is ok


@pytest.mark.parametrize(
    ("login", "ok"),
    [
        ("renovate[bot]", True),
        ("renovate", True),
        ("Renovate[bot]", True),
        ("dependabot[bot]", False),
        ("", False),
    ],
)
def test_bot_allowed(login: str, ok: bool) -> None:
    assert bot_allowed(PermissionRule(allow_bots=("renovate[bot]",)), login) is ok


def test_effective_settings_merge_rule_over_defaults() -> None:
    cfg = parse_repo_config(
        "defaults: {max_acu_limit: 10, tags: [a, b], repos: [o/r], playbook_id: playbook-d, "
        "knowledge_ids: [k1]}\n"
        "commands:\n  fix: {max_acu_limit: 3, tags: [b, c], playbook_macro: '!fix'}\n"
    ).config
    fix = effective_settings(cfg, cfg.commands["fix"])
    assert fix.max_acu_limit == 3
    assert fix.tags == ("a", "b", "c")
    assert fix.repos == ("o/r",)
    assert fix.playbook_id == "playbook-d"
    assert fix.playbook_macro == "!fix"
    assert fix.knowledge_ids == ("k1",)
    plain = effective_settings(cfg)
    assert plain.max_acu_limit == 10
    assert plain.tags == ("a", "b")


@pytest.mark.parametrize(
    ("text", "expected"), [("", None), ("checks: true", True), ("checks: false", False)]
)
def test_checks_is_on_off_or_the_deployments_default(text: str, expected: bool | None) -> None:
    result = parse_repo_config(text)
    assert result.config.checks is expected and not result.errors


def test_checks_must_be_a_boolean() -> None:
    result = parse_repo_config("checks: sometimes")
    assert result.config.checks is None
    assert any("checks" in e for e in result.errors)
