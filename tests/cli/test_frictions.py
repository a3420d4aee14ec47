"""Small frictions a new user met, each fixed: `refresh --json` and `doctor --json`, the
default store independent of the folder, every config problem named, `--prompt-file -`,
CLI sessions found by the `devin-bridge` tag, a stopped session shown as stopped, and
DEVIN_API_URL without its version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.engine.replies import config_note
from bot.service.settings import Settings
from tests.cli.test_cli import Cli, cli, one_line_error, server  # noqa: F401 - fixtures
from tests.support.deliveries import service_env
from tests.support.service_proc import base_env
from tests.support.stack import Stack


def test_refresh_and_doctor_take_json(stack: Stack, tmp_path: Path) -> None:
    env = base_env(service_env(stack, f"sqlite:///{tmp_path / 'state.db'}"))
    for command in (["refresh", "--json"], ["doctor", "--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "bot", *command],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        if command[0] == "refresh":
            assert data == {"refreshed": 0, "edited": 0, "sessions": []}
        else:
            assert data["exit_code"] == 0
            assert {c["outcome"] for c in data["checks"]} == {"ok"}


def test_the_default_store_is_the_same_from_any_folder(stack: Stack, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = base_env(service_env(stack, ""))
    env.pop("DATABASE_URL")
    env["HOME"] = str(home)
    for folder in ("a", "b"):
        cwd = tmp_path / folder
        cwd.mkdir()
        done = subprocess.run(
            [sys.executable, "-m", "bot", "refresh"],
            env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert list(cwd.iterdir()) == []  # nothing left in the folder it ran in
    assert (home / ".local/share/devin-bridge/devin-bridge.db").is_file()
    xdg = Settings.from_env({"XDG_DATA_HOME": "/srv/data", "HOME": "/home/x"})
    assert xdg.database_url == "sqlite:////srv/data/devin-bridge/devin-bridge.db"
    explicit = Settings.from_env({"DATABASE_URL": "sqlite:///here.db", "HOME": "/home/x"})
    assert explicit.database_url == "sqlite:///here.db"


def test_every_config_problem_is_named_and_only_those_entries_are_ignored() -> None:
    note = config_note(("labels.x: unknown key", "commands.y: not a mapping"), ".github/devin.yml")
    assert note == (
        ".github/devin.yml has problems, these entries are ignored: labels.x: unknown key; "
        "commands.y: not a mapping"
    )
    many = config_note(tuple(f"p{i}" for i in range(13)), "c.yml")
    assert many is not None and many.endswith("p9; and 3 more") and "defaults" not in many


def test_prompt_from_stdin_tag_and_stopped_state(cli: Cli) -> None:  # noqa: F811
    cli.admin("POST", "/scenario", {"name": "long"})
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "sessions", "create", "--prompt-file", "-", "--json"],
        env=cli.env, input="Fix the flaky test\nfrom standard input\n",
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sid = json.loads(proc.stdout)["session_id"]
    create = next(
        e for e in cli.api_requests() if e["method"] == "POST" and e["path"].endswith("/sessions")
    )
    assert create["json"]["prompt"] == "Fix the flaky test\nfrom standard input\n"
    # The README's listing finds sessions the CLI made.
    assert [s["session_id"] for s in cli.json("sessions", "list", "--tag", "devin-bridge")] == [sid]
    assert "stopped" in cli.ok("sessions", "stop", sid)
    shown = cli.ok("sessions", "show", sid)
    assert "stopped (exit)" in shown and "finished" not in shown
    assert "stopped" in cli.ok("sessions", "list")


def test_api_url_without_version_is_named(cli: Cli) -> None:  # noqa: F811
    proc = cli("sessions", "list", env={**cli.env, "DEVIN_API_URL": cli.base})
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert "has no API version" in line and f"{cli.base}/v3" in line
    assert "org" not in line.split("use")[0]


def test_service_commands_name_the_missing_extra(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['flask'] = None  # as in the Action's image: no service extra\n"
        "from bot.cli.console import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for command in ("demo", "emulator"):
        done = subprocess.run(
            [sys.executable, "-c", code, command],
            env=base_env({"HOME": str(tmp_path)}), cwd=tmp_path,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert one_line_error(done) == (
            f"devin-bridge {command} needs the service extra (flask is missing): "
            "pip install 'devin-bridge[service]'"
        )
