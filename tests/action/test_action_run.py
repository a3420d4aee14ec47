"""The Action's wait loop in-process, with a scripted clock: outages while waiting,
cancellation by the runner, and the deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.action.event import ActionEvent, read_event
from bot.action.inputs import ActionInputs
from bot.action.process import ActionCancelled
from bot.action.refresh import thread_number
from bot.action.wait import Clock, wait_for
from bot.engine.handlers import RunOptions, handle
from bot.engine.tracker import TrackState
from tests.support.stack import REPO, Stack

MARKER = "<!-- devin-bridge:session="


class FakeClock:
    """Time passes only when the code under test sleeps; `cancel_after` sleeps raise
    ActionCancelled, as SIGTERM from the runner would."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.now = 0.0
        self.naps: list[float] = []
        self.cancel_after = cancel_after

    def sleep(self, seconds: float) -> None:
        if self.cancel_after is not None and len(self.naps) >= self.cancel_after:
            raise ActionCancelled()
        self.naps.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(sleep=self.sleep, monotonic=lambda: self.now)


def inputs(**changes: object) -> ActionInputs:
    base: dict[str, object] = {"devin_api_key": "k", "org_id": "o", "poll_interval": 10.0}
    base.update(changes)
    return ActionInputs(**base)  # type: ignore[arg-type]


def started(world: Stack, scenario: str) -> tuple[TrackState, int]:
    world.allow("alice")
    world.github.add_issue(REPO, 5)
    comment = world.github.add_comment(REPO, 5, "/devin go", user="alice")
    deps = world.deps(RunOptions(tags=(f"emulator-scenario:{scenario}",)))
    outcome = handle(world.comment_trigger(comment), deps)
    assert outcome.action == "created" and outcome.track is not None
    return outcome.track, 5


def status_body(world: Stack, number: int) -> str:
    (comment,) = [c for c in world.github.thread_comments(REPO, number) if MARKER in c["body"]]
    return str(comment["body"])


def test_waits_until_finished_with_the_policy_delays(stack: Stack) -> None:
    track, number = started(stack, "finish")
    fake = FakeClock()
    waited = wait_for(track, stack.deps(), inputs(), fake.clock())
    assert waited.session is not None and waited.session.state() == "finished"
    assert not waited.timed_out and not waited.cancelled
    assert fake.naps and all(nap == 10.0 for nap in fake.naps)  # young, active session
    assert "Finished" in status_body(stack, number) or "finished" in status_body(stack, number)


def test_deadline_finalises_the_comment_as_still_running(stack: Stack) -> None:
    track, number = started(stack, "long")
    fake = FakeClock()
    waited = wait_for(track, stack.deps(), inputs(timeout_minutes=1.0), fake.clock())
    assert waited.timed_out and waited.session is not None
    assert fake.now == pytest.approx(60.0)
    assert "Still running" in status_body(stack, number)


def test_cancellation_finalises_the_comment(stack: Stack) -> None:
    track, number = started(stack, "long")
    waited = wait_for(track, stack.deps(), inputs(), FakeClock(cancel_after=2).clock())
    assert waited.cancelled
    assert "Still running" in status_body(stack, number)


def test_an_outage_while_waiting_is_waited_out(stack: Stack) -> None:
    track, _ = started(stack, "finish")
    # More 503s than the client retries by itself: the wait loop must ride them out.
    stack.emulator.add_fault(method="GET", path=r".*/sessions/[^/]+", status=503, times=4)
    fake = FakeClock()
    waited = wait_for(track, stack.deps(), inputs(), fake.clock())
    assert waited.session is not None and waited.session.state() == "finished"
    assert waited.error is None


def test_fractional_poll_interval_scales_the_policy(stack: Stack) -> None:
    track, _ = started(stack, "long")
    fake = FakeClock()
    wait_for(track, stack.deps(), inputs(poll_interval=0.05, timeout_minutes=0.01), fake.clock())
    assert len(fake.naps) >= 10
    assert all(nap <= 0.05 + 1e-9 for nap in fake.naps)


def test_thread_number_from_the_contract_tag(stack: Stack) -> None:
    track, _ = started(stack, "finish")
    session = stack.deps().devin.get_session(track.session_id)
    assert thread_number(session, REPO) == 5
    assert thread_number(session, "other/repo") is None


