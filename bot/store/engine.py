"""Database engines for the store: URL handling, SQLite tuned for several processes,
Postgres through psycopg (v3)."""

from __future__ import annotations

import fcntl
import logging
import os
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
CHECKPOINT_EVERY = 500  # transactions of one process between side-thread checkpoints
WAL_AUTOCHECKPOINT_PAGES = 10_000  # SQLite's in-commit checkpoint: a backstop (~40 MB)

# Postgres: a pooled connection is replaced after this age (below the idle timeouts of the
# usual proxies and load balancers), and TCP keepalives notice a peer gone silently.
POOL_RECYCLE_S = 300
TCP_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

log = logging.getLogger("devin_bridge.store")


class StoreError(Exception):
    """The database URL is unusable or the store cannot be reached."""


class TxGate:
    """Lets one transaction at a time at an SQLite file, queued without SQLite's sleeps.

    SQLite admits one writer, and every transaction here is one (BEGIN IMMEDIATE). Callers
    that collide inside SQLite wait in its busy handler, which sleeps in growing steps (1,
    2, 5, 10 ... 100 ms) and dominated the webhook's latency under load. Threads of this
    process queue on a lock instead, and processes on an advisory lock on a `-txlock` file
    next to the database (polled every millisecond at most): the next transaction starts
    about when the previous one commits. After SQLite's own busy timeout the gate lets the
    caller through and SQLite decides, as before. On Postgres the gate is open.
    """

    def __init__(self, *, enabled: bool, lock_path: str | None = None) -> None:
        self._lock = threading.RLock() if enabled else None
        self._path = lock_path if enabled else None
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        lock = self._lock
        if lock is None:
            yield
            return
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            yield  # let SQLite decide
            return
        filed = False
        try:
            self._depth += 1
            if self._depth == 1:
                filed = self._lock_file(deadline)
            yield
        finally:
            self._depth -= 1
            if filed:
                self._unlock_file()
            lock.release()

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # a forked child needs its own
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._path = None  # e.g. a read-only directory: SQLite's busy handler only
                return None
            self._pid = os.getpid()
        return self._fd

    def _lock_file(self, deadline: float) -> bool:
        fd = self._file()
        if fd is None:
            return False
        pause = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(0.001, pause * 2)
            except OSError:
                return False

    def _unlock_file(self) -> None:
        if self._fd is not None:
            with suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)


class Checkpointer:
    """Copies the SQLite WAL back into the database from a side thread now and then.

    SQLite's own automatic checkpoint runs inside a commit, and the committing caller (a
    webhook request, holding the gate) waits for its fsyncs meanwhile. Here a PASSIVE
    checkpoint, which never blocks writers, runs every CHECKPOINT_EVERY transactions of
    this process in a short-lived thread; SQLite's automatic one stays as a backstop at
    a larger WAL size (WAL_AUTOCHECKPOINT_PAGES).
    """

    def __init__(self, engine: sa.Engine | None) -> None:
        self._engine = engine
        self._count = 0
        self._running = threading.Lock()

    def count(self) -> None:
        if self._engine is None:
            return
        self._count += 1  # a lost increment under a race only delays a checkpoint
        if self._count < CHECKPOINT_EVERY or self._running.locked():
            return
        self._count = 0
        threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def _run(self) -> None:
        if self._engine is None or not self._running.acquire(blocking=False):
            return
        try:
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.close()
            finally:
                raw.close()
        except Exception:  # the backstop checkpoints anyway
            log.debug("WAL checkpoint failed", exc_info=True)
        finally:
            self._running.release()


def checkpointer(engine: sa.Engine) -> Checkpointer:
    """Side-thread WAL checkpoints for an SQLite file (none for memory or Postgres)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return Checkpointer(None)
    return Checkpointer(engine)


def tx_gate(engine: sa.Engine) -> TxGate:
    """The gate for an engine's transactions (closed for SQLite, open for Postgres)."""
    if engine.dialect.name != "sqlite":
        return TxGate(enabled=False)
    database = engine.url.database
    memory = database in (None, "", ":memory:") or str(database).startswith("file:")
    return TxGate(enabled=True, lock_path=None if memory else f"{database}-txlock")


def normalise_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg (v3) driver for them."""
    text = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if text.startswith(prefix):
            return "postgresql+psycopg://" + text[len(prefix) :]
    return text


def safe_url(url: str) -> str:
    """The URL with any password hidden (for logs and /healthz)."""
    try:
        return sa.engine.make_url(normalise_url(url)).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparseable DATABASE_URL)"


def make_engine(url: str) -> sa.Engine:
    try:
        parsed = sa.engine.make_url(normalise_url(url))
    except sa.exc.ArgumentError:
        raise StoreError(
            "DATABASE_URL is not a database URL; use e.g. sqlite:///devin-bridge.db or "
            "postgresql://user@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            engine = sa.create_engine(
                parsed,
                pool_size=5,
                max_overflow=10,
                pool_timeout=10,
                pool_recycle=POOL_RECYCLE_S,
                connect_args={"connect_timeout": 5, **TCP_KEEPALIVES},
            )
        except ImportError:
            raise StoreError(
                "DATABASE_URL points at Postgres but psycopg is not installed; "
                "install devin-bridge[scale]"
            ) from None
        sa.event.listen(engine, "checkout", _closed_by_server)
        return engine
    raise StoreError(f"DATABASE_URL backend {backend!r} is not supported; use sqlite or postgresql")


def _closed_by_server(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled Postgres connection the server has closed is replaced at checkout.

    Instead of pool_pre_ping's `SELECT 1` (a round trip per checkout), look at the socket:
    an idle connection has nothing to read, while one the server ended (restart,
    pg_terminate_backend, idle timeout) has its goodbye or EOF waiting. That costs one
    poll(2) with a zero timeout. SQLAlchemy answers DisconnectionError by discarding the
    connection and checking out another. A peer that vanished silently is caught by the
    TCP keepalives (its socket then reports an error) and pool_recycle bounds the age.
    """
    if getattr(dbapi_conn, "closed", False) or getattr(dbapi_conn, "broken", False):
        raise sa.exc.DisconnectionError("the connection is closed")
    try:
        fd = dbapi_conn.fileno()
        waiting = select.poll()
        waiting.register(fd, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
        events = waiting.poll(0)
    except (OSError, ValueError, AttributeError):
        raise sa.exc.DisconnectionError("the connection has no usable socket") from None
    if events:
        raise sa.exc.DisconnectionError("the server closed the connection")


def _sqlite_engine(parsed: sa.URL) -> sa.Engine:
    memory = parsed.database in (None, "", ":memory:")
    if not memory and parsed.database:
        # The default lives in the per-user data folder, which may not exist yet.
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        poolclass=StaticPool if memory else None,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives a crash of the process; only a power loss may
            # lose the last commits (the database itself never corrupts).
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Take the write lock up front: a deferred transaction that reads and then
        # writes fails at once with SQLITE_BUSY when another process wrote meanwhile.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
