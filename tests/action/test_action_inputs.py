"""The Action's inputs as GitHub passes them: INPUT_* variables with hyphens kept."""

from __future__ import annotations

import json

import pytest

from bot.action.inputs import (
    ActionInputError,
    ActionInputs,
    parse_inputs,
    parse_list,
    raw_secrets,
)

KEY = "cog_secret_key_value_123"


def env(**inputs: str) -> dict[str, str]:
    """INPUT_* variables exactly as the runner names them (upper case, hyphens kept)."""
    base = {"devin-api-key": KEY, "org-id": "org-1", "github-token": "ghs_token"}
    base.update({k.replace("_", "-"): v for k, v in inputs.items()})
    return {f"INPUT_{name.upper()}": value for name, value in base.items()}


def test_defaults_match_action_yml() -> None:
    inputs = parse_inputs(env())
    assert inputs == ActionInputs(devin_api_key=KEY, org_id="org-1", github_token="ghs_token")
    assert inputs.wait is True and inputs.comment is True
    assert inputs.trigger == "/devin" and inputs.label == "devin"
    assert inputs.mode == "run"
    assert inputs.config_path == ".github/devin.yml"
    assert inputs.devin_api_url == "https://api.devin.ai/v3"
    assert inputs.timeout_minutes == 30 and inputs.poll_interval == 10
    assert inputs.knowledge_ids is None and inputs.repos is None and inputs.tags == ()


def test_hyphenated_names_are_what_github_sets() -> None:
    environ = {"INPUT_DEVIN-API-KEY": KEY, "INPUT_ORG-ID": "org-9", "INPUT_GITHUB-TOKEN": "t"}
    environ["INPUT_MAX-ACU-LIMIT"] = "7"
    inputs = parse_inputs(environ)
    assert (inputs.org_id, inputs.max_acu_limit) == ("org-9", 7)


def test_underscore_spelling_is_accepted_too() -> None:
    environ = {"INPUT_DEVIN_API_KEY": KEY, "INPUT_ORG_ID": "org-2", "INPUT_GITHUB_TOKEN": "t"}
    environ["INPUT_POLL_INTERVAL"] = "0.05"
    inputs = parse_inputs(environ)
    assert (inputs.devin_api_key, inputs.org_id, inputs.poll_interval) == (KEY, "org-2", 0.05)


def test_an_empty_hyphenated_value_falls_back_to_the_underscore_one() -> None:
    environ = env()
    environ["INPUT_ORG-ID"] = ""
    environ["INPUT_ORG_ID"] = "org-3"
    assert parse_inputs(environ).org_id == "org-3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b", ("a", "b")),
        ("a\nb\n", ("a", "b")),
        (" a , b\n c,,\n\n", ("a", "b", "c")),
        ("a,a,b", ("a", "b")),
        ("", ()),
    ],
)
def test_lists_accept_commas_or_newlines(text: str, expected: tuple[str, ...]) -> None:
    assert parse_list(text) == expected


def test_list_inputs() -> None:
    inputs = parse_inputs(
        env(knowledge_ids="note-1\nnote-2", repos="o/a, o/b", tags="team:x,urgent")
    )
    assert inputs.knowledge_ids == ("note-1", "note-2")
    assert inputs.repos == ("o/a", "o/b")
    assert inputs.tags == ("team:x", "urgent")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("0", False),
        (" false ", False),
    ],
)
def test_booleans(text: str, value: bool) -> None:
    assert parse_inputs(env(wait=text, comment=text)).wait is value
    assert parse_inputs(env(comment=text)).comment is value


def test_numbers_allow_fractions() -> None:
    inputs = parse_inputs(env(timeout_minutes="0.02", poll_interval="0.05"))
    assert inputs.timeout_minutes == 0.02
    assert inputs.timeout_seconds == pytest.approx(1.2)
    assert inputs.poll_interval == 0.05


