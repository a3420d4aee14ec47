"""Scale-out on real engines: Postgres for the store, Redis + RQ for the background work.

Two `devin-bridge serve` replicas and two `devin-bridge worker` processes share one
Postgres schema (fresh per run, dropped afterwards) and one Redis database. Without
Postgres or Redis the tests are skipped locally and FAIL under CI=true.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from bot.service.rq_queue import queue_namespace
from bot.store.facade import NewJob, SessionRecord, Store, TickWrite
from tests.support.deliveries import deliver, service_env, wait_for
from tests.support.service_proc import ServiceProc, start_serve, start_worker, stop_all
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.scale

POSTGRES_URL = os.environ.get(
    "DEVIN_BRIDGE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("DEVIN_BRIDGE_TEST_REDIS", "redis://127.0.0.1:6379/15")
TICK_LINE = re.compile(r"tick session=(\S+) lease=(\d+) owner=(\S+) start=([\d.]+) end=([\d.]+)")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def _require_services() -> None:
    missing = [
        f"{name} at {url}"
        for name, url, port in (("Postgres", POSTGRES_URL, 5432), ("Redis", REDIS_URL, 6379))
        if not _reachable(url, port)
    ]
    if not missing:
        return
    message = " and ".join(missing) + " not reachable"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"scale-out tests need a database and a queue: {message}", pytrace=False)
    pytest.skip(f"scale-out tests skipped: {message}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema for this test, dropped afterwards."""
    _require_services()
    schema = f"devin_bridge_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def redis_url(postgres_url: str) -> Iterator[str]:
    """Redis db 15; the queues are named after the (fresh) store, removed afterwards."""
    import redis

    yield REDIS_URL
    conn = redis.Redis.from_url(REDIS_URL)
    namespace = queue_namespace(postgres_url)
    for key in conn.scan_iter(f"*{namespace}*"):
        conn.delete(key)


def test_postgres_claims_skip_locked_rows_and_fence_writes(postgres_url: str) -> None:
    store = Store(postgres_url)
    store.migrate()
    Store(postgres_url).migrate()  # a second replica starting at the same time
    for n in range(8):
        store.enqueue_job(NewJob(f"seed-{n}", "trigger", f"o/r#{n}", "{}"))
    for claim in store.claim_jobs("seeder", 30, limit=8):
        record = SessionRecord(
            f"s{claim.id}",
            claim.thread_key,
            "o/r",
            claim.id,
            None,
            1,
            "{}",
            "running",
            "working",
            "working",
            time.time(),
        )
        assert store.finish_job(claim, result="created", session=record)
    records: list[tuple[str, int, float, float, bool]] = []
    lock = threading.Lock()

    def claim_loop(owner: str) -> None:
        mine = Store(postgres_url)
        until = time.time() + 1.5
        while time.time() < until:
            for claim in mine.claim_due_sessions(owner, 5, limit=2):
                start = time.time()
                time.sleep(0.005)
                end = time.time()
                ok = mine.finish_tick(
                    claim,
                    TickWrite("{}", "running", "working", "working", None, time.time(), False),
                )
                with lock:
                    records.append((claim.session_id, claim.lease.version, start, end, ok))
        mine.dispose()

    threads = [threading.Thread(target=claim_loop, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(records) > 20 and all(ok for *_, ok in records)
    versions = [(sid, v) for sid, v, *_ in records]
    assert len(versions) == len(set(versions))
    for sid in {r[0] for r in records}:
        spans = sorted((s, e) for i, _, s, e, _ in records if i == sid)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end
    store.dispose()


def _finished(stack: Stack, number: int) -> str | None:
    comments = stack.bot_comments(number)
    if comments and "Devin finished" in comments[-1]["body"]:
        return str(comments[-1]["body"])
    return None


def _user_messages(stack: Stack, number: int) -> list[str]:
    tag = f"thread:{stack.repo}#{number}"
    client = stack.devin_client()
    found = []
    for session in stack.sessions():
        if tag in (session.get("tags") or []):
            page = client.list_messages(session["session_id"])
            found += [m.message for m in page.items if "add a test" in m.message]
    return found


def test_two_replicas_and_two_rq_workers_share_the_work(
    postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = tmp_path_factory.mktemp("scale")
    with running_stack() as stack:
        stack.allow("alice")
        env = service_env(stack, postgres_url, REDIS_URL=redis_url)
        procs: list[ServiceProc] = [
            start_serve(env, logs, workers=1, name="replica-a", wait=False),
            start_serve(env, logs, workers=1, name="replica-b", wait=False),
            start_worker(env, logs, name="rq-1", wait=False),
            start_worker(env, logs, name="rq-2", wait=False),
        ]
        try:
            for proc in procs:
                proc.wait_healthy()
            replicas = procs[:2]
            numbers = range(30, 36)
            for n in numbers:
                stack.github.add_issue(stack.repo, n, title=f"Task {n}")
                comment = stack.github.add_comment(stack.repo, n, f"/devin task {n}", user="alice")
                replica = replicas[n % 2]
                answer = deliver(replica.url, "issue_comment", stack.comment_payload(comment))
                assert answer.status_code == 202
            # A follow-up right behind the first comment: its job waits for the first one
            # (same thread), then goes into the session the first one started.
            follow = stack.github.add_comment(stack.repo, 30, "/devin add a test", user="alice")
            answer = deliver(replicas[1].url, "issue_comment", stack.comment_payload(follow))
            assert answer.status_code == 202
            for n in numbers:
                body = wait_for(lambda n=n: _finished(stack, n), f"#{n} finished", 40)
                assert "/pull/" in body
                assert len(stack.bot_comments(n)) == 1
            assert len(stack.sessions()) == len(numbers)
            wait_for(lambda: _user_messages(stack, 30), "the follow-up delivered to Devin", 20)
        finally:
            stop_all(procs)
        ticks = []
        for proc in procs:
            for m in TICK_LINE.finditer(proc.log()):
                sid, lease, owner, start, end = m.groups()
                ticks.append((sid, int(lease), owner.split(":")[1], float(start), float(end)))
        logs_text = "\n".join(proc.log() for proc in procs)
        for secret in (env["GITHUB_WEBHOOK_SECRET"], stack.devin_key, stack.github_token):
            assert secret not in logs_text
    tickers = {pid for _, _, pid, _, _ in ticks}
    assert tickers <= {str(p.proc.pid) for p in procs[2:]}, "a replica ran a tick itself"
    assert len(tickers) == 2, "one RQ worker did all the work"
    pairs = [(sid, lease) for sid, lease, *_ in ticks]
    assert len(pairs) == len(set(pairs)), "one lease version was used for two ticks"
    for sid in {t[0] for t in ticks}:
        spans = sorted((start, end) for s, _, _, start, end in ticks if s == sid)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"two ticks of {sid} overlapped"
