"""Sessions and threads: upserts, due-session claims under leases, fenced tick writes."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from bot.store.base import SESSIONS_C, no_thread_job_running
from bot.store.records import (
    ClaimedSession,
    Lease,
    SessionRecord,
    TickWrite,
)
from bot.store.schema import (
    sessions,
    threads,
)
from bot.store.threads import ThreadsMixin


class SessionsMixin(ThreadsMixin):
    def _upsert_session(self, conn: sa.Connection, rec: SessionRecord, now: float) -> None:
        values = {
            "thread_key": rec.thread_key,
            "repo": rec.repo,
            "number": rec.number,
            "installation_id": rec.installation_id,
            "track": rec.track,
            "status": rec.status,
            "status_detail": rec.status_detail,
            "state": rec.state,
            "done": False,
            "next_poll_at": rec.next_poll_at,
            "updated_at": now,
        }
        inserted = self._insert_ignore(
            conn,
            sessions,
            {
                "session_id": rec.session_id,
                "comment_id": rec.comment_id,
                "lease_version": 0,
                "created_at": now,
                **values,
            },
        )
        if not inserted:
            # The job's view wins: bump the fencing value so a tick that is still in
            # flight with the older state cannot overwrite it.
            update: dict[str, Any] = {
                **values,
                "lease_owner": None,
                "lease_until": None,
                "lease_version": sessions.c.lease_version + 1,
                "dispatched_until": None,
                "errors": 0,
                "last_error": None,
            }
            if rec.comment_id is not None:
                update["comment_id"] = rec.comment_id
            conn.execute(
                sa.update(sessions).where(sessions.c.session_id == rec.session_id).values(update)
            )
        if rec.thread_key:
            self._set_thread(conn, rec.thread_key, now, live_session_id=rec.session_id)

    def _due_sessions(
        self, now: float, *, all_live: bool
    ) -> tuple[sa.FromClause, sa.ColumnElement[bool]]:
        c = SESSIONS_C
        free = sa.or_(c.c.lease_until.is_(None), c.c.lease_until < now)
        due = sa.and_(c.c.done == sa.false(), free, no_thread_job_running(c))
        if not all_live:
            due = sa.and_(due, c.c.next_poll_at <= now)
        return c, due

    def claim_due_sessions(
        self, owner: str, lease_s: float, limit: int = 10, *, all_live: bool = False
    ) -> list[ClaimedSession]:
        """Lease sessions that are due (or, with `all_live`, every unleased live one)."""
        now = self._clock()
        if not all_live:  # the worker's hot path: one prepared statement
            params = {"c_now": now, "c_limit": max(1, limit)}
            return self._claim_sessions_where(None, owner, lease_s, now, params)
        c, due = self._due_sessions(now, all_live=all_live)
        ids = (
            sa.select(c.c.session_id)
            .where(due)
            .order_by(c.c.next_poll_at)
            .limit(max(1, limit))
            .with_for_update(skip_locked=True, of=c)
        )
        return self._claim_sessions_where(sessions.c.session_id.in_(ids), owner, lease_s, now)

    def claim_session(
        self, session_id: str, owner: str, lease_s: float, *, force: bool = False
    ) -> ClaimedSession | None:
        """Lease one given session if it is due (or, with `force`, live and unleased)."""
        now = self._clock()
        c, due = self._due_sessions(now, all_live=force)
        ids = (
            sa.select(c.c.session_id)
            .where(due, c.c.session_id == session_id)
            .with_for_update(skip_locked=True, of=c)
        )
        claimed = self._claim_sessions_where(sessions.c.session_id.in_(ids), owner, lease_s, now)
        return claimed[0] if claimed else None

    def _claim_sessions_where(
        self,
        where: sa.ColumnElement[bool] | None,
        owner: str,
        lease_s: float,
        now: float,
        params: dict[str, Any] | None = None,
    ) -> list[ClaimedSession]:
        """Lease the rows `where` selects (None: the prepared due-sessions claim)."""
        until = now + lease_s
        stmt = _claim_due_stmt() if where is None else _claim_sessions_stmt(where)
        values = {**(params or {}), "c_owner": owner, "c_until": until}
        with self._tx() as conn:
            rows = conn.execute(stmt, values).all()
            keys = sorted({r.thread_key for r in rows if r.thread_key})
            closed: set[str] = set()
            if keys:
                found = conn.execute(_closed_threads_stmt(), {"c_keys": keys}).scalars()
                closed = {str(k) for k in found}
        return [
            ClaimedSession(
                session_id=r.session_id,
                thread_key=r.thread_key,
                repo=r.repo,
                number=r.number,
                installation_id=r.installation_id,
                comment_id=r.comment_id,
                track=r.track,
                status=r.status,
                errors=int(r.errors),
                thread_closed=r.thread_key in closed,
                created_at=float(r.created_at),
                lease=Lease(owner, int(r.lease_version), until),
                next_poll_at=float(r.next_poll_at),
            )
            for r in sorted(rows, key=lambda r: float(r.next_poll_at))
        ]

    def _session_fence(self, claim: ClaimedSession) -> sa.ColumnElement[bool]:
        return sa.and_(
            sessions.c.session_id == claim.session_id,
            sessions.c.lease_version == claim.lease.version,
            sessions.c.lease_owner == claim.lease.owner,
        )

    def renew_session(self, claim: ClaimedSession, lease_s: float) -> bool:
        with self._tx() as conn:
            result = conn.execute(
                sa.update(sessions)
                .where(self._session_fence(claim))
                .values(lease_until=self._clock() + lease_s)
            )
            return result.rowcount == 1

    def finish_tick(self, claim: ClaimedSession, write: TickWrite) -> bool:
        """Store a tick's result and release the lease; False when the lease was lost."""
        now = self._clock()
        params = {
            "f_id": claim.session_id,
            "f_version": claim.lease.version,
            "f_owner": claim.lease.owner,
            "w_track": write.track,
            "w_status": write.status,
            "w_detail": write.status_detail,
            "w_state": write.state,
            "w_next": write.next_poll_at,
            "f_next": claim.next_poll_at,
            "w_done": write.done,
            "w_now": now,
            "w_comment": write.comment_id,
        }
        with self._tx() as conn:
            result = conn.execute(_finish_tick_stmt(write.comment_id is not None), params)
            if result.rowcount != 1:
                return False
            if write.done and claim.thread_key:
                conn.execute(
                    sa.update(threads)
                    .where(
                        threads.c.thread_key == claim.thread_key,
                        threads.c.live_session_id == claim.session_id,
                    )
                    .values(live_session_id=None, updated_at=now)
                )
            return True

    def release_session(
        self, claim: ClaimedSession, *, next_poll_at: float, error: str | None = None
    ) -> bool:
        """Give a session back untouched (rate limit, outage) to be polled at `next_poll_at`."""
        values: dict[str, Any] = {
            "next_poll_at": next_poll_at,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": self._clock(),
        }
        if error is not None:
            values["errors"] = sessions.c.errors + 1
            values["last_error"] = error[:2000]
        with self._tx() as conn:
            result = conn.execute(
                sa.update(sessions).where(self._session_fence(claim)).values(values)
            )
            return result.rowcount == 1

    def claim_sessions(
        self, session_ids: list[str], owner: str, lease_s: float
    ) -> list[ClaimedSession]:
        """Lease the given live sessions that nobody holds, due or not (the change feed
        saw them change, so they are ticked now)."""
        if not session_ids:
            return []
        now = self._clock()
        c, due = self._due_sessions(now, all_live=True)
        ids = (
            sa.select(c.c.session_id)
            .where(due, c.c.session_id.in_(session_ids))
            .with_for_update(skip_locked=True, of=c)
        )
        return self._claim_sessions_where(sessions.c.session_id.in_(ids), owner, lease_s, now)

    def poll_session_by(self, session_id: str, deadline: float) -> None:
        """Make a live session due by `deadline` at the latest."""
        with self._tx() as conn:
            conn.execute(
                sa.update(sessions)
                .where(
                    sessions.c.session_id == session_id,
                    sessions.c.done == sa.false(),
                    sessions.c.next_poll_at > deadline,
                )
                .values(next_poll_at=deadline)
            )

    def poll_live_by(self, deadline: float) -> int:
        """Bring every live session's next poll forward to `deadline` at the latest (the
        change feed stopped working: the sessions' own schedules take over at once)."""
        with self._tx() as conn:
            result = conn.execute(
                sa.update(sessions)
                .where(sessions.c.done == sa.false(), sessions.c.next_poll_at > deadline)
                .values(next_poll_at=deadline)
            )
            return int(result.rowcount or 0)

    def poll_now(self, session_id: str) -> bool:
        """Make a live session due at once (e.g. `/devin status`)."""
        with self._tx() as conn:
            result = conn.execute(
                sa.update(sessions)
                .where(sessions.c.session_id == session_id, sessions.c.done == sa.false())
                .values(next_poll_at=self._clock())
            )
            return result.rowcount == 1

    def session(self, session_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(sessions).where(sessions.c.session_id == session_id))
                .mappings()
                .first()
            )
            return dict(row) if row is not None else None

    def live_count(self) -> int:
        with self._read() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(sessions)
                .where(sessions.c.done == sa.false())
            ).scalar()
        return int(count or 0)

    def live_session_ids(self) -> list[str]:
        with self._read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    sa.select(sessions.c.session_id)
                    .where(sessions.c.done == sa.false())
                    .order_by(sessions.c.next_poll_at)
                )
            ]


