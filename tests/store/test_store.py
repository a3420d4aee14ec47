"""The state store on SQLite: schema and migrations, de-duplication, claims, leases and
fencing, leader election, shared counters, and several processes claiming at once."""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.store.facade import (
    NewJob,
    SessionRecord,
    Store,
    StoreError,
    TickWrite,
    canonical_labels,
    normalise_url,
    safe_url,
)
from bot.store.schema import SCHEMA_VERSION


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    s.migrate()
    return s


def _job(key: str, thread: str = "o/r#1") -> NewJob:
    return NewJob(dedupe_key=key, kind="trigger", thread_key=thread, payload="{}")


def _session(sid: str, clock: Clock, thread: str = "o/r#1") -> SessionRecord:
    return SessionRecord(
        session_id=sid,
        thread_key=thread,
        repo="o/r",
        number=int(thread.rsplit("#", 1)[1]),
        installation_id=None,
        comment_id=99,
        track='{"v": 1}',
        status="running",
        status_detail="working",
        state="working",
        next_poll_at=clock.now,
    )


def _write(next_poll_at: float, *, done: bool = False, track: str = '{"v": 2}') -> TickWrite:
    return TickWrite(
        track=track,
        status="running",
        status_detail="finished",
        state="finished",
        comment_id=None,
        next_poll_at=next_poll_at,
        done=done,
    )


def _add_session(store: Store, clock: Clock, sid: str, thread: str = "o/r#1") -> None:
    store.enqueue_job(_job(f"seed-{sid}", thread))
    (claim,) = store.claim_jobs("seeder", 10)
    assert store.finish_job(claim, result="created", session=_session(sid, clock, thread))


# --- schema ---------------------------------------------------------------------------------


