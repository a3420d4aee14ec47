"""The service as users run it: `devin-bridge serve` (real gunicorn) and `devin-bridge worker`
as subprocesses, the Devin emulator and the GitHub fake on loopback threads.

Covers: a signed `/devin` comment ending in one finished status comment; redeliveries;
bad input (never a 500); the bot's own events; refusals; kill -9 of the service and of a
worker process mid-session; Devin 429/503 and GitHub 502; two gunicorn workers and two
worker processes on one SQLite file without a tick ever running twice at once.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.emulator.config import EmulatorConfig
from bot.store.facade import Store
from tests.support.deliveries import SECRET, deliver, service_env, wait_for
from tests.support.service_proc import (
    ServiceProc,
    run_command,
    start_serve,
    start_worker,
    stop_all,
)
from tests.support.stack import Stack, running_stack

PR_URL = "https://github.com/{repo}/pull/{pr_number}"
# Slow enough to be killed in the middle: about 8 polls from start to finish.
SLOW_SCENARIO = {
    "name": "slow-finish",
    "steps": [
        {"after_polls": 1, "status": "running", "status_detail": "working"},
        {"after_polls": 2, "message": "Looking at {repo}", "acus": 0.5},
        {"after_polls": 2, "pull_request": {"pr_url": PR_URL, "pr_state": "open"}, "acus": 1.0},
        {"after_polls": 2, "message": "Done: {pr_url}", "status_detail": "finished"},
    ],
}
TICK_LINE = re.compile(
    r"tick session=(\S+) lease=(\d+) owner=(\S+) start=([\d.]+) end=([\d.]+) result=(\w+)"
)


@dataclass
class Live:
    stack: Stack
    service: ServiceProc
    store: Store
    logs: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One service for the checks that do not restart it."""
    logs = tmp_path_factory.mktemp("service")
    url = f"sqlite:///{logs / 'state.db'}"
    with running_stack() as stack:
        env = service_env(stack, url)
        service = start_serve(env, logs)
        try:
            yield Live(stack, service, Store(url), logs, env)
        finally:
            service.stop()


@pytest.fixture
def stack() -> Iterator[Stack]:
    with running_stack(EmulatorConfig()) as s:
        s.emulator.register_scenario(SLOW_SCENARIO)
        yield s


def _comment(stack: Stack, number: int, body: str, user: str = "alice") -> dict[str, Any]:
    if user == "alice":
        stack.allow(user)
    if (stack.repo.lower(), number) not in stack.github.issues:
        stack.github.add_issue(stack.repo, number, title=f"Issue {number}")
    return stack.comment_payload(stack.github.add_comment(stack.repo, number, body, user=user))


def _finished(stack: Stack, number: int) -> str | None:
    comments = stack.bot_comments(number)
    if comments and "Devin finished" in comments[-1]["body"]:
        return str(comments[-1]["body"])
    return None


def _thread_sessions(stack: Stack, number: int) -> list[dict[str, Any]]:
    tag = f"thread:{stack.repo}#{number}"
    return [s for s in stack.sessions() if tag in (s.get("tags") or [])]


def _assert_one_session_one_comment(stack: Stack, number: int) -> str:
    body = wait_for(lambda: _finished(stack, number), f"a finished comment on #{number}", 30)
    assert "/pull/" in body, body
    assert len(stack.bot_comments(number)) == 1
    assert len(_thread_sessions(stack, number)) == 1
    return body


def _ticks(*procs: ServiceProc) -> list[tuple[str, int, str, float, float, str]]:
    found = []
    for proc in procs:
        for m in TICK_LINE.finditer(proc.log()):
            sid, lease, owner, start, end, result = m.groups()
            found.append((sid, int(lease), owner, float(start), float(end), result))
    return found


