"""The change feed against the emulator over real HTTP: one list call per interval finds
what changed, a filter the server ignores switches to per-session polling, and two
deployments on one organisation ignore each other's sessions."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.service.codec import dump, load_track
from bot.service.feed import FeedRunner
from bot.service.feed_status import FeedStatus
from bot.service.metrics import FEED_FALLBACKS, render
from bot.service.queue import trigger_job_thread
from bot.service.runtime import Runtime
from bot.service.settings import Settings
from bot.store.facade import NewJob, Store
from bot.store.schema import sessions
from tests.support.stack import Stack

INTERVAL = 0.2
SAFETY = 600.0


def _runtime(stack: Stack, tmp_path: Path, *, name: str = "a", **kw: Any) -> Runtime:
    values: dict[str, Any] = {
        "devin_api_key": stack.devin_key,
        "devin_org_id": stack.org_id,
        "devin_api_url": stack.devin_url,
        "github_token": stack.github_token,
        "github_api_url": stack.github_url,
        "github_webhook_secret": "s3cret-webhook",
        "database_url": f"sqlite:///{tmp_path / f'{name}.db'}",
        "poll_interval": INTERVAL,
        "bot_login": stack.bot_login,
        "github_write_spacing": 0.0,
        "deployment": name,
        "safety_poll_s": SAFETY,
    }
    values.update(kw)
    settings = Settings(**values)
    store = Store(settings.database_url)
    return Runtime.build(settings, store=store)


def _start(rt: Runtime, stack: Stack, number: int) -> str:
    """One `/devin` comment on `number`, run as a job: returns the new session's id."""
    stack.github.add_issue(stack.repo, number, title=f"Issue {number}")
    comment = stack.github.add_comment(stack.repo, number, "/devin go", user="alice")
    trigger = stack.comment_trigger(comment)
    rt.store.enqueue_job(
        NewJob(trigger.dedupe_key, "trigger", trigger_job_thread(trigger), dump(trigger))
    )
    (job,) = rt.store.claim_jobs("w", rt.lease_s)
    rt.job_runner().run(job)
    (session_id,) = [
        s for s in rt.store.live_session_ids() if rt.store.session(s)["number"] == number
    ]
    return session_id


def _runner(rt: Runtime) -> FeedRunner:
    feed = rt.change_feed()
    assert feed is not None
    return FeedRunner(feed, rt.poller("feed-test"), rt.store, owner="feed-test", lease_s=rt.lease_s)


def _read(runner: FeedRunner) -> int:
    runner.feed._next = float("-inf")  # due now: the test plays the interval
    return runner.run_once()


def _age(rt: Runtime, session_id: str, seconds: float) -> None:
    """Move a tracked session's start back in time (as if it had run that long)."""
    row = rt.store.session(session_id)
    assert row is not None
    state = load_track(row["track"])
    older = replace(state, started_at=state.started_at - seconds)
    with rt.store.engine.begin() as conn:
        conn.execute(
            sa.update(sessions)
            .where(sessions.c.session_id == session_id)
            .values(track=dump(older), created_at=row["created_at"] - seconds)
        )


def _settle(rt: Runtime) -> None:
    """The one per-session read that follows each change (one-second timestamps)."""
    time.sleep(INTERVAL + 0.05)
    rt.poller("settle").run_due()


def _comment(stack: Stack, number: int) -> str:
    comments = stack.bot_comments(number)
    assert len(comments) == 1
    return str(comments[0]["body"])


@pytest.fixture
def quiet(stack: Stack) -> Stack:
    stack.use_scenario("long")  # running/working forever: nothing changes by itself
    stack.allow("alice")
    return stack


def test_sessions_carry_the_deployment_tag_and_are_listed_by_it(
    quiet: Stack, tmp_path: Path
) -> None:
    rt = _runtime(quiet, tmp_path, name="east")
    session_id = _start(rt, quiet, 11)
    assert "bridge:east" in quiet.emulator.tags(session_id)["tags"]
    before = len(quiet.devin_requests("GET"))
    _read(_runner(rt))
    lists = quiet.devin_requests("GET", r"/sessions$")[-1:]
    assert lists and lists[0]["query"]["tags"] == ["bridge:east"]
    # Even the first read of a new store is bounded in time: not every session ever made.
    (since,) = lists[0]["query"]["updated_after"]
    assert time.time() - 4 * 86400 < int(since) < time.time() - 2 * 86400
    assert len(quiet.devin_requests("GET")) > before


def test_a_quiet_fleet_costs_one_list_call_per_read(quiet: Stack, tmp_path: Path) -> None:
    rt = _runtime(quiet, tmp_path)
    ids = [_start(rt, quiet, n) for n in (21, 22, 23, 24)]
    runner = _runner(rt)
    _read(runner)  # the first read hands out every session once (nothing seen yet)
    _settle(rt)
    gets_before = len(quiet.devin_requests("GET", r"/sessions/[^/]+$"))
    lists_before = len(quiet.devin_requests("GET", r"/sessions$"))
    ticked = [_read(runner) for _ in range(5)]
    assert ticked == [0] * 5
    assert len(quiet.devin_requests("GET", r"/sessions$")) - lists_before == 5
    assert len(quiet.devin_requests("GET", r"/sessions/[^/]+$")) == gets_before
    # While the feed works, each session's own poll waits for the safety interval.
    for sid in ids:
        assert rt.store.session(sid)["next_poll_at"] > time.time() + SAFETY / 2