def test_schedule_payload_gets_repository_and_sender(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"schedule": "*/10 * * * *"}')
    got = read_event(
        {
            "GITHUB_EVENT_NAME": "schedule",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_ACTOR": "alice",
        }
    )
    assert isinstance(got, ActionEvent)
    assert got.payload["repository"] == {"full_name": REPO}
    assert got.payload["sender"] == {"login": "alice", "type": "User"}


class _Commands:
    """WorkflowCommands stand-in that records info lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)


@pytest.mark.parametrize(("status", "words"), [("exit", "Devin finished"), ("error", "failed")])
def test_refresh_finalises_a_session_that_ended_between_runs(
    stack: Stack, status: str, words: str
) -> None:
    from bot.action.refresh import refresh

    track, number = started(stack, "long")
    assert "Devin finished" not in status_body(stack, number)
    later = int(stack.deps().clock()) + 5
    stack.emulator.patch_session(track.session_id, {"status": status, "updated_at": later})
    report = refresh(inputs(mode="refresh"), REPO, stack.deps(), _Commands())  # type: ignore[arg-type]
    assert report.exit_code == 0
    assert words in status_body(stack, number)


def test_refresh_runs_see_a_session_move_with_one_list_call_each(stack: Stack) -> None:
    """Against the emulator, a session advances as the refresh's list reads look at it
    (like GETs), so a cron of `mode: refresh` runs follows it to the end, and no run
    reads a session on its own."""
    from bot.action.refresh import refresh

    _track, number = started(stack, "finish")
    gets_before = len(stack.devin_requests("GET", r"/sessions/[^/]+$"))
    runs = 0
    while "finished" not in status_body(stack, number).lower() and runs < 8:
        report = refresh(inputs(mode="refresh"), REPO, stack.deps(), _Commands())  # type: ignore[arg-type]
        assert report.exit_code == 0
        runs += 1
    assert "finished" in status_body(stack, number).lower()
    assert runs <= 5
    assert len(stack.devin_requests("GET", r"/sessions/[^/]+$")) == gets_before
    lists = stack.devin_requests("GET", r"/sessions$")[-runs:]
    assert all(r["query"].get("updated_after") for r in lists)
    assert all(r["query"]["tags"] == [f"repo:{REPO}"] for r in lists)


def test_refresh_falls_back_to_listing_everything_when_the_time_filter_is_ignored(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from bot.action.refresh import refresh

    track, _number = started(stack, "long")
    for _ in range(3):  # past its only step: list reads no longer change it
        stack.emulator.get_session(track.session_id)
    old = int(stack.deps().clock()) - 10 * 24 * 3600
    stack.emulator.patch_session(track.session_id, {"updated_at": old})
    config = replace(stack.emulator.config, ignored_list_filters=("updated_after",))
    monkeypatch.setattr(stack.emulator, "config", config)
    commands = _Commands()
    report = refresh(inputs(mode="refresh"), REPO, stack.deps(), commands)  # type: ignore[arg-type]
    assert report.exit_code == 0
    assert any("ignored the 'updated_after' filter" in line for line in commands.lines)


def test_the_wait_logs_each_state_change_and_a_heartbeat(stack: Stack) -> None:
    from bot.action.wait import Progress

    track, _ = started(stack, "long")
    fake = FakeClock()
    lines: list[str] = []
    wait_for(
        track,
        stack.deps(),
        inputs(timeout_minutes=10.0),
        fake.clock(),
        progress=Progress(lines.append, fake.clock()),
    )
    assert lines[0].startswith("working (running/working) · 0:")
    beats = [line for line in lines if line.startswith("still working")]
    # 10 minutes of an unchanging session: a heartbeat every 3 minutes, no more.
    assert len(beats) == 3, lines
    assert len(lines) == 4
    for line in lines:
        assert " ACUs · https://app.devin.ai/sessions/" in line
    assert beats[0].split(" · ")[1].startswith(("3:", "2:5"))


def test_the_wait_logs_one_line_per_state_until_finished(stack: Stack) -> None:
    from bot.action.wait import Progress

    track, _ = started(stack, "finish")
    fake = FakeClock()
    lines: list[str] = []
    wait_for(
        track, stack.deps(), inputs(), fake.clock(), progress=Progress(lines.append, fake.clock())
    )
    states = [line.split(" (")[0] for line in lines]
    assert states == ["working", "finished"], lines
    assert "2.5 ACUs" in lines[-1]
