"""Connection handling shared by every part of the store: transactions, the SQLite gate, inserts."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.engine import (
    checkpointer,
    make_engine,
    safe_url,
    tx_gate,
)
from bot.store.schema import (
    jobs,
    migrate,
    sessions,
)

UNFINISHED = ("queued", "running")
# Aliases for the claim subqueries, built once: aliasing a table copies its columns.
JOBS_C = jobs.alias("c")
JOBS_K = jobs.alias("k")
SESSIONS_C = sessions.alias("c")
_THREAD_JOBS = jobs.alias("tj")


@functools.cache
def insert_ignore_stmt(
    dialect: str, table: sa.Table, keys: tuple[str, ...], conflict: str | None = None
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING <key>, values bound as `v_<column>`."""
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = insert.values({k: sa.bindparam(f"v_{k}") for k in keys})
    if conflict is None:
        return stmt.on_conflict_do_nothing().returning(next(iter(table.primary_key.columns)))
    return stmt.on_conflict_do_nothing(index_elements=[conflict]).returning(table.c.id)


def no_thread_job_running(c: sa.FromClause) -> sa.ColumnElement[bool]:
    """A thread's trigger job (a follow-up, a stop) and a poll of its session never run
    at once: both write the same status comment."""
    j = _THREAD_JOBS
    return ~(
        sa.select(j.c.id)
        .where(j.c.thread_key == c.c.thread_key, j.c.state.in_(UNFINISHED))
        .exists()
    )


class StoreBase:
    """The engine, the clock and transactions; the mixins add one concern each."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        engine: sa.Engine | None = None,
    ) -> None:
        self.url = safe_url(url)
        self.engine = engine or make_engine(url)
        self.dialect = self.engine.dialect.name
        self._clock = clock
        self._gate = tx_gate(self.engine)
        self._checkpoints = checkpointer(self.engine)

    def now(self) -> float:
        """The store's clock: leases and due times are in its terms."""
        return self._clock()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self._gate(), self.engine.begin() as conn:
            yield conn
        self._checkpoints.count()

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        # On SQLite a read is a transaction too (BEGIN IMMEDIATE, see store_engine).
        with self._gate(), self.engine.connect() as conn:
            yield conn

    def migrate(self) -> int:
        """Create or upgrade the schema (idempotent; safe from several processes)."""
        with self._tx() as conn:
            return migrate(conn, self._clock())

    def ping(self) -> bool:
        try:
            with self._read() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()

    def _insert(self, conn: sa.Connection, table: sa.Table) -> Any:
        if conn.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _insert_ignore(
        self, conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]
    ) -> bool:
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT built by SQLAlchemy.
        stmt = insert_ignore_stmt(conn.dialect.name, table, tuple(values))
        params = {f"v_{k}": v for k, v in values.items()}
        return conn.execute(stmt, params).first() is not None
