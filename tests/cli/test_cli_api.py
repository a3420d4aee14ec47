"""The rest of the v3 API on the command line: create flags, child sessions, attachments on
send, insights, organisation secrets and organisations — against the emulator."""

from __future__ import annotations

import json

from tests.cli.test_cli import ORG, Cli

SECRET_VALUE = "s3cr3t-value-that-must-never-be-printed"


def posts(cli: Cli, suffix: str) -> list[dict[str, object]]:
    return [e for e in cli.api_requests() if e["method"] == "POST" and e["path"].endswith(suffix)]


def test_every_create_field_has_a_flag_and_secrets_come_from_the_environment(cli: Cli) -> None:
    env = {**cli.env, "DEPLOY_TOKEN": SECRET_VALUE}
    proc = cli(
        "sessions", "create", "Deploy the preview",
        "--platform", "windows", "--bypass-approval", "--session-link", "devin-abc",
        "--secret-id", "secret-1", "--session-secret", "TOKEN=DEPLOY_TOKEN",
        "--create-as-user", "user-7", "--child-playbook", "playbook-child",
        "--no-resumable", "--no-knowledge", "--json",
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert SECRET_VALUE not in proc.stdout + proc.stderr
    [create] = posts(cli, "/sessions")
    body = create["json"]
    assert isinstance(body, dict)
    assert body["platform"] == "windows" and body["bypass_approval"] is True
    assert body["session_links"] == ["devin-abc"] and body["secret_ids"] == ["secret-1"]
    assert body["session_secrets"] == [{"key": "TOKEN", "value": "***", "sensitive": True}]
    assert body["create_as_user_id"] == "user-7" and body["child_playbook_id"] == "playbook-child"
    assert body["resumable"] is False and body["knowledge_ids"] == []

    missing = cli("sessions", "create", "x", "--session-secret", "NOPE_NOT_SET")
    assert missing.returncode == 2 and "NOPE_NOT_SET is not set" in missing.stderr


def test_child_sessions_and_attachments_on_send(cli: Cli) -> None:
    parent = cli.json("sessions", "create", "Parent work")["session_id"]
    child = cli.json("sessions", "create", "Child work", "--parent", parent)["session_id"]
    create = posts(cli, "/sessions")[-1]
    assert create["query"] == {"devin_id": [f"devin-{parent}"]}
    shown = cli.ok("sessions", "show", parent)
    assert "children" in shown and child in shown
    assert cli.json("sessions", "show", child)["parent_session_id"] == parent

    log = cli.file("build.log", "error: flaky\n")
    cli.ok("sessions", "send", parent, "See the log", "--attach", log)
    [message] = posts(cli, "/messages")
    assert isinstance(message["json"], dict)
    [url] = message["json"]["attachment_urls"]
    assert url.endswith("/build.log")
    missing = cli("sessions", "send", parent, "x", "--attach", str(cli.tmp / "nope"))
    assert missing.returncode == 2 and len(posts(cli, "/messages")) == 1


def test_insights_get_and_generate(cli: Cli) -> None:
    sid = cli.json("sessions", "create", "Some work")["session_id"]
    assert "no analysis yet" in cli.ok("sessions", "insights", sid)
    assert "generating insights" in cli.ok("sessions", "insights", sid, "--generate")
    assert "already" in cli.ok("sessions", "insights", sid, "--generate")
    data = cli.json("sessions", "insights", sid)
    assert data["analysis"] is not None and "num_devin_messages" in data


def test_secrets_values_are_never_printed(cli: Cli) -> None:
    env = {**cli.env, "DB_PASSWORD_VALUE": SECRET_VALUE}
    proc = cli("secrets", "create", "DB_PASSWORD", "--value-env", "DB_PASSWORD_VALUE",
               "--note", "staging db", "--json", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    created = json.loads(proc.stdout)
    assert SECRET_VALUE not in proc.stdout + proc.stderr
    [sent] = posts(cli, "/secrets")
    assert sent["json"] == {
        "type": "key-value",
        "key": "DB_PASSWORD",
        "value": "***",  # the emulator's log masks it; the request carried it
        "is_sensitive": True,
        "note": "staging db",
    }
    listed = cli.ok("secrets", "list")
    assert "DB_PASSWORD" in listed and SECRET_VALUE not in listed
    cli.ok("secrets", "delete", created["secret_id"])
    assert "no secrets" in cli.ok("secrets", "list")
    assert cli("secrets", "create", "X", "--value-env", "UNSET_VAR_X").returncode == 2


def test_organisations(cli: Cli) -> None:
    assert ORG in cli.ok("orgs", "list")
    out = cli.ok("whoami", "--orgs")
    assert "service_user" in out and "Emulator Org" in out
    data = cli.json("whoami", "--orgs")
    assert [o["org_id"] for o in data["organizations"]] == [ORG]
