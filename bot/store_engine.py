"""Database engines for the store: URL handling, SQLite tuned for several processes,
Postgres through psycopg (v3)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


class StoreError(Exception):
    """The database URL is unusable or the store cannot be reached."""


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
            return sa.create_engine(
                parsed,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=10,
                pool_timeout=10,
                connect_args={"connect_timeout": 5},
            )
        except ImportError:
            raise StoreError(
                "DATABASE_URL points at Postgres but psycopg is not installed; "
                "install devin-bridge[scale]"
            ) from None
    raise StoreError(f"DATABASE_URL backend {backend!r} is not supported; use sqlite or postgresql")


def _sqlite_engine(parsed: sa.URL) -> sa.Engine:
    memory = parsed.database in (None, "", ":memory:")
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
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Take the write lock up front: a deferred transaction that reads and then
        # writes fails at once with SQLITE_BUSY when another process wrote meanwhile.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