# --- prepared statements of the poll loop's hot path ---------------------------------------
# Built once: constructing and cache-keying a statement costs more than running it on
# SQLite. Parameters are bound by name at execution; the fence stays in every WHERE.

_CLAIM_RETURNING = (
    sessions.c.session_id,
    sessions.c.thread_key,
    sessions.c.repo,
    sessions.c.number,
    sessions.c.installation_id,
    sessions.c.comment_id,
    sessions.c.track,
    sessions.c.status,
    sessions.c.errors,
    sessions.c.created_at,
    sessions.c.lease_version,
    sessions.c.next_poll_at,
)


def _claim_sessions_stmt(where: sa.ColumnElement[bool]) -> sa.UpdateBase:
    return (
        sa.update(sessions)
        .where(where)
        .values(
            lease_owner=sa.bindparam("c_owner"),
            lease_until=sa.bindparam("c_until"),
            lease_version=sessions.c.lease_version + 1,
            dispatched_until=None,
        )
        .returning(*_CLAIM_RETURNING)
    )


@functools.cache
def _claim_due_stmt() -> sa.UpdateBase:
    c = SESSIONS_C
    now = sa.bindparam("c_now", type_=sa.Float)
    ids = (
        sa.select(c.c.session_id)
        .where(
            c.c.done == sa.false(),
            sa.or_(c.c.lease_until.is_(None), c.c.lease_until < now),
            c.c.next_poll_at <= now,
            no_thread_job_running(c),
        )
        .order_by(c.c.next_poll_at)
        .limit(sa.bindparam("c_limit", type_=sa.Integer))
        .with_for_update(skip_locked=True, of=c)
    )
    return _claim_sessions_stmt(sessions.c.session_id.in_(ids))