def test_a_change_of_a_session_older_than_an_hour_reaches_its_comment_in_one_read(
    quiet: Stack, tmp_path: Path
) -> None:
    rt = _runtime(quiet, tmp_path)
    session_id = _start(rt, quiet, 31)
    _age(rt, session_id, 2 * 3600.0)  # started two hours ago, as far as the bridge knows
    runner = _runner(rt)
    _read(runner)
    _settle(rt)
    for _ in range(3):
        assert _read(runner) == 0
    assert "Finished" not in _comment(quiet, 31)
    quiet.emulator.patch_session(session_id, {"status_detail": "finished", "acus_consumed": 3.5})
    # The per-session poll is far away; only the feed can see the change.
    assert rt.store.session(session_id)["next_poll_at"] > time.time() + SAFETY / 2
    reads = 0
    while "finished" not in _comment(quiet, 31).lower() and reads < 2:
        _read(runner)
        reads += 1
    assert "finished" in _comment(quiet, 31).lower()
    assert reads == 1
    assert "3.5" in _comment(quiet, 31)


def test_a_filter_the_server_ignores_switches_to_per_session_polling(
    quiet: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rt = _runtime(quiet, tmp_path)
    old = _start(rt, quiet, 41)
    _start(rt, quiet, 42)
    runner = _runner(rt)
    _read(runner)
    assert FeedStatus(rt.store, runner.feed.tag, INTERVAL).active()
    # A session last updated long ago: a server honouring updated_after never lists it.
    quiet.emulator.patch_session(old, {"updated_at": int(time.time()) - 7200})
    config = replace(quiet.emulator.config, ignored_list_filters=("updated_after",))
    monkeypatch.setattr(quiet.emulator, "config", config)
    with caplog.at_level(logging.WARNING, logger="devin_bridge.feed"):
        assert _read(runner) == 0
    assert "ignored the 'updated_after' filter" in caplog.text
    rt.metrics.flush(rt.store)
    text = render(rt.store.counters(), rt.store.counts())
    assert f'{FEED_FALLBACKS}{{filter="updated_after"}} 1' in text
    assert not FeedStatus(rt.store, runner.feed.tag, INTERVAL).active()
    # Every live session is due within an interval, and ticks schedule per session again.
    for sid in rt.store.live_session_ids():
        assert rt.store.session(sid)["next_poll_at"] <= time.time() + INTERVAL + 0.5
    time.sleep(INTERVAL + 0.1)
    reports = rt.poller("p").run_due()
    assert {r.result for r in reports} == {"stored"}
    for sid in rt.store.live_session_ids():
        assert rt.store.session(sid)["next_poll_at"] < time.time() + 60


def test_a_tag_filter_the_server_ignores_is_noticed_too(
    quiet: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _runtime(quiet, tmp_path, name="mine")
    _start(rt, quiet, 51)
    # A session of another deployment, without our tag:
    other = _runtime(quiet, tmp_path, name="theirs")
    _start(other, quiet, 52)
    config = replace(quiet.emulator.config, ignored_list_filters=("tags",))
    monkeypatch.setattr(quiet.emulator, "config", config)
    runner = _runner(rt)
    _read(runner)
    assert not FeedStatus(rt.store, runner.feed.tag, INTERVAL).active()


def test_two_deployments_on_one_organisation_ignore_each_other(
    quiet: Stack, tmp_path: Path
) -> None:
    east = _runtime(quiet, tmp_path, name="east")
    west = _runtime(quiet, tmp_path, name="west")
    east_id = _start(east, quiet, 61)
    west_id = _start(west, quiet, 62)
    east_runner, west_runner = _runner(east), _runner(west)
    east_read = east_runner.feed.read()
    west_read = west_runner.feed.read()
    assert [s.session_id for s in east_read.changed or ()] == [east_id]
    assert [s.session_id for s in west_read.changed or ()] == [west_id]
    # A change of west's session is seen by west's feed only.
    quiet.emulator.patch_session(west_id, {"status_detail": "finished"})
    east_runner.feed._next = west_runner.feed._next = float("-inf")
    assert [s.session_id for s in east_runner.feed.read().changed or ()] == []
    assert [s.session_id for s in west_runner.feed.read().changed or ()] == [west_id]
    assert west_id not in east.store.live_session_ids()


def test_a_feed_down_for_long_brings_the_sessions_own_polls_forward(
    quiet: Stack, tmp_path: Path
) -> None:
    rt = _runtime(quiet, tmp_path)
    session_id = _start(rt, quiet, 71)
    runner = _runner(rt)
    _read(runner)
    _settle(rt)
    assert rt.store.session(session_id)["next_poll_at"] > time.time() + SAFETY / 2
    # A short gap (a worker restarting) changes nothing: the next reader starts from
    # the stored cursor.
    survivor = _runner(rt)
    survivor.feed._next = float("inf")  # its own read is not due yet
    survivor.feed.clock = survivor.status.clock = lambda: time.time() + 10 * INTERVAL
    survivor.step(_NoPool(), set(), set(), time.monotonic())
    assert rt.store.session(session_id)["next_poll_at"] > time.time() + SAFETY / 2
    # Nobody completed a read for LAPSE_INTERVALS: the sessions' own polls take over.
    later = _runner(rt)
    later.feed._next = float("inf")
    later.feed.clock = later.status.clock = lambda: time.time() + 31 * INTERVAL
    later.step(_NoPool(), set(), set(), time.monotonic())
    assert rt.store.session(session_id)["next_poll_at"] <= time.time() + 31 * INTERVAL + 1


class _NoPool:
    """A pool that runs nothing: the step under test must not need it."""

    def submit(self, *args: object) -> Any:
        raise AssertionError("nothing should be submitted")


def test_live_sessions_without_the_tag_are_adopted_on_the_first_read(
    quiet: Stack, tmp_path: Path
) -> None:
    """Sessions created before this deployment tagged its sessions are tagged once, so
    the feed sees them from then on."""
    rt = _runtime(quiet, tmp_path, name="adopt")
    session_id = _start(rt, quiet, 81)
    untagged = [t for t in quiet.emulator.tags(session_id)["tags"] if t != "bridge:adopt"]
    quiet.emulator.set_tags(session_id, untagged, append=False)
    runner = _runner(rt)
    _read(runner)
    assert "bridge:adopt" in quiet.emulator.tags(session_id)["tags"]
    posts = quiet.devin_requests("POST", rf"/sessions/(devin-)?{session_id}/tags$")
    assert [p["json"] for p in posts] == [{"tags": ["bridge:adopt"]}]
    quiet.emulator.get_session(session_id)  # past the scenario's only step
    quiet.emulator.patch_session(session_id, {"status_detail": "finished"})
    _read(runner)
    assert "finished" in _comment(quiet, 81).lower()


class _RecordingQueue:
    """Stands in for RQQueue in the dispatcher: records what would go to Redis."""

    dispatch_ttl = 30.0

    def __init__(self) -> None:
        self.ticks: list[tuple[str, dict[str, Any] | None]] = []

    def lost_messages(self) -> bool:
        return False

    def enqueue_job(self, job_id: int) -> None:
        raise AssertionError("no job is waiting")

    def enqueue_tick(self, session_id: str, item: dict[str, Any] | None = None) -> None:
        self.ticks.append((session_id, item))


def test_with_rq_a_change_goes_to_rq_with_its_list_item_and_no_get(
    quiet: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.service import rq_queue

    rt = _runtime(quiet, tmp_path, name="rq")
    session_id = _start(rt, quiet, 91)
    queue = _RecordingQueue()
    dispatcher = rq_queue.Dispatcher(
        rt.store,
        queue,  # type: ignore[arg-type]
        rt.factory,
        owner="dispatch",
        lease_s=rt.lease_s,
        idle_s=0.1,
        housekeeping=rt.housekeeping(),
        feed=rt.change_feed(),
    )
    context = rq_queue.RQContext(
        rt.store,
        rt.job_runner(),
        rt.poller("rq-worker"),
        queue,
        "rq-worker",
        rt.lease_s,  # type: ignore[arg-type]
    )
    monkeypatch.setattr(rq_queue, "_context", context)

    def dispatch_and_run() -> None:
        assert dispatcher.feed is not None
        dispatcher.feed._next = float("-inf")
        queue.ticks.clear()
        dispatcher.dispatch_once()
        for sid, item in list(queue.ticks):
            if item is not None:
                rq_queue.tick_session(sid, item)

    dispatch_and_run()  # the first read hands the session out once
    _settle(rt)
    quiet.emulator.patch_session(session_id, {"status_detail": "finished"})
    gets = len(quiet.devin_requests("GET", r"/sessions/[^/]+$"))
    dispatcher.feed._next = float("-inf")  # type: ignore[union-attr]
    queue.ticks.clear()
    dispatcher.dispatch_once()
    [(sid, item)] = [t for t in queue.ticks if t[1] is not None]
    assert sid == session_id and item is not None and item["status_detail"] == "finished"
    # The store's backstop, should the RQ message be lost with Redis.
    assert rt.store.session(session_id)["next_poll_at"] <= time.time() + 3 * INTERVAL + 0.5
    assert rq_queue.tick_session(sid, item) == "stored"
    assert "finished" in _comment(quiet, 91).lower()
    assert len(quiet.devin_requests("GET", r"/sessions/[^/]+$")) == gets
