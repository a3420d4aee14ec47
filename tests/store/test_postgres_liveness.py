"""Pooled Postgres connections the server ended are replaced at checkout, without a ping
query per checkout (real Postgres at 127.0.0.1:5432, db `test`, a schema of its own)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from bot.store.facade import NewJob, Store

POSTGRES_URL = os.environ.get(
    "DEVIN_BRIDGE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _reachable() -> bool:
    parts = urlsplit(POSTGRES_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1):
            return True
    except OSError:
        return False


@pytest.fixture
def admin() -> Iterator[sa.Engine]:
    if not _reachable():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Postgres at {POSTGRES_URL} is not reachable", pytrace=False)
        pytest.skip(f"Postgres at {POSTGRES_URL} is not reachable")
    engine = sa.create_engine(POSTGRES_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def store(admin: sa.Engine) -> Iterator[Store]:
    schema = f"devin_bridge_live_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    store = Store(f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}")
    store.migrate()
    try:
        yield store
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def _backend_pids(store: Store, n: int) -> list[int]:
    """Check out `n` connections at once (so the pool holds n) and note their backends."""
    conns = [store.engine.connect() for _ in range(n)]
    try:
        return [int(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()) for c in conns]
    finally:
        for c in conns:
            c.close()


def _terminate(admin: sa.Engine, pids: list[int]) -> None:
    with admin.begin() as conn:
        for pid in pids:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with admin.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"),
                {"p": pids},
            ).scalar_one()
        if not left:
            return
        time.sleep(0.05)
    raise AssertionError(f"backends {pids} did not end")


def test_the_pool_does_not_ping_on_checkout(store: Store) -> None:
    assert not store.engine.pool._pre_ping  # the liveness check is a local socket poll
    assert store.engine.pool._recycle > 0


def test_connections_killed_with_pg_terminate_backend_are_survived(
    store: Store, admin: sa.Engine
) -> None:
    killed = _backend_pids(store, 3)
    assert len(set(killed)) == 3
    _terminate(admin, killed)
    # Each of these checks out a pooled connection whose backend is gone: none fails.
    for n in range(6):
        assert store.enqueue_job(NewJob(f"after-kill-{n}", "trigger", f"o/r#{n}", "{}"))
    assert store.ping()
    assert store.counts()["jobs"] == {"queued": 6}
    fresh = _backend_pids(store, 3)
    assert not set(fresh) & set(killed)


def test_a_webhook_write_after_a_database_restart_of_its_connection(
    store: Store, admin: sa.Engine
) -> None:
    (pid,) = _backend_pids(store, 1)
    _terminate(admin, [pid])
    accepted = store.accept_delivery(
        hook_id="1",
        delivery_id="after-restart",
        event="issue_comment",
        action="created",
        outcome="accepted",
        job=NewJob("comment:1", "trigger", "o/r#1", "{}"),
    )
    assert accepted.outcome == "queued"