@functools.cache
def _closed_threads_stmt() -> sa.Select[tuple[str]]:
    return sa.select(threads.c.thread_key).where(
        threads.c.thread_key.in_(sa.bindparam("c_keys", expanding=True)),
        threads.c.closed == sa.true(),
    )


@functools.cache
def _finish_tick_stmt(with_comment: bool) -> sa.Update:
    s = sessions
    values: dict[str, Any] = {
        "track": sa.bindparam("w_track"),
        "status": sa.bindparam("w_status"),
        "status_detail": sa.bindparam("w_detail"),
        "state": sa.bindparam("w_state"),
        # A poll requested during the tick (the row's time moved since the claim) stands
        # when it is sooner than the tick's own schedule.
        "next_poll_at": sa.case(
            (
                sa.and_(
                    sa.bindparam("f_next", type_=sa.Float).is_not(None),
                    s.c.next_poll_at != sa.bindparam("f_next", type_=sa.Float),
                    s.c.next_poll_at < sa.bindparam("w_next", type_=sa.Float),
                ),
                s.c.next_poll_at,
            ),
            else_=sa.bindparam("w_next", type_=sa.Float),
        ),
        "done": sa.bindparam("w_done"),
        "lease_owner": None,
        "lease_until": None,
        "ticks": s.c.ticks + 1,
        "errors": 0,
        "last_error": None,
        "updated_at": sa.bindparam("w_now"),
        "last_tick_at": sa.bindparam("w_now"),
    }
    if with_comment:
        values["comment_id"] = sa.bindparam("w_comment")
    fence = sa.and_(
        s.c.session_id == sa.bindparam("f_id"),
        s.c.lease_version == sa.bindparam("f_version"),
        s.c.lease_owner == sa.bindparam("f_owner"),
    )
    return sa.update(s).where(fence).values(values)