def _assert_no_tick_overlap(ticks: list[tuple[str, int, str, float, float, str]]) -> None:
    pairs = [(sid, lease) for sid, lease, *_ in ticks]
    assert len(pairs) == len(set(pairs)), "one lease version was used for two ticks"
    for sid in {t[0] for t in ticks}:
        spans = sorted((start, end, owner) for s, _, owner, start, end, _ in ticks if s == sid)
        for (_, end, a), (start, _, b) in itertools.pairwise(spans):
            assert start >= end, f"ticks of {sid} by {a} and {b} overlapped"


# --- one long-running service ---------------------------------------------------------------


def test_a_signed_comment_runs_one_session_to_a_finished_comment(live: Live) -> None:
    stack = live.stack
    payload = _comment(stack, 1, "/devin fix the flaky test")
    answer = deliver(live.service.url, "issue_comment", payload, delivery_id="guid-1")
    assert answer.status_code == 202
    body = _assert_one_session_one_comment(stack, 1)
    assert "<!-- devin-bridge:session=" in body
    # GitHub's "Redeliver" button, three times: same GUID, nothing new.
    for _ in range(3):
        again = deliver(live.service.url, "issue_comment", payload, delivery_id="guid-1")
        assert again.status_code == 200
    # The same comment under a new GUID (another hook): still nothing new.
    assert deliver(live.service.url, "issue_comment", payload).status_code == 200
    time.sleep(0.5)
    assert len(stack.bot_comments(1)) == 1
    assert len(_thread_sessions(stack, 1)) == 1


