"""Threads (an issue or pull request): open or closed, and their live session."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bot.store.base import StoreBase
from bot.store.schema import sessions, threads


class ThreadsMixin(StoreBase):
    def _set_thread(
        self,
        conn: sa.Connection,
        thread_key: str,
        now: float,
        *,
        closed: bool | None = None,
        live_session_id: str | None = None,
    ) -> None:
        key = thread_key[:400]
        self._insert_ignore(
            conn,
            threads,
            {"thread_key": key, "closed": bool(closed), "updated_at": now},
        )
        values: dict[str, Any] = {"updated_at": now}
        if closed is not None:
            values["closed"] = closed
        if live_session_id is not None:
            values["live_session_id"] = live_session_id
        conn.execute(sa.update(threads).where(threads.c.thread_key == key).values(values))
        if closed is False:
            # Reopened: sessions that stopped being polled only because the thread was
            # closed (not exited, not failed) are followed again.
            conn.execute(
                sa.update(sessions)
                .where(
                    sessions.c.thread_key == key,
                    sessions.c.done.is_(True),
                    sessions.c.status.not_in(("exit", "error")),
                )
                .values(done=False, next_poll_at=now)
            )

    def thread(self, thread_key: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(threads).where(threads.c.thread_key == thread_key))
                .mappings()
                .first()
            )
            return dict(row) if row is not None else None

    def set_thread_closed(self, thread_key: str, closed: bool) -> None:
        with self._tx() as conn:
            self._set_thread(conn, thread_key, self._clock(), closed=closed)
