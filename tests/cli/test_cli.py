"""The `devin-bridge` console script, run as a subprocess against the emulator."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.emulator import EmulatorConfig, create_emulator_app
from tests.support.servers import ServerThread, serve

KEY = "cog_emulator_key"
ORG = "org-emulator"
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


class Cli:
    """Runs `python -m bot ...` with the Devin settings pointing at the emulator."""

    def __init__(self, server: ServerThread, tmp: Path) -> None:
        self.base = server.url
        self.api = server.url + "/v3"
        self.tmp = tmp
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DEVIN_")}
        self.env = {**clean, "DEVIN_API_KEY": KEY, "DEVIN_ORG_ID": ORG, "DEVIN_API_URL": self.api}

    def __call__(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            env=self.env if env is None else env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def ok(self, *args: str) -> str:
        proc = self(*args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(method, self.base + "/_emulator" + path, json=body, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def api_requests(self) -> list[dict[str, Any]]:
        return [e for e in self.admin("GET", "/requests") if e["path"].startswith("/v3")]

    def file(self, name: str, content: str) -> str:
        path = self.tmp / name
        path.write_text(content, encoding="utf-8")
        return str(path)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with serve(create_emulator_app(EmulatorConfig())) as srv:
        yield srv


@pytest.fixture
def cli(server: ServerThread, tmp_path: Path) -> Cli:
    runner = Cli(server, tmp_path)
    runner.admin("POST", "/reset")
    return runner


def test_help_lists_commands_without_importing_the_service_stack() -> None:
    code = (
        "import sys\n"
        "from bot.cli.console import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'flask', 'gunicorn', 'sqlalchemy', 'werkzeug', 'requests'}\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    for command in ("whoami", "sessions", "notes", "playbooks", "schedules", "emulator", "serve"):
        assert command in proc.stdout
    assert "LOADED []" in proc.stdout


def test_whoami_and_flag_overrides(cli: Cli) -> None:
    out = cli.ok("whoami")
    assert "service_user" in out and "Devin API Emulator" in out and ORG in out
    assert cli.json("whoami")["principal_type"] == "service_user"

    # --api-url and --org-id win over the environment.
    env = {**cli.env, "DEVIN_API_URL": "http://127.0.0.1:9/v3"}
    del env["DEVIN_ORG_ID"]
    proc = cli("sessions", "list", "--api-url", cli.api, "--org-id", ORG, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "no sessions" in proc.stdout


def test_session_create_wait_and_manage(cli: Cli) -> None:
    cli.admin("POST", "/scenario", {"name": "finish"})
    schema = cli.file("schema.json", json.dumps(SCHEMA))
    notes = cli.file("notes.txt", "context for Devin\n")
    session = cli.json(
        "sessions", "create", "Fix the flaky test",
        "--title", "Flaky", "--tag", "cli-test", "--tag", "team:a", "--repo", "acme/app",
        "--max-acu", "5", "--mode", "fast", "--schema", schema, "--attach", notes,
        "--wait", "--interval", "0.05", "--timeout", "20",
    )  # fmt: skip
    assert session["status_detail"] == "finished"
    sid = session["session_id"]

    sent = cli.api_requests()
    upload = next(e for e in sent if e["method"] == "POST" and e["path"].endswith("/attachments"))
    assert upload["json"] == {"files": ["notes.txt"]}
    create = next(e for e in sent if e["method"] == "POST" and e["path"].endswith("/sessions"))
    body = create["json"]
    assert body["prompt"] == "Fix the flaky test"
    assert body["title"] == "Flaky" and body["repos"] == ["acme/app"]
    assert {"cli-test", "team:a"} <= set(body["tags"])
    assert body["max_acu_limit"] == 5 and body["devin_mode"] == "fast"
    assert body["structured_output_schema"] == SCHEMA
    assert len(body["attachment_urls"]) == 1

    listed = cli.json("sessions", "list", "--tag", "cli-test")
    assert [s["session_id"] for s in listed] == [sid]
    table = cli.ok("sessions", "list")
    assert sid in table and "finished" in table and "Flaky" in table

    shown = cli.json("sessions", "show", sid, "--messages")
    assert shown["structured_output"] is not None
    assert any(m["source"] == "devin" for m in shown["messages"])
    human = cli.ok("sessions", "show", sid)
    assert "finished" in human and "github.com" in human

    dest = cli.tmp / "downloads"
    out = cli.ok("sessions", "attachments", sid, "--download", str(dest))
    assert (dest / "summary.md").read_text() and (dest / "notes.txt").read_text() == (
        "context for Devin\n"
    )
    assert "summary.md" in out

    assert "extra" in cli.json("sessions", "tags", sid, "--add", "extra")["tags"]
    assert cli.json("sessions", "tags", sid, "--set", "only")["tags"] == ["only"]

    assert f"sent to {sid}" in cli.ok("sessions", "send", sid, "One more thing")
    assert "stopped" in cli.ok("sessions", "stop", sid)
    assert cli.json("sessions", "archive", sid)["is_archived"] is True


def test_watch_exit_codes_and_cheap_polling(cli: Cli) -> None:
    cli.admin("POST", "/scenario", {"name": "wait_for_user"})
    sid = cli.json("sessions", "create", "Ask me first")["session_id"]

    waiting = cli("sessions", "watch", sid, "--interval", "0.05", "--timeout", "20")
    assert waiting.returncode == 3, waiting.stderr
    assert "Which branch" in waiting.stdout and "waiting-for-input" in waiting.stdout

    cli.ok("sessions", "send", sid, "use main")
    done = cli("sessions", "watch", sid, "--interval", "0.05", "--timeout", "20")
    assert done.returncode == 0, done.stderr
    assert "use main" in done.stdout and "finished" in done.stdout

    cli.admin("POST", "/scenario", {"name": "long"})
    sid = cli.json("sessions", "create", "Run forever")["session_id"]
    cli.admin("DELETE", "/requests")
    late = cli("sessions", "watch", sid, "--interval", "0.05", "--timeout", "0.6")
    assert late.returncode == 124
    assert "timed out" in one_line_error(late)
    log = cli.api_requests()
    session_gets = [e for e in log if e["method"] == "GET" and e["path"].endswith(sid)]
    message_gets = [e for e in log if e["path"].endswith("/messages")]
    # Messages are read only when the session changed, not on every tick.
    assert len(session_gets) >= 4
    assert len(message_gets) <= 2

    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "sessions", "watch", sid, "--interval", "0.05"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert "state" in proc.stdout.readline() + proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "Traceback" not in stderr and "interrupted" in stderr


def test_notes_crud(cli: Cli) -> None:
    body = cli.file("note.md", "Use ruff.\n")
    note = cli.json(
        "notes", "create", "--name", "Style", "--body-file", body, "--trigger", "python code",
        "--pinned-repo", "acme/app",
    )  # fmt: skip
    nid = note["note_id"]
    assert [n["note_id"] for n in cli.json("notes", "list")] == [nid]

    cli.ok("notes", "update", nid, "--trigger", "any python", "--disabled")
    put = [e for e in cli.api_requests() if e["method"] == "PUT"][-1]
    assert put["json"]["name"] == "Style" and put["json"]["body"] == "Use ruff.\n"
    got = cli.json("notes", "get", nid)
    assert got["trigger"] == "any python" and got["is_enabled"] is False
    assert got["name"] == "Style" and got["pinned_repo"] == "acme/app"
    assert "root" in cli.ok("notes", "folders")

    cli.ok("notes", "delete", nid)
    gone = cli("notes", "get", nid)
    assert gone.returncode == 1 and "not found" in one_line_error(gone)


def test_playbooks_crud(cli: Cli) -> None:
    schema = cli.file("schema.json", json.dumps(SCHEMA))
    book = cli.json(
        "playbooks", "create", "--title", "Deploy", "--body", "1. build\n2. ship",
        "--macro", "!deploy", "--schema", schema,
    )  # fmt: skip
    pid = book["playbook_id"]
    assert "!deploy" in cli.ok("playbooks", "list")

    cli.ok("playbooks", "update", pid, "--title", "Deploy safely")
    got = cli.json("playbooks", "get", pid)
    assert got["title"] == "Deploy safely" and got["body"] == "1. build\n2. ship"
    assert got["macro"] == "!deploy" and got["structured_output_schema"] == SCHEMA

    cli.ok("playbooks", "delete", pid)
    assert cli.json("playbooks", "list") == []


def test_schedules_crud(cli: Cli) -> None:
    made = cli.json(
        "schedules", "create", "--name", "nightly", "--prompt", "Check dependencies",
        "--cron", "0 9 * * 1-5", "--tag", "deps", "--notify", "never", "--agent", "devin",
        "--interval-count", "2",
    )  # fmt: skip
    sid = made["scheduled_session_id"]
    assert made["frequency"] == "0 9 * * 1-5" and made["notify_on"] == "never"
    once = cli.json(
        "schedules", "create", "--name", "once", "--prompt", "p", "--at", "2040-01-01T09:00:00Z"
    )
    assert once["schedule_type"] == "one_time"
    assert {s["name"] for s in cli.json("schedules", "list")} == {"nightly", "once"}

    cli.ok("schedules", "update", sid, "--disable", "--cron", "30 8 * * *")
    patch = [e for e in cli.api_requests() if e["method"] == "PATCH"][-1]
    assert patch["json"]["enabled"] is False and "name" not in patch["json"]
    got = cli.json("schedules", "get", sid)
    assert got["enabled"] is False and got["frequency"] == "30 8 * * *"
    assert got["name"] == "nightly"

    cli.ok("schedules", "delete", sid)


def test_invalid_cron_and_schema_fail_before_any_request(cli: Cli) -> None:
    bad_schema = cli.file("bad.json", json.dumps({"type": 5}))
    not_json = cli.file("broken.json", "{not json")
    attempts = [
        (("schedules", "create", "--name", "n", "--prompt", "p", "--cron", "61 * * * *"), "cron"),
        (("schedules", "update", "sched-x", "--cron", "* * *"), "5 fields"),
        (("sessions", "create", "x", "--schema", bad_schema), "schema"),
        (("playbooks", "create", "--title", "t", "--body", "b", "--schema", not_json), "JSON"),
        (("sessions", "create", "x", "--schema", str(cli.tmp / "missing.json")), "cannot read"),
    ]
    for args, expected in attempts:
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert expected in one_line_error(proc)
    assert cli.api_requests() == []


def test_configuration_and_api_errors_are_one_line(cli: Cli) -> None:
    no_key = {k: v for k, v in cli.env.items() if k != "DEVIN_API_KEY"}
    proc = cli("whoami", env=no_key)
    assert proc.returncode == 2
    assert one_line_error(proc).startswith("error: DEVIN_API_KEY is not set")

    no_org = {k: v for k, v in cli.env.items() if k != "DEVIN_ORG_ID"}
    proc = cli("sessions", "list", env=no_org)
    assert proc.returncode == 2 and "DEVIN_ORG_ID is not set" in one_line_error(proc)

    secret = "cog_Very-Distinctive-Secret-4711"
    proc = cli("sessions", "list", env={**cli.env, "DEVIN_API_KEY": secret})
    assert proc.returncode == 1
    assert "401" in one_line_error(proc)
    assert secret not in proc.stdout + proc.stderr

    unknown = cli("sessions", "show", "0123456789abcdef0123456789abcdef")
    assert unknown.returncode == 1 and "not found" in one_line_error(unknown)

    cli.admin("POST", "/faults", {"method": "GET", "path": ".*/schedules", "status": 403})
    refused = cli("schedules", "list")
    assert refused.returncode == 1 and "403" in one_line_error(refused)


def test_apply_and_handoff_refuse_a_missing_folder_before_sending(cli: Cli) -> None:
    proc = cli("apply", "--dry-run", str(cli.tmp / "somewhere"))
    assert proc.returncode == 2 and "is not a folder" in proc.stderr
    proc = cli("handoff", "fix it", "--yes", "-C", str(cli.tmp / "somewhere"))
    assert proc.returncode == 2 and "is not a folder" in one_line_error(proc)
    assert cli.api_requests() == []
    assert "--workers" in cli.ok("serve", "--help")


def test_emulator_command_serves_on_the_given_port(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "emulator", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        answer = None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{port}/v3/self",
                    headers={"Authorization": f"Bearer {KEY}"},
                    timeout=2,
                )
            except requests.ConnectionError:
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200
        assert answer.json()["org_id"] == ORG
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class FakeSessions:
    """Answers GET session from a script of states and records every call."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states
        self.calls: list[str] = []

    def get_session(self, session_id: str) -> Any:
        from bot.core.devin_models import Session

        self.calls.append("get")
        data = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return Session.from_api({"session_id": session_id, "url": "u", **data})

    def iter_messages(self, session_id: str) -> Iterator[Any]:
        from bot.core.devin_models import Message

        self.calls.append("messages")
        yield Message.from_api({"event_id": "e1", "source": "devin", "message": "On it"})


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_watch_reads_messages_only_when_the_session_changed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli.watch import watch_session

    working = {"status": "running", "status_detail": "working", "updated_at": 2}
    client = FakeSessions(
        [
            {"status": "new", "updated_at": 1},
            working,
            working,
            working,
            {"status": "running", "status_detail": "finished", "updated_at": 3},
        ]
    )
    clock = FakeClock()
    code = watch_session(client, "abc", 1.0, None, clock=clock, sleep=clock.sleep, tty=True)
    assert code == 0
    assert client.calls.count("get") == 5
    assert client.calls.count("messages") == 3
    assert sum(clock.slept) == pytest.approx(4.0)
    captured = capsys.readouterr()
    assert captured.out.count("On it") == 1
    assert "finished" in captured.out and "working" in captured.err  # spinner on the TTY


def test_watch_times_out_with_124(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli.watch import watch_session

    client = FakeSessions([{"status": "running", "status_detail": "working", "updated_at": 2}])
    clock = FakeClock()
    code = watch_session(client, "abc", 1.0, 2.5, clock=clock, sleep=clock.sleep, tty=False)
    assert code == 124
    assert client.calls.count("messages") == 1
    assert "timed out after 2.5 s" in capsys.readouterr().err