def test_schema_and_text_inputs() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    inputs = parse_inputs(
        env(
            structured_output_schema=json.dumps(schema),
            prompt="  Fix the build\nplease  ",
            title="T",
            playbook_id="playbook-1",
            attachments_dir="out/att",
            devin_api_url="http://127.0.0.1:8900/v3/",
            mode="Refresh",
        )
    )
    assert inputs.structured_output_schema == schema
    assert inputs.prompt == "Fix the build\nplease"
    assert (inputs.title, inputs.playbook_id) == ("T", "playbook-1")
    assert inputs.attachments_dir == "out/att"
    assert inputs.devin_api_url == "http://127.0.0.1:8900/v3"
    assert inputs.mode == "refresh"


@pytest.mark.parametrize(
    ("change", "name", "hint"),
    [
        ({"devin-api-key": ""}, "devin-api-key", "secrets.DEVIN_API_KEY"),
        ({"devin-api-key": "   "}, "devin-api-key", "required"),
        ({"org-id": ""}, "org-id", "required"),
        ({"github-token": ""}, "github-token", "github.token"),
        ({"wait": "maybe"}, "wait", "true or false"),
        ({"comment": "2"}, "comment", "true or false"),
        ({"max-acu-limit": "ten"}, "max-acu-limit", "whole number"),
        ({"max-acu-limit": "0"}, "max-acu-limit", "greater than 0"),
        ({"max-acu-limit": "2.5"}, "max-acu-limit", "whole number"),
        ({"timeout-minutes": "soon"}, "timeout-minutes", "number of minutes"),
        ({"timeout-minutes": "-1"}, "timeout-minutes", "greater than 0"),
        ({"timeout-minutes": "999"}, "timeout-minutes", "at most 360"),
        ({"timeout-minutes": "nan"}, "timeout-minutes", "greater than 0"),
        ({"poll-interval": "0"}, "poll-interval", "greater than 0"),
        ({"structured-output-schema": "{oops"}, "structured-output-schema", "not valid JSON"),
        ({"structured-output-schema": "[1]"}, "structured-output-schema", "JSON object"),
        (
            {"structured-output-schema": '{"type": 5}'},
            "structured-output-schema",
            "not valid JSON Schema",
        ),
        ({"mode": "deploy"}, "mode", "run, refresh, apply"),
        ({"devin-api-url": "api.devin.ai"}, "devin-api-url", "http(s) URL"),
        ({"trigger": "/devin please"}, "trigger", "one word"),
        ({"config-path": "/etc/passwd"}, "config-path", "inside the repository"),
        ({"config-path": "../x.yml"}, "config-path", "inside the repository"),
        ({"repos": "o/a b"}, "repos", "contains a space"),
    ],
)
def test_bad_inputs_name_the_input(change: dict[str, str], name: str, hint: str) -> None:
    environ = env()
    environ.update({f"INPUT_{k.upper()}": v for k, v in change.items()})
    with pytest.raises(ActionInputError) as info:
        parse_inputs(environ)
    assert info.value.input_name == name
    assert f"input '{name}'" in str(info.value)
    assert hint in str(info.value)
    assert KEY not in str(info.value)


def test_missing_key_variable_entirely() -> None:
    with pytest.raises(ActionInputError, match="devin-api-key"):
        parse_inputs({"INPUT_ORG-ID": "org"})


def test_secrets_stay_out_of_repr() -> None:
    inputs = parse_inputs(env())
    assert KEY not in repr(inputs)
    assert "ghs_token" not in repr(inputs)
    assert inputs.secrets() == (KEY, "ghs_token")


def test_raw_secrets_are_found_before_parsing() -> None:
    environ = {"INPUT_DEVIN-API-KEY": f" {KEY} ", "INPUT_GITHUB_TOKEN": "ghp_x", "INPUT_WAIT": "?"}
    assert raw_secrets(environ) == (KEY, "ghp_x")
