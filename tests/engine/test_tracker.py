"""tick(): one poll of a session and the status comment it keeps up to date, over real HTTP."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any

import pytest

from bot.devin.bodies import SessionRequest
from bot.emulator.config import EmulatorConfig
from bot.engine import tracker
from bot.engine.deps import RunOptions
from bot.engine.tracker import TickResult, TrackState, tick
from tests.support.stack import Stack, running_stack


def start(
    stack: Stack, scenario: str | dict[str, Any] | None = None, number: int | None = 7
) -> TrackState:
    if scenario is not None:
        stack.use_scenario(scenario)
    if number is not None:
        stack.github.add_issue(stack.repo, number, title="Flaky test")
    session = stack.devin_client().create_session(
        SessionRequest(prompt="Fix the flaky test", tags=("devin-bridge",))
    )
    return TrackState(
        session_id=session.session_id,
        repo=stack.repo,
        number=number,
        comment_id=None,
        requested_by="alice",
        trigger_url=None,
        started_at=time.time(),
    )


def ticks(stack: Stack, state: TrackState, n: int, **kw: Any) -> list[TickResult]:
    deps = stack.deps(**kw)
    out = []
    for _ in range(n):
        result = tick(state, deps)
        state = result.state
        out.append(result)
    return out


def body(stack: Stack, number: int = 7) -> str:
    [comment] = stack.bot_comments(number)
    return str(comment["body"])


def patches(stack: Stack) -> int:
    return len(stack.github.requests("PATCH", r"/issues/comments/"))


def test_first_tick_creates_the_comment_and_later_ticks_edit_it(stack: Stack) -> None:
    state = start(stack)
    results = ticks(stack, state, 5)
    assert results[0].edited and results[0].state.comment_id is not None
    assert {r.state.comment_id for r in results} == {results[0].state.comment_id}
    assert len(stack.github.requests("POST", r"/issues/7/comments$")) == 1
    assert results[-1].settled and not results[-1].done
    assert "Devin finished" in body(stack)
    assert "2.5 ACUs" in body(stack)


def test_nothing_is_read_or_written_while_the_session_does_not_change(stack: Stack) -> None:
    state = start(stack, "idle")
    settled = ticks(stack, state, 3)[-1]  # the poll after a change reads once more
    assert settled.settled
    edits = patches(stack)
    reads = len(stack.devin_requests("GET", r"/(messages|attachments)$"))
    quiet = ticks(stack, settled.state, 4)
    assert not any(r.edited for r in quiet)
    assert patches(stack) == edits
    assert len(stack.devin_requests("GET", r"/(messages|attachments)$")) == reads
    counts = [r.state.unchanged_polls for r in quiet]
    assert counts == list(range(counts[0], counts[0] + 4)) and counts[0] > 1
    assert quiet[-1].next_delay >= 120  # settled: slow polling


def test_a_change_that_does_not_show_does_not_edit(stack: Stack) -> None:
    state = start(stack, "idle")
    settled = ticks(stack, state, 2)[-1]
    edits = patches(stack)
    # updated_at moves (e.g. Devin touched the session) but nothing visible changed
    stack.emulator.patch_session(state.session_id, {"updated_at": int(time.time()) + 100})
    again = ticks(stack, settled.state, 1)[0]
    assert not again.edited and patches(stack) == edits
    assert again.state.unchanged_polls == 0


def test_timed_out_renders_still_running_and_is_not_done(stack: Stack) -> None:
    state = start(stack, "long")
    working = ticks(stack, state, 2)[-1]
    assert not working.settled
    result = tick(working.state, stack.deps(), timed_out=True)
    assert result.edited and not result.done and not result.settled
    assert "still working" in body(stack).lower()
    assert "Still running" in body(stack)


@pytest.mark.parametrize(("scenario", "state_word"), [("exit", "finished"), ("error", "failed")])
def test_terminal_sessions_are_done(stack: Stack, scenario: str, state_word: str) -> None:
    state = start(stack, scenario)
    last = ticks(stack, state, 4)[-1]
    assert last.done and last.settled
    assert last.session.state() == state_word


def test_archived_session_is_done(stack: Stack) -> None:
    state = start(stack, "long")
    first = ticks(stack, state, 1)[0]
    stack.emulator.patch_session(state.session_id, {"is_archived": True})
    assert ticks(stack, first.state, 1)[0].done


def test_small_text_attachments_are_previewed_once_settled(stack: Stack) -> None:
    scenario = {
        "name": "files",
        "steps": [
            {
                "status": "running",
                "status_detail": "working",
                "attachment": {
                    "name": "notes.txt",
                    "content": "hello from the preview",
                    "content_type": "text/plain",
                },
            },
            {"attachment": {"name": "big.log", "size": 20_000, "content_type": "text/plain"}},
            {"attachment": {"name": "shot.png", "size": 100, "content_type": "image/png"}},
            {"status": "running", "status_detail": "finished"},
        ],
    }
    state = start(stack, scenario)
    downloads = r"/attachments/[0-9a-f-]{36}/"
    working = ticks(stack, state, 3)
    assert not working[-1].settled
    assert "notes.txt" in body(stack) and "hello from the preview" not in body(stack)
    assert stack.devin_requests("GET", downloads) == []  # nothing downloaded while working

    ticks(stack, working[-1].state, 1)
    text = body(stack)
    assert "hello from the preview" in text
    assert "big.log" in text and "shot.png" in text
    assert "emulator attachment" not in text  # the large file is linked, not previewed
    fetched = [r["path"] for r in stack.devin_requests("GET", downloads)]
    assert not any(p.endswith("/shot.png") for p in fetched)  # binaries are never downloaded


def ticking_clock() -> EmulatorConfig:
    """An emulator whose clock moves a second per reading: every step changes updated_at,
    as it does between real polls."""
    seconds = itertools.count(int(time.time()))
    return EmulatorConfig(clock=lambda: float(next(seconds)))


def test_latest_message_follows_the_cursor_across_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracker, "MESSAGES_PAGE", 2)
    steps = [{"status": "running", "status_detail": "working", "message": "message 1"}]
    steps += [{"message": f"message {i}"} for i in range(2, 7)]
    with running_stack(ticking_clock()) as stack:
        state = start(stack, {"name": "chatty", "steps": steps})
        results = ticks(stack, state, 6)
        assert [r.state.latest_message for r in results] == [f"message {i}" for i in range(1, 7)]
        assert results[-1].state.message_cursor is not None
        later = stack.devin_requests("GET", r"/messages$")[-1]
        assert later["query"].get("after")  # reads on from the cursor, not from the start
        assert "message 6" in body(stack)


def test_cursor_kept_when_the_last_page_has_one_too() -> None:
    config = replace(ticking_clock(), end_cursor_on_last_page=True)
    with running_stack(config) as stack:
        steps = [{"status": "running", "status_detail": "working", "message": "first"}]
        steps += [{"message": "second"}, {"message": "third"}]
        state = start(stack, {"name": "three", "steps": steps})
        results = ticks(stack, state, 3)
        assert [r.state.latest_message for r in results] == ["first", "second", "third"]
        cursors = [r.state.message_cursor for r in results]
        assert all(cursors) and len(set(cursors)) == 3


def test_no_comment_without_a_thread_or_with_comments_off(stack: Stack) -> None:
    state = start(stack, number=None)
    result = ticks(stack, state, 2)[-1]
    assert result.state.comment_id is None and result.state.fingerprint is not None
    assert not result.edited
    other = start(stack, number=8)
    quiet = ticks(stack, other, 2, options=RunOptions(comment=False))[-1]
    assert quiet.state.comment_id is None
    assert stack.github.requests("POST") == []


def test_after_a_crash_the_comment_is_found_by_its_marker(stack: Stack) -> None:
    state = start(stack)
    first = ticks(stack, state, 1)[0]
    # a restarted process lost the comment id and the fingerprint
    fresh = replace(first.state, comment_id=None, fingerprint=None)
    again = ticks(stack, fresh, 1)[0]
    assert again.state.comment_id == first.state.comment_id
    assert len(stack.bot_comments(7)) == 1


def test_a_deleted_comment_is_posted_again(stack: Stack) -> None:
    state = start(stack)
    first = ticks(stack, state, 1)[0]
    assert first.state.comment_id is not None
    with stack.github.lock:
        del stack.github.comments[first.state.comment_id]
    again = ticks(stack, first.state, 1)[0]
    assert again.edited and again.state.comment_id != first.state.comment_id
    assert len(stack.bot_comments(7)) == 1


def test_a_failed_comment_write_is_retried_on_the_next_change(stack: Stack) -> None:
    state = start(stack)
    first = ticks(stack, state, 1)[0]
    stack.github.add_fault("PATCH", r"/issues/comments/", 403)
    failed = ticks(stack, first.state, 1)[0]
    assert not failed.edited and failed.state.fingerprint == first.state.fingerprint
    later = ticks(stack, failed.state, 1)[0]
    assert later.edited


def test_next_delay_uses_the_poll_interval_while_young(stack: Stack) -> None:
    state = start(stack, "long")
    deps = stack.deps()
    result = tick(state, deps)
    assert result.next_delay == deps.poll_interval