def test_schema_is_created_once_and_versioned(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = Store(url)
    assert first.migrate() == SCHEMA_VERSION
    assert Store(url).migrate() == SCHEMA_VERSION  # idempotent, from another "process"
    with sa.create_engine(url).connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        version = conn.execute(sa.text("SELECT version FROM schema_version")).scalar()
    assert {"deliveries", "jobs", "sessions", "threads", "leaders", "meta", "counters"} <= tables
    assert version == SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    Store(url).migrate()
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 999"))
    with pytest.raises(RuntimeError, match="newer than this devin-bridge"):
        Store(url).migrate()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_database_urls() -> None:
    assert normalise_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgresql://h/db") == "postgresql+psycopg://h/db"
    assert normalise_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
    assert "hunter2" not in safe_url("postgresql://bob:hunter2@db.example/bridge")
    assert "hunter2" not in repr(Store("postgresql://bob:hunter2@127.0.0.1:1/bridge"))
    with pytest.raises(StoreError, match="not supported"):
        Store("mysql://h/db")
    with pytest.raises(StoreError, match="not a database URL"):
        Store("::::")


def test_an_in_memory_store_works_for_quick_tools() -> None:
    store = Store("sqlite://")
    store.migrate()
    assert store.enqueue_job(_job("k")) == 1
    assert store.ping()


# --- deliveries -----------------------------------------------------------------------------


def test_a_delivery_and_its_job_are_recorded_together(store: Store) -> None:
    kwargs = dict(hook_id="7", event="issue_comment", action="created", outcome="accepted")
    first = store.accept_delivery(delivery_id="g1", job=_job("comment:1"), **kwargs)
    assert (first.outcome, first.job_id) == ("queued", 1)
    assert store.accept_delivery(delivery_id="g1", job=_job("comment:1"), **kwargs).outcome == (
        "seen"
    )
    assert store.accept_delivery(delivery_id="g2", job=_job("comment:1"), **kwargs).outcome == (
        "duplicate"
    )
    ignored = store.accept_delivery(delivery_id="g3", **{**kwargs, "outcome": "ignored"})
    assert ignored.outcome == "recorded"
    assert store.counts()["deliveries"] == {"queued": 1, "duplicate": 1, "ignored": 1}
    assert store.counts()["jobs"] == {"queued": 1}
    # A known GUID never adds a job, even one with a key not seen yet.
    assert store.accept_delivery(delivery_id="g1", job=_job("comment:2"), **kwargs).outcome == (
        "seen"
    )
    assert store.counts()["jobs"] == {"queued": 1}


# --- jobs -----------------------------------------------------------------------------------


def test_jobs_of_one_thread_run_one_at_a_time_in_order(store: Store, clock: Clock) -> None:
    for key, thread in (("a1", "o/r#1"), ("b1", "o/r#2"), ("a2", "o/r#1")):
        store.enqueue_job(_job(key, thread))
    claimed = store.claim_jobs("w1", 300, limit=10)
    assert [j.dedupe_key for j in claimed] == ["a1", "b1"]  # a2 waits behind a1
    assert store.claim_jobs("w2", 30, limit=10) == []
    # A retry keeps a1 in front of a2, even while a1 waits for its run_after.
    assert store.retry_job(claimed[0], run_after=clock.now + 60, error="rate limited")
    assert store.claim_jobs("w2", 30, limit=10) == []
    clock.now += 61
    (again,) = store.claim_jobs("w2", 30, limit=10)
    assert (again.dedupe_key, again.attempts, again.lease.version) == ("a1", 2, 2)
    assert store.finish_job(again, result="created")
    (last,) = store.claim_jobs("w2", 30, limit=10)
    assert last.dedupe_key == "a2"


def test_an_expired_job_lease_is_taken_over_and_the_old_holder_is_fenced(
    store: Store, clock: Clock
) -> None:
    store.enqueue_job(_job("k"))
    (mine,) = store.claim_jobs("w1", 10)
    assert store.claim_jobs("w2", 10) == []  # leased
    assert store.renew_job(mine, 10)
    clock.now += 11  # w1 stalls past its lease
    (theirs,) = store.claim_jobs("w2", 10)
    assert theirs.lease.version == mine.lease.version + 1
    assert not store.renew_job(mine, 10)
    assert not store.finish_job(mine, result="created", session=_session("s-old", clock))
    assert store.session("s-old") is None  # the fenced write left nothing behind
    assert store.finish_job(theirs, result="created", session=_session("s-new", clock))
    job = store.job(theirs.id)
    assert job is not None and (job["state"], job["session_id"]) == ("done", "s-new")


def test_claim_one_named_job(store: Store) -> None:
    first = store.enqueue_job(_job("a1"))
    second = store.enqueue_job(_job("a2"))
    assert first is not None and second is not None
    assert store.claim_job(second, "w", 10) is None  # behind a1 on the same thread
    claim = store.claim_job(first, "w", 10)
    assert claim is not None and claim.id == first
    assert store.claim_job(first, "w2", 10) is None  # already leased


# --- sessions -------------------------------------------------------------------------------


def test_due_sessions_are_leased_once_and_written_under_the_fence(
    store: Store, clock: Clock
) -> None:
    _add_session(store, clock, "s1")
    (claim,) = store.claim_due_sessions("p1", 10)
    assert claim.comment_id == 99 and claim.track == '{"v": 1}'
    assert store.claim_due_sessions("p2", 10) == []
    assert store.finish_tick(claim, _write(clock.now + 5))
    assert not store.finish_tick(claim, _write(clock.now + 5))  # the lease is spent
    assert store.claim_due_sessions("p2", 10) == []  # not due yet
    clock.now += 5
    (again,) = store.claim_due_sessions("p2", 10)
    assert again.lease.version == claim.lease.version + 1
    assert again.track == '{"v": 2}'


def test_a_poll_requested_during_a_tick_is_not_pushed_back_by_it(
    store: Store, clock: Clock
) -> None:
    """The change feed (or `/devin status`) asks for a poll while a tick holds the
    session: the tick's own, later schedule must not overwrite that request."""
    _add_session(store, clock, "s1")
    (claim,) = store.claim_due_sessions("p1", 10)
    clock.now += 1
    assert store.poll_now("s1")  # requested while the tick runs
    assert store.finish_tick(claim, _write(clock.now + 600))
    assert store.session("s1")["next_poll_at"] == clock.now
    # Without a request during the tick, its own schedule stands.
    (claim,) = store.claim_due_sessions("p1", 10)
    assert store.finish_tick(claim, _write(clock.now + 600))
    assert store.session("s1")["next_poll_at"] == clock.now + 600


def test_a_job_touching_a_session_fences_an_in_flight_tick(store: Store, clock: Clock) -> None:
    _add_session(store, clock, "s1")
    (tick,) = store.claim_due_sessions("poller", 10)
    # Meanwhile a follow-up comment's job stores its own view of the session.
    store.enqueue_job(_job("follow-up"))
    (job,) = store.claim_jobs("worker", 10)
    assert store.finish_job(job, result="followed_up", session=_session("s1", clock))
    assert not store.finish_tick(tick, _write(clock.now + 100, track='{"stale": true}'))
    row = store.session("s1")
    assert row is not None and row["track"] == '{"v": 1}' and row["next_poll_at"] == clock.now


def test_a_session_is_not_polled_while_a_job_of_its_thread_runs(store: Store, clock: Clock) -> None:
    """A follow-up or stop job and a poll of the same thread would both write the status
    comment; the poll waits until the job is done."""
    _add_session(store, clock, "s1")
    _add_session(store, clock, "s2", thread="o/r#2")
    store.enqueue_job(_job("follow-up", "o/r#1"))
    claimed = store.claim_due_sessions("poller", 10)
    assert [c.session_id for c in claimed] == ["s2"]
    (job,) = store.claim_jobs("worker", 10)
    assert store.finish_job(job, result="followed_up")
    (later,) = store.claim_due_sessions("poller", 10)
    assert later.session_id == "s1"


def test_done_sessions_stop_being_polled_and_free_the_thread(store: Store, clock: Clock) -> None:
    _add_session(store, clock, "s1")
    assert (store.thread("o/r#1") or {})["live_session_id"] == "s1"
    (claim,) = store.claim_due_sessions("p", 10)
    assert store.finish_tick(claim, _write(clock.now, done=True))
    clock.now += 1000
    assert store.claim_due_sessions("p", 10) == []
    assert (store.thread("o/r#1") or {})["live_session_id"] is None
    assert store.counts()["sessions_done"] == 1


def test_release_backs_off_and_counts_errors(store: Store, clock: Clock) -> None:
    _add_session(store, clock, "s1")
    (claim,) = store.claim_due_sessions("p", 10)
    assert store.release_session(claim, next_poll_at=clock.now + 30, error="Devin 503")
    row = store.session("s1")
    assert row is not None and (row["errors"], row["last_error"]) == (1, "Devin 503")
    clock.now += 29
    assert store.claim_due_sessions("p", 10) == []
    assert store.poll_now("s1")
    (claim,) = store.claim_due_sessions("p", 10)
    assert claim.errors == 1


def test_refresh_claims_every_live_session_regardless_of_schedule(
    store: Store, clock: Clock
) -> None:
    for n in (1, 2, 3):
        _add_session(store, clock, f"s{n}", thread=f"o/r#{n}")
    for claim in store.claim_due_sessions("p", 10):
        store.finish_tick(claim, _write(clock.now + 3600))
    assert store.claim_due_sessions("p", 10) == []
    claimed = store.claim_due_sessions("refresh", 10, all_live=True)
    assert sorted(c.session_id for c in claimed) == ["s1", "s2", "s3"]


def test_a_closed_thread_is_reported_with_the_claim(store: Store, clock: Clock) -> None:
    _add_session(store, clock, "s1")
    store.set_thread_closed("o/r#1", True)
    (claim,) = store.claim_due_sessions("p", 10)
    assert claim.thread_closed


def test_dispatch_marks_work_once_per_window(store: Store, clock: Clock) -> None:
    _add_session(store, clock, "s1")
    store.enqueue_job(_job("j1", "o/r#5"))
    assert store.mark_for_dispatch(30) == ([2], ["s1"])
    assert store.mark_for_dispatch(30) == ([], [])
    clock.now += 31
    assert store.mark_for_dispatch(30) == ([2], ["s1"])


# --- leadership, meta, counters -------------------------------------------------------------


def test_leader_lease(store: Store, clock: Clock) -> None:
    assert store.acquire_leader("poller", "a", 10)
    assert not store.acquire_leader("poller", "b", 10)
    assert store.acquire_leader("poller", "a", 10)  # renew
    clock.now += 11
    assert store.acquire_leader("poller", "b", 10)  # a died: b takes over
    assert not store.acquire_leader("poller", "a", 10)
    store.release_leader("poller", "b")
    assert store.acquire_leader("poller", "a", 10)  # released: no need to wait
    assert store.leader("poller") == ("a", clock.now + 10)


def test_meta_counters_counts_and_prune(store: Store, clock: Clock) -> None:
    store.set_meta("bot_login", "x[bot]")
    store.set_meta("bot_login", "y[bot]")
    assert store.get_meta("bot_login") == "y[bot]"
    assert store.get_meta("missing") is None
    key = ("devin_bridge_ticks_total", canonical_labels({"result": "stored"}))
    store.add_counters({key: 2})
    store.add_counters({key: 3})
    assert store.counters() == [("devin_bridge_ticks_total", {"result": "stored"}, 5.0)]
    store.accept_delivery(hook_id="", delivery_id="old", event="e", action="", outcome="ignored")
    clock.now += 10
    assert store.prune(older_than=clock.now - 5) == 1
    assert store.counts()["deliveries"] == {}


# --- several processes at once ----------------------------------------------------------------


def _claim_loop(
    url: str, owner: str, seconds: float, start: Any, out: multiprocessing.Queue[object]
) -> None:
    store = Store(url)
    store.ping()
    start.wait(30)  # every process claims during the same window
    until = time.time() + seconds
    record = []
    while time.time() < until:
        for claim in store.claim_due_sessions(owner, 5, limit=2):
            start = time.time()
            time.sleep(0.005)  # "the tick"
            end = time.time()
            ok = store.finish_tick(claim, _write(time.time()))
            record.append((claim.session_id, claim.lease.version, start, end, ok))
    out.put(record)


def test_processes_never_hold_the_same_session_at_once(store: Store, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    real = Store(url)
    clock = Clock(time.time())
    for n in range(6):
        _add_session(Store(url, clock=clock), clock, f"s{n}", thread=f"o/r#{n}")
    ctx = multiprocessing.get_context("fork")  # children reuse the imports
    out: multiprocessing.Queue[object] = ctx.Queue()
    start = ctx.Barrier(4)
    procs = [
        ctx.Process(target=_claim_loop, args=(url, f"w{i}", 1.5, start, out)) for i in range(4)
    ]
    for p in procs:
        p.start()
    records = [r for _ in procs for r in out.get(timeout=30)]  # type: ignore[attr-defined]
    for p in procs:
        p.join(10)
    assert len(records) > 20
    assert all(ok for *_, ok in records)
    versions = [(sid, v) for sid, v, *_ in records]
    assert len(versions) == len(set(versions)), "a lease version was handed out twice"
    for sid in {r[0] for r in records}:
        spans = sorted((start, end) for s, _, start, end, _ in records if s == sid)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"two ticks of {sid} overlapped"
    assert real.counts()["sessions_leased"] == 0


def _deliver_loop(url: str, name: str, start: Any, out: multiprocessing.Queue[object]) -> None:
    store = Store(url)
    start.wait(30)
    failed: list[str] = []

    def deliver(thread: int) -> None:
        for n in range(25):
            try:
                store.accept_delivery(
                    hook_id="1",
                    delivery_id=f"{name}-{thread}-{n}",
                    event="issue_comment",
                    action="created",
                    outcome="accepted",
                    job=_job(f"{name}-{thread}-{n}", thread=f"o/r#{thread}"),
                )
            except Exception as err:
                failed.append(type(err).__name__)

    threads = [threading.Thread(target=deliver, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    out.put(failed)


def test_deliveries_from_threads_of_several_processes_are_all_recorded(
    store: Store, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[object] = ctx.Queue()
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_deliver_loop, args=(url, f"p{i}", start, out)) for i in range(2)]
    for p in procs:
        p.start()
    failures = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert failures == [[], []]
    counts = Store(url).counts()
    assert counts["deliveries"] == {"queued": 200}
    assert counts["jobs"] == {"queued": 200}
