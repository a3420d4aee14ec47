"""`devin-bridge demo`: the whole loop on loopback, with no account and no configuration.

The Devin emulator and the GitHub stand-in run on threads of this process; the service
is the real `devin-bridge serve` (gunicorn, intake, store, worker, tracker) in its own
process group, on SQLite in a temporary folder. A signed `/devin` comment goes to its
`/webhook`; each version of the status comment is printed as it appears; once the store
says the session finished, everything started here is stopped and the folder removed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot.core.comment_markers import find_session_id
from bot.demo.github_standin import GitHubStandin, create_standin_app
from bot.demo.terminal import frame, render
from bot.emulator import EmulatorConfig, create_emulator_app
from bot.service.intake import signature

REPO = "octo-org/hello-world"
ISSUE = 1
COMMENTER = "octocat"
BOT_LOGIN = "devin-bridge-demo[bot]"
COMMENT = "/devin fix the flaky greeting test in tests/test_greet.py"
# Values that open only the local stand-ins; printed nowhere, valid nowhere else.
GITHUB_TOKEN = "ghp_demo_loopback_only"
WEBHOOK_SECRET = "demo-webhook-secret"
FINAL_STATES = ("finished", "stopped", "failed")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
# Variables of a real deployment that must not leak into the demo's service.
_OWN_PREFIXES = ("DEVIN_", "GITHUB_", "DATABASE_URL", "REDIS_URL")


class DemoError(Exception):
    """The demo could not run to the end; the message says what happened."""


@dataclass(frozen=True)
class DemoResult:
    session_id: str
    state: str
    versions: int
    seconds: float


class _Quiet(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def _thread_server(app: Any) -> Iterator[str]:
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Service:
    """`devin-bridge serve` in its own process group; its output goes to a file."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "serve.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            env=env,
            cwd=str(folder),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DemoError(f"devin-bridge serve stopped at start-up:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise DemoError(f"devin-bridge serve did not answer within {timeout:.0f} s")

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join("  " + line for line in text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the whole group (gunicorn master and workers); SIGKILL if it lingers."""
        try:
            if self.proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(5)
            # Anything the master left behind in its group goes too.
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        finally:
            self._log.close()


def service_env(devin_url: str, github_url: str, database_url: str) -> dict[str, str]:
    """The service's environment: this one without any real credentials, plus the demo's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    config = EmulatorConfig()
    env.update(
        {
            "DEVIN_API_KEY": config.api_key,
            "DEVIN_ORG_ID": config.org_id,
            "DEVIN_API_URL": devin_url,
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_API_URL": github_url,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "DATABASE_URL": database_url,
            "DEVIN_BRIDGE_POLL_INTERVAL": "0.5",
            "DEVIN_BRIDGE_GITHUB_WRITE_SPACING": "0",
            "DEVIN_BRIDGE_BOT_LOGIN": BOT_LOGIN,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_demo(out: TextIO, *, timeout: float = 60.0, color: bool = False) -> DemoResult:
    """Run the loop once; raises DemoError (after stopping everything) when it cannot."""
    started = time.monotonic()
    github = GitHubStandin(repo=REPO, token=GITHUB_TOKEN, bot_login=BOT_LOGIN)
    github.roles[COMMENTER] = "write"
    github.add_issue(
        ISSUE,
        "The greeting test fails now and then",
        "tests/test_greet.py::test_hello fails about one run in ten on CI.",
        COMMENTER,
    )
    emulator = create_emulator_app(EmulatorConfig())

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="devin-bridge-demo-")))
        devin_root = stack.enter_context(_thread_server(emulator))
        github_url = stack.enter_context(_thread_server(create_standin_app(github)))
        database_url = f"sqlite:///{folder / 'devin-bridge.db'}"
        say("devin-bridge demo: the whole loop on loopback; nothing leaves this machine.")
        say(f"  Devin API emulator   {devin_root}/v3")
        say(f"  GitHub API stand-in  {github_url}  ({REPO}, issue #{ISSUE})")
        service = _Service(service_env(devin_root + "/v3", github_url, database_url), folder)
        stack.callback(service.stop)
        service.wait_ready(START_TIMEOUT_S)
        say(f"  devin-bridge serve   {service.url}  (SQLite in {folder})")
        say()
        comment = github.add_comment(ISSUE, COMMENT, COMMENTER)
        say(f'@{COMMENTER} comments on issue #{ISSUE}: "{COMMENT}"')
        status = _deliver(service.url, github.comment_payload(comment, github_url))
        say(f"  → signed issue_comment webhook delivered to /webhook: HTTP {status}")
        if status != 202:
            raise DemoError(f"the service answered {status} instead of 202 to the webhook")
        say()
        result = _watch(github, database_url, say, color, deadline=started + timeout)
        elapsed = time.monotonic() - started
        say(
            f"Session {result[0]} {result[1]} after {elapsed:.1f} s; the status comment was "
            f"edited in place ({result[2]} versions). Stopping the service and the stand-ins."
        )
    return DemoResult(result[0], result[1], result[2], time.monotonic() - started)


def _deliver(url: str, payload: dict[str, Any]) -> int:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/devin-bridge-demo",
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": f"demo-{time.time_ns()}",
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": signature(WEBHOOK_SECRET, body),
    }
    return requests.post(url + "/webhook", data=body, headers=headers, timeout=10).status_code


def _watch(
    github: GitHubStandin, database_url: str, say: Any, color: bool, *, deadline: float
) -> tuple[str, str, int]:
    """Print every new version of the bot's comments until the store says it is over."""
    from bot.store.facade import Store

    store = Store(database_url)
    shown: dict[int, int] = {}
    try:
        while True:
            for comment in github.bot_comments():
                for index in range(shown.get(comment.id, 0), len(comment.versions)):
                    what = "status comment posted" if index == 0 else f"edited, version {index + 1}"
                    body = render(comment.versions[index], color=color)
                    say(frame(what, body, color=color))
                shown[comment.id] = len(comment.versions)
            state = _final_state(store, github)
            if state is not None:
                return state[0], state[1], sum(shown.values())
            if time.monotonic() > deadline:
                raise DemoError("the session did not finish in time")
            with github.changed:
                github.changed.wait(timeout=0.2)
    finally:
        store.dispose()


def _final_state(store: Any, github: GitHubStandin) -> tuple[str, str] | None:
    for comment in github.bot_comments():
        marked = find_session_id(comment.body)
        # The marker shows the id as the API returned it; the store may keep the
        # prefixed form the API also accepts.
        for session_id in (marked, f"devin-{marked}") if marked else ():
            row = store.session(session_id)
            if row and row.get("state") in FINAL_STATES:
                return str(marked), str(row["state"])
    return None