def _raw_post(port: int, head: dict[str, str], body: bytes, *, half_close: bool) -> int:
    lines = ["POST /webhook HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in head.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_bad_input_gets_401_413_or_400_never_500(live: Live) -> None:
    url = live.service.url + "/webhook"
    payload = json.dumps(_comment(live.stack, 2, "/devin hello")).encode()
    base = {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "bad-1"}
    unsigned = requests.post(url, data=payload, headers=base, timeout=10)
    assert unsigned.status_code == 401
    wrong = {**base, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert requests.post(url, data=payload, headers=wrong, timeout=10).status_code == 401
    assert deliver(live.service.url, "issue_comment", b"<xml>not json</xml>").status_code == 400
    truncated = payload[: len(payload) // 2]
    assert deliver(live.service.url, "issue_comment", truncated).status_code == 400
    signed_whole = deliver(live.service.url, "issue_comment", payload).request.headers
    sig = {"X-Hub-Signature-256": signed_whole["X-Hub-Signature-256"]}
    cut = requests.post(url, data=truncated, headers={**base, **sig}, timeout=10)
    assert cut.status_code == 401  # signed over the whole body, only half arrived
    no_event = {**sig, "X-GitHub-Delivery": "bad-2"}
    assert requests.post(url, data=payload, headers=no_event, timeout=10).status_code == 400
    port = live.service.port
    assert port is not None
    huge = {**base, **sig, "Content-Length": str(26 * 1024 * 1024)}
    assert _raw_post(port, huge, b"{" * 4096, half_close=False) == 413
    short = {**base, **sig, "Content-Length": str(len(payload))}
    assert _raw_post(port, short, payload[:100], half_close=True) == 400
    assert "Traceback" not in live.service.log()
    assert requests.get(live.service.url + "/healthz", timeout=5).status_code == 200


def test_the_bots_own_comment_and_its_edits_are_ignored(live: Live) -> None:
    stack = live.stack
    own = _comment(stack, 3, "/devin something", user=stack.bot_login)
    assert deliver(live.service.url, "issue_comment", own).json()["status"] == "ignored"
    status = stack.github.add_comment(
        stack.repo, 3, "<!-- devin-bridge:session=x -->\nworking", user=stack.bot_login
    )
    stack.github.comments[status.id].history.append("<!-- devin-bridge:session=x -->\n/devin done")
    edited = stack.comment_payload(status, action="edited")
    assert deliver(live.service.url, "issue_comment", edited).json()["status"] == "ignored"
    time.sleep(0.5)
    assert _thread_sessions(stack, 3) == []


def test_a_non_collaborator_is_refused(live: Live) -> None:
    stack = live.stack
    payload = _comment(stack, 4, "/devin delete everything", user="mallory")
    assert deliver(live.service.url, "issue_comment", payload).status_code == 202
    reply = wait_for(lambda: stack.bot_comments(4), "a refusal reply")
    assert "mallory" in reply[0]["body"]
    time.sleep(0.3)
    assert _thread_sessions(stack, 4) == []


def test_metrics_and_health(live: Live) -> None:
    health = requests.get(live.service.url + "/healthz", timeout=5).json()
    assert health["store"]["ok"] and health["queue"]["kind"] == "in-process"

    # The web workers do no background work under `serve`: the health answer still
    # says the deployment's background process is alive and the change feed reads.
    def background_seen() -> dict[str, Any] | None:
        h = requests.get(live.service.url + "/healthz", timeout=5).json()
        seen, feed = h["background_seen_s"], h["change_feed"]
        ok = seen is not None and seen < 30 and feed["on"] and feed["last_read_s"] is not None
        return h if ok else None

    health = wait_for(background_seen, "a heartbeat and a feed read", 20, every=0.5)
    assert health["background"] is False  # not in the process that answered
    assert health["change_feed"]["last_read_s"] < 30
    calls = 'devin_bridge_api_calls_total{service="devin",status="200"}'

    def scrape() -> str | None:
        text = requests.get(live.service.url + "/metrics", timeout=5).text
        return text if calls in text else None  # each process flushes every few seconds

    text = wait_for(scrape, "the background worker's counters", 15, every=0.5)
    assert "devin_bridge_webhook_deliveries_total" in text
    github_calls = 'devin_bridge_api_calls_total{service="github",status="200"}'
    assert wait_for(
        lambda: github_calls in requests.get(live.service.url + "/metrics", timeout=5).text,
        "GitHub API calls counted",
        15,
        every=0.5,
    )


def test_refresh_updates_every_live_session_once(live: Live) -> None:
    assert live.store.live_session_ids()  # the finished session of #1 is still followed
    done = run_command(["refresh"], live.env, live.logs)
    assert done.returncode == 0, done.stderr
    match = re.search(r"refreshed (\d+) live sessions", done.stdout)
    assert match is not None and int(match.group(1)) >= 1, done.stdout


def test_secrets_never_reach_the_logs(live: Live) -> None:
    logs = "\n".join(p.read_text(errors="replace") for p in live.logs.glob("*.log"))
    assert "delivery" in logs  # the logs are there
    for secret in (SECRET, live.stack.devin_key, live.stack.github_token):
        assert secret not in logs


# --- start-up checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET"),
        ("GITHUB_TOKEN", "GITHUB_TOKEN"),
    ],
)
def test_serve_refuses_to_start_without_what_it_needs(
    tmp_path: Path, drop: str, named: str
) -> None:
    env = {
        "DEVIN_API_KEY": "cog_x",
        "DEVIN_ORG_ID": "org-x",
        "GITHUB_TOKEN": "ghp_x",
        "GITHUB_WEBHOOK_SECRET": "s",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
    }
    del env[drop]
    done = run_command(["serve", "--port", "1"], env, tmp_path)
    assert done.returncode == 2
    assert named in done.stderr
    assert not (tmp_path / "never.db").exists()


# --- crashes and faults -----------------------------------------------------------------------


def test_kill_9_of_the_service_mid_session_then_restart(stack: Stack, tmp_path: Path) -> None:
    stack.use_scenario("slow-finish")
    env = service_env(stack, f"sqlite:///{tmp_path / 'state.db'}")
    service = start_serve(env, tmp_path)
    payload = _comment(stack, 5, "/devin survive a crash")
    assert deliver(service.url, "issue_comment", payload).status_code == 202
    wait_for(lambda: "Looking at" in str(stack.bot_comments(5)), "the session under way")
    service.kill()
    assert _finished(stack, 5) is None
    restarted = start_serve(env, tmp_path)
    try:
        _assert_one_session_one_comment(stack, 5)
        ticks = _ticks(service, restarted)
    finally:
        restarted.stop()
    _assert_no_tick_overlap(ticks)


def test_kill_9_of_a_worker_process_mid_tick(stack: Stack, tmp_path: Path) -> None:
    stack.use_scenario("slow-finish")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    env = service_env(stack, url)
    service = start_serve(env, tmp_path, workers=1, wait=False)
    worker = start_worker(env, tmp_path, wait=False)
    service.wait_healthy()
    worker.wait_healthy()
    store = Store(url)
    try:
        payload = _comment(stack, 6, "/devin survive a dead worker")
        assert deliver(service.url, "issue_comment", payload).status_code == 202
        wait_for(lambda: store.live_session_ids(), "a session in the store")
        # Make the next polls hang, then kill whichever process is in the middle of one.
        stack.emulator.add_fault(method="GET", path=r".*/sessions/[^/]+", delay=1.5, times=1)
        holder = wait_for(lambda: _lease_owner(store), "a tick in progress")
        pid = int(holder.split(":")[1])
        victim = worker if pid == worker.proc.pid else None
        _kill_pid(pid)
        _assert_one_session_one_comment(stack, 6)
        if victim is None:  # a gunicorn worker died: the master started a new one
            assert service.running
    finally:
        stop_all([worker, service])
    _assert_no_tick_overlap(_ticks(service, worker))


def _lease_owner(store: Store) -> str | None:
    for sid in store.live_session_ids():
        row = store.session(sid)
        if row and row["lease_owner"] and (row["lease_until"] or 0) > time.time():
            return str(row["lease_owner"])
    return None


def _kill_pid(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def test_devin_429_and_503_and_github_502_still_end_right(stack: Stack, tmp_path: Path) -> None:
    emulator = stack.emulator
    # Session creation is rate limited beyond the client's own retries: the job waits.
    emulator.add_fault(method="POST", path=r".*/sessions", status=429, retry_after=0.2, times=3)
    # Reads (the change feed's list and the session GETs): two 429s (the client waits
    # them out), then three 503s (more than the client retries: the read or tick is
    # postponed), then normal answers.
    reads = r".*/sessions(/[^/]+)?"
    emulator.add_fault(method="GET", path=reads, status=429, retry_after=0.2, times=2)
    emulator.add_fault(method="GET", path=reads, status=503, times=3, skip=1)
    stack.github.add_fault("PATCH", r"/issues/comments/\d+", 502, times=1)
    env = service_env(stack, f"sqlite:///{tmp_path / 'state.db'}")
    service = start_serve(env, tmp_path, workers=1)
    try:
        payload = _comment(stack, 7, "/devin cope with outages")
        assert deliver(service.url, "issue_comment", payload).status_code == 202
        _assert_one_session_one_comment(stack, 7)
        log = service.log()
    finally:
        service.stop()
    assert "postponed" in log  # the job and the ticks were rescheduled, not dropped
    assert not emulator.faults.describe()  # every injected fault was hit


def test_two_gunicorn_workers_and_two_worker_processes_share_one_sqlite_file(
    stack: Stack, tmp_path: Path
) -> None:
    env = service_env(stack, f"sqlite:///{tmp_path / 'state.db'}")
    service = start_serve(env, tmp_path, workers=2, wait=False)
    workers = [start_worker(env, tmp_path, name=f"worker{i}", wait=False) for i in range(2)]
    procs = [service, *workers]
    try:
        for proc in procs:
            proc.wait_healthy()
        numbers = range(20, 26)
        for n in numbers:
            payload = _comment(stack, n, f"/devin task {n}")
            assert deliver(service.url, "issue_comment", payload).status_code == 202
        for n in numbers:
            _assert_one_session_one_comment(stack, n)
    finally:
        stop_all(procs)
    ticks = _ticks(*procs)
    _assert_no_tick_overlap(ticks)
    assert len({owner for _, _, owner, *_ in ticks}) >= 2, "only one process did any work"
    assert len(stack.sessions()) == len(numbers)
