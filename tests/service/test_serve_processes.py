"""`devin-bridge serve` as a process tree: gunicorn (web workers doing intake only) and one
background process beside it, supervised. Real subprocesses, real signals, the Devin
emulator and the GitHub fake on loopback.

Covers: the background work runs in the background process, never in a web worker; a
killed background process is started again and the work goes on; SIGTERM or SIGINT to
`serve` alone stops every process it started; kill -9 of `serve` alone leaves no orphan.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.deliveries import deliver, service_env, wait_for
from tests.support.service_proc import ServiceProc, start_serve
from tests.support.stack import Stack, running_stack

STARTED = re.compile(r"(gunicorn|background) process started \(pid (\d+)\)")
TICK_OWNER = re.compile(r"tick session=\S+ lease=\d+ owner=[^:\s]+:(\d+):")


@pytest.fixture
def stack() -> Iterator[Stack]:
    with running_stack() as s:
        yield s


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold blanks and parentheses: split after its last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def _tree(pid: int) -> set[int]:
    todo, seen = [pid], set()
    while todo:
        for child in _children(todo.pop()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _full_tree(service: ServiceProc) -> set[int]:
    """gunicorn's master, its two web workers and the background process, once all run."""

    return wait_for(lambda: _exactly(_tree(service.proc.pid), 4), "four processes under serve")


def _exactly(pids: set[int], n: int) -> set[int] | None:
    return pids if len(pids) == n else None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _started(service: ServiceProc, name: str) -> list[int]:
    return [int(pid) for kind, pid in STARTED.findall(service.log()) if kind == name]


def _comment(stack: Stack, number: int, body: str) -> dict[str, Any]:
    stack.allow("alice")
    stack.github.add_issue(stack.repo, number, title=f"Issue {number}")
    return stack.comment_payload(stack.github.add_comment(stack.repo, number, body, user="alice"))


def _finished(stack: Stack, number: int) -> bool:
    comments = stack.bot_comments(number)
    return bool(comments) and "Devin finished" in comments[-1]["body"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree")
def test_background_work_runs_beside_gunicorn_and_is_restarted_when_killed(
    stack: Stack, tmp_path: Path
) -> None:
    service = start_serve(service_env(stack, f"sqlite:///{tmp_path / 'state.db'}"), tmp_path)
    try:
        (background,) = wait_for(lambda: _started(service, "background"), "a background pid")
        (master,) = _started(service, "gunicorn")
        assert _children(service.proc.pid) == {master, background}
        web_workers = wait_for(lambda: _exactly(_children(master), 2), "two web workers")

        assert deliver(service.url, "issue_comment", _comment(stack, 1, "/devin one")).ok
        wait_for(lambda: _finished(stack, 1), "the first session finished", 30)
        owners = {int(pid) for pid in TICK_OWNER.findall(service.log())}
        assert owners == {background}  # no web worker polled

        os.kill(background, signal.SIGKILL)
        restarted = wait_for(
            lambda: [p for p in _started(service, "background") if p != background],
            "a new background process",
            15,
        )
        assert _children(service.proc.pid) == {master, *restarted}
        assert f"background process {background} ended (signal SIGKILL)" in service.log()
        assert deliver(service.url, "issue_comment", _comment(stack, 2, "/devin two")).ok
        wait_for(lambda: _finished(stack, 2), "the second session finished", 30)
        assert _children(master) == web_workers  # gunicorn never noticed
    finally:
        service.stop()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_serve_alone_stops_every_process_it_started(
    stack: Stack, tmp_path: Path, signum: int
) -> None:
    service = start_serve(service_env(stack, f"sqlite:///{tmp_path / 'state.db'}"), tmp_path)
    try:
        wait_for(lambda: _started(service, "background"), "a background pid")
        tree = _full_tree(service)
        os.kill(service.proc.pid, signum)  # the process only, not its group
        assert service.proc.wait(30) == 0
        wait_for(lambda: not any(_alive(p) for p in tree), "every child gone", 10)
    finally:
        service.kill()
    assert "background process ready" in service.log()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree")
def test_kill_9_of_serve_alone_leaves_no_orphan(stack: Stack, tmp_path: Path) -> None:
    service = start_serve(service_env(stack, f"sqlite:///{tmp_path / 'state.db'}"), tmp_path)
    try:
        wait_for(lambda: _started(service, "background"), "a background pid")
        tree = _full_tree(service)
        os.kill(service.proc.pid, signal.SIGKILL)
        service.proc.wait(10)
        wait_for(lambda: not any(_alive(p) for p in tree), "every orphan gone", 30)
    finally:
        service.kill()


def test_a_web_worker_takes_deliveries_while_the_background_process_is_down(
    stack: Stack, tmp_path: Path
) -> None:
    """The web workers do not depend on the background process: a delivery is stored and
    acknowledged while it is stopped, and run when it is back."""
    service = start_serve(service_env(stack, f"sqlite:///{tmp_path / 'state.db'}"), tmp_path)
    try:
        (background,) = wait_for(lambda: _started(service, "background"), "a background pid")
        # Stopped during its start-up writes (schema, deployment id, first feed read) it
        # would hold the SQLite write gate: stop it once it is in its steady loop.
        wait_for(lambda: _steady(service.url), "the background's heartbeat and first feed read")
        os.kill(background, signal.SIGSTOP)
        try:
            answer = deliver(service.url, "issue_comment", _comment(stack, 3, "/devin three"))
            assert answer.status_code == 202
            time.sleep(0.5)
            assert stack.bot_comments(3) == []
        finally:
            os.kill(background, signal.SIGCONT)
        wait_for(lambda: _finished(stack, 3), "the session finished", 30)
    finally:
        service.stop()


def _steady(url: str) -> bool:
    health = requests.get(url + "/healthz", timeout=5).json()
    return health["background_seen_s"] is not None and (
        health["change_feed"]["last_read_s"] is not None
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree")
def test_sighup_to_serve_reloads_gunicorn_workers_and_restarts_the_background(
    stack: Stack, tmp_path: Path
) -> None:
    service = start_serve(service_env(stack, f"sqlite:///{tmp_path / 'state.db'}"), tmp_path)
    try:
        (background,) = wait_for(lambda: _started(service, "background"), "a background pid")
        (master,) = _started(service, "gunicorn")
        web_workers = wait_for(lambda: _exactly(_children(master), 2), "two web workers")
        os.kill(service.proc.pid, signal.SIGHUP)
        fresh = wait_for(
            lambda: _exactly(_children(master) - web_workers, 2), "two new web workers", 20
        )
        assert service.running and _alive(master)
        (restarted,) = wait_for(
            lambda: [p for p in _started(service, "background") if p != background],
            "a new background process",
        )
        assert not _alive(background)
        wait_for(lambda: _children(master) == fresh, "the old web workers gone", 20)
        assert deliver(service.url, "issue_comment", _comment(stack, 4, "/devin four")).ok
        wait_for(lambda: _finished(stack, 4), "the session finished", 30)
        assert {int(pid) for pid in TICK_OWNER.findall(service.log())} == {restarted}
    finally:
        service.stop()
