"""The service's durable state: deliveries seen, trigger jobs, sessions, leases, counters.

SQLAlchemy Core on SQLite (the embedded default, WAL mode, every transaction `BEGIN
IMMEDIATE` so concurrent processes queue on `busy_timeout` instead of failing) or
Postgres (`FOR UPDATE SKIP LOCKED` claims). Every transaction is short and does no
network I/O. Claims hand out leases; each claim increments `lease_version` and every
later write is conditional on it (fencing), so a worker that lost its lease while
paused can never overwrite its successor's work.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.store_engine import (
    StoreError,
    checkpointer,
    make_engine,
    normalise_url,
    safe_url,
    tx_gate,
)
from bot.store_records import (
    Accepted,
    ClaimedJob,
    ClaimedSession,
    Lease,
    NewJob,
    SessionRecord,
    TickWrite,
)
from bot.store_schema import (
    counters,
    deliveries,
    jobs,
    leaders,
    meta,
    migrate,
    sessions,
    threads,
)

__all__ = [
    "Accepted",
    "ClaimedJob",
    "ClaimedSession",
    "Lease",
    "NewJob",
    "SessionRecord",
    "Store",
    "StoreError",
    "TickWrite",
    "canonical_labels",
    "make_engine",
    "normalise_url",
    "safe_url",
]

UNFINISHED = ("queued", "running")
# Aliases for the claim subqueries, built once: aliasing a table copies its columns.
_JOBS_C = jobs.alias("c")
_JOBS_K = jobs.alias("k")
_SESSIONS_C = sessions.alias("c")
_THREAD_JOBS = jobs.alias("tj")


def _no_thread_job_running(c: sa.FromClause) -> sa.ColumnElement[bool]:
    """A thread's trigger job (a follow-up, a stop) and a poll of its session never run
    at once: both write the same status comment."""
    j = _THREAD_JOBS
    return ~(
        sa.select(j.c.id)
        .where(j.c.thread_key == c.c.thread_key, j.c.state.in_(UNFINISHED))
        .exists()
    )


class Store:
    """All reads and writes of the service state."""

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

    # --- intake -------------------------------------------------------------------------

    def accept_delivery(
        self,
        *,
        hook_id: str,
        delivery_id: str,
        event: str,
        action: str,
        outcome: str,
        reason: str = "",
        job: NewJob | None = None,
        thread_closed: tuple[str, bool] | None = None,
        dispatch_ttl: float | None = None,
    ) -> Accepted:
        """Record a delivery and, in the same transaction, its job (if any).

        A known (hook, GUID) pair changes nothing. A job whose dedupe key exists already
        (the same comment redelivered under a new GUID) is not inserted again.
        """
        now = self._clock()
        with self._tx() as conn:
            fresh = self._insert_ignore(
                conn,
                deliveries,
                {
                    "hook_id": hook_id[:64],
                    "delivery_id": delivery_id[:200],
                    "event": event[:64],
                    "action": action[:64],
                    "outcome": outcome,
                    "reason": reason[:500] or None,
                    "received_at": now,
                },
            )
            if not fresh:
                return Accepted("seen")
            if thread_closed is not None:
                self._set_thread(conn, thread_closed[0], now, closed=thread_closed[1])
            if job is None:
                return Accepted("recorded")
            job_id = self._insert_job(conn, job, delivery_id, now, dispatch_ttl)
            result = "queued" if job_id is not None else "duplicate"
            conn.execute(
                _delivery_outcome_stmt(),
                {
                    "d_hook": hook_id[:64],
                    "d_id": delivery_id[:200],
                    "d_outcome": result,
                    "d_job": job_id,
                },
            )
            return Accepted(result, job_id)

    def _insert_job(
        self,
        conn: sa.Connection,
        job: NewJob,
        delivery_id: str | None,
        now: float,
        dispatch_ttl: float | None,
    ) -> int | None:
        values = {
            "dedupe_key": job.dedupe_key[:400],
            "kind": job.kind,
            "thread_key": job.thread_key[:400],
            "payload": job.payload,
            "delivery_id": delivery_id,
            "state": "queued",
            "attempts": 0,
            "run_after": now,
            "lease_version": 0,
            "dispatched_until": now + dispatch_ttl if dispatch_ttl else None,
            "created_at": now,
            "updated_at": now,
        }
        stmt = _insert_ignore_stmt(conn.dialect.name, jobs, tuple(values), "dedupe_key")
        row = conn.execute(stmt, {f"v_{k}": v for k, v in values.items()}).first()
        return int(row[0]) if row is not None else None

    def enqueue_job(self, job: NewJob, *, dispatch_ttl: float | None = None) -> int | None:
        """A job not tied to a delivery (tests, tools); None when the dedupe key exists."""
        with self._tx() as conn:
            return self._insert_job(conn, job, None, self._clock(), dispatch_ttl)

    def set_thread_closed(self, thread_key: str, closed: bool) -> None:
        with self._tx() as conn:
            self._set_thread(conn, thread_key, self._clock(), closed=closed)

    # --- jobs ---------------------------------------------------------------------------

    def _claimable_jobs(self, now: float) -> tuple[sa.FromClause, sa.ColumnElement[bool]]:
        c, k = _JOBS_C, _JOBS_K
        older_unfinished = (
            sa.select(k.c.id)
            .where(k.c.thread_key == c.c.thread_key, k.c.id < c.c.id, k.c.state.in_(UNFINISHED))
            .exists()
        )
        claimable = sa.and_(
            sa.or_(
                c.c.state == "queued",
                sa.and_(c.c.state == "running", c.c.lease_until < now),
            ),
            c.c.run_after <= now,
            ~older_unfinished,
        )
        return c, claimable

    def claim_jobs(self, owner: str, lease_s: float, limit: int = 1) -> list[ClaimedJob]:
        """Claim runnable jobs: per thread only the oldest unfinished one, never two."""
        now = self._clock()
        c, claimable = self._claimable_jobs(now)
        ids = (
            sa.select(c.c.id)
            .where(claimable)
            .order_by(c.c.id)
            .limit(max(1, limit))
            .with_for_update(skip_locked=True, of=c)
        )
        return self._claim_jobs_where(jobs.c.id.in_(ids), owner, lease_s, now)

    def claim_job(self, job_id: int, owner: str, lease_s: float) -> ClaimedJob | None:
        """Claim one given job if it is runnable now (RQ messages name their job)."""
        now = self._clock()
        c, claimable = self._claimable_jobs(now)
        ids = (
            sa.select(c.c.id)
            .where(claimable, c.c.id == job_id)
            .with_for_update(skip_locked=True, of=c)
        )
        claimed = self._claim_jobs_where(jobs.c.id.in_(ids), owner, lease_s, now)
        return claimed[0] if claimed else None

    def _claim_jobs_where(
        self, where: sa.ColumnElement[bool], owner: str, lease_s: float, now: float
    ) -> list[ClaimedJob]:
        until = now + lease_s
        stmt = (
            sa.update(jobs)
            .where(where)
            .values(
                state="running",
                lease_owner=owner,
                lease_until=until,
                lease_version=jobs.c.lease_version + 1,
                attempts=jobs.c.attempts + 1,
                dispatched_until=None,
                updated_at=now,
            )
            .returning(
                jobs.c.id,
                jobs.c.dedupe_key,
                jobs.c.kind,
                jobs.c.thread_key,
                jobs.c.payload,
                jobs.c.delivery_id,
                jobs.c.attempts,
                jobs.c.lease_version,
            )
        )
        with self._tx() as conn:
            rows = conn.execute(stmt).all()
        claimed = [
            ClaimedJob(
                id=int(r.id),
                dedupe_key=r.dedupe_key,
                kind=r.kind,
                thread_key=r.thread_key,
                payload=r.payload,
                delivery_id=r.delivery_id,
                attempts=int(r.attempts),
                lease=Lease(owner, int(r.lease_version), until),
            )
            for r in rows
        ]
        return sorted(claimed, key=lambda j: j.id)

    def _job_fence(self, claim: ClaimedJob) -> sa.ColumnElement[bool]:
        return sa.and_(
            jobs.c.id == claim.id,
            jobs.c.lease_version == claim.lease.version,
            jobs.c.lease_owner == claim.lease.owner,
            jobs.c.state == "running",
        )

    def renew_job(self, claim: ClaimedJob, lease_s: float) -> bool:
        with self._tx() as conn:
            result = conn.execute(
                sa.update(jobs)
                .where(self._job_fence(claim))
                .values(lease_until=self._clock() + lease_s)
            )
            return result.rowcount == 1

    def finish_job(
        self,
        claim: ClaimedJob,
        *,
        result: str,
        session: SessionRecord | None = None,
        error: str | None = None,
    ) -> bool:
        """Complete a job and store the session it started or touched (one transaction).

        False (and nothing written) when the lease was lost to another worker.
        """
        now = self._clock()
        with self._tx() as conn:
            done = conn.execute(
                sa.update(jobs)
                .where(self._job_fence(claim))
                .values(
                    state="done",
                    result=result[:32],
                    session_id=session.session_id if session else None,
                    last_error=error,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
            if done.rowcount != 1:
                return False  # nothing was written
            if session is not None:
                self._upsert_session(conn, session, now)
            return True

    def retry_job(self, claim: ClaimedJob, *, run_after: float, error: str) -> bool:
        """Put a job back in the queue (rate limit, outage); it keeps its place in its thread."""
        with self._tx() as conn:
            result = conn.execute(
                sa.update(jobs)
                .where(self._job_fence(claim))
                .values(
                    state="queued",
                    run_after=run_after,
                    last_error=error[:2000],
                    lease_owner=None,
                    lease_until=None,
                    updated_at=self._clock(),
                )
            )
            return result.rowcount == 1

    def fail_job(self, claim: ClaimedJob, *, error: str) -> bool:
        with self._tx() as conn:
            result = conn.execute(
                sa.update(jobs)
                .where(self._job_fence(claim))
                .values(
                    state="failed",
                    result="failed",
                    last_error=error[:2000],
                    lease_owner=None,
                    lease_until=None,
                    updated_at=self._clock(),
                )
            )
            return result.rowcount == 1

    def job(self, job_id: int) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
            return dict(row) if row is not None else None

    # --- sessions -----------------------------------------------------------------------

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
        c = _SESSIONS_C
        free = sa.or_(c.c.lease_until.is_(None), c.c.lease_until < now)
        due = sa.and_(c.c.done == sa.false(), free, _no_thread_job_running(c))
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

    # --- threads ------------------------------------------------------------------------

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

    # --- dispatch (RQ mode) ---------------------------------------------------------------

    def mark_for_dispatch(self, ttl: float, limit: int = 100) -> tuple[list[int], list[str]]:
        """Runnable jobs and due sessions not handed to RQ within `ttl` seconds.

        RQ only carries "process job <id>" / "tick session <id>": a lost or duplicated
        message costs a short delay or a no-op claim, never a second tick at once.
        """
        now = self._clock()
        c, claimable = self._claimable_jobs(now)
        not_sent_c = sa.or_(c.c.dispatched_until.is_(None), c.c.dispatched_until < now)
        job_ids = (
            sa.select(c.c.id)
            .where(claimable, not_sent_c)
            .order_by(c.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=c)
        )
        d, due = self._due_sessions(now, all_live=False)
        not_sent_d = sa.or_(d.c.dispatched_until.is_(None), d.c.dispatched_until < now)
        session_ids = (
            sa.select(d.c.session_id)
            .where(due, not_sent_d)
            .order_by(d.c.next_poll_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=d)
        )
        with self._tx() as conn:
            marked_jobs = conn.execute(
                sa.update(jobs)
                .where(jobs.c.id.in_(job_ids))
                .values(dispatched_until=now + ttl)
                .returning(jobs.c.id)
            ).all()
            marked_sessions = conn.execute(
                sa.update(sessions)
                .where(sessions.c.session_id.in_(session_ids))
                .values(dispatched_until=now + ttl)
                .returning(sessions.c.session_id)
            ).all()
        return sorted(int(r[0]) for r in marked_jobs), [r[0] for r in marked_sessions]

    def clear_dispatch(self, *, job_id: int | None = None, session_id: str | None = None) -> None:
        """A message found its row not runnable yet: let the dispatcher send it again
        as soon as it is (instead of after the dispatch window)."""
        with self._tx() as conn:
            if job_id is not None:
                conn.execute(
                    sa.update(jobs).where(jobs.c.id == job_id).values(dispatched_until=None)
                )
            if session_id is not None:
                conn.execute(
                    sa.update(sessions)
                    .where(sessions.c.session_id == session_id)
                    .values(dispatched_until=None)
                )

    def next_wakeup(self) -> float | None:
        """When the next job or session becomes claimable, as far as time alone decides
        (None: nothing waits). Leased sessions and jobs queued behind their thread are
        left out: they free up through a lease expiry or another job's end."""
        now = self._clock()
        c, k = _JOBS_C, _JOBS_K
        older_unfinished = (
            sa.select(k.c.id)
            .where(k.c.thread_key == c.c.thread_key, k.c.id < c.c.id, k.c.state.in_(UNFINISHED))
            .exists()
        )
        free = sa.or_(sessions.c.lease_until.is_(None), sessions.c.lease_until < now)
        with self._read() as conn:
            job_at = conn.execute(
                sa.select(sa.func.min(c.c.run_after)).where(
                    c.c.state == "queued", ~older_unfinished
                )
            ).scalar()
            session_at = conn.execute(
                sa.select(sa.func.min(sessions.c.next_poll_at)).where(
                    sessions.c.done == sa.false(), free
                )
            ).scalar()
        times = [float(t) for t in (job_at, session_at) if t is not None]
        return min(times) if times else None

    # --- leadership -----------------------------------------------------------------------

    def acquire_leader(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the named leader lease; True while `owner` holds it."""
        now = self._clock()
        with self._tx() as conn:
            if self._insert_ignore(
                conn,
                leaders,
                {"name": name, "owner": owner, "lease_until": now + ttl, "version": 1},
            ):
                return True
            result = conn.execute(
                sa.update(leaders)
                .where(
                    leaders.c.name == name,
                    sa.or_(leaders.c.owner == owner, leaders.c.lease_until < now),
                )
                .values(
                    owner=owner,
                    lease_until=now + ttl,
                    version=sa.case(
                        (leaders.c.owner == owner, leaders.c.version),
                        else_=leaders.c.version + 1,
                    ),
                )
            )
            return result.rowcount == 1

    def release_leader(self, name: str, owner: str) -> None:
        with self._tx() as conn:
            conn.execute(
                sa.update(leaders)
                .where(leaders.c.name == name, leaders.c.owner == owner)
                .values(lease_until=0.0)
            )

    def leader(self, name: str) -> tuple[str, float] | None:
        """(owner, lease_until) of the named lease, if it was ever taken."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(leaders.c.owner, leaders.c.lease_until).where(leaders.c.name == name)
            ).first()
        return (row[0], float(row[1])) if row is not None else None

    # --- small key/value facts (e.g. the bot's login) -------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._read() as conn:
            value = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
        return str(value) if value is not None else None

    def set_meta(self, key: str, value: str) -> None:
        now = self._clock()
        with self._tx() as conn:
            if not self._insert_ignore(conn, meta, {"key": key, "value": value, "updated_at": now}):
                conn.execute(
                    sa.update(meta).where(meta.c.key == key).values(value=value, updated_at=now)
                )

    # --- metrics --------------------------------------------------------------------------

    def add_counters(self, deltas: Mapping[tuple[str, str], float]) -> None:
        """Add to shared counters; keys are (metric name, canonical label JSON)."""
        if not deltas:
            return
        with self._tx() as conn:
            for (name, labels), delta in sorted(deltas.items()):
                stmt = self._insert(conn, counters).values(name=name, labels=labels, value=delta)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["name", "labels"],
                        set_={"value": counters.c.value + stmt.excluded.value},
                    )
                )

    def counters(self) -> list[tuple[str, dict[str, str], float]]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(counters.c.name, counters.c.labels, counters.c.value).order_by(
                    counters.c.name, counters.c.labels
                )
            ).all()
        return [(r[0], json.loads(r[1]), float(r[2])) for r in rows]

    def counts(self) -> dict[str, Any]:
        """A snapshot for /metrics, /healthz and benchmarks."""
        now = self._clock()
        with self._read() as conn:
            job_states: dict[Any, Any] = dict(
                conn.execute(sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state)).all()
            )
            live_states: dict[Any, Any] = dict(
                conn.execute(
                    sa.select(sessions.c.state, sa.func.count())
                    .where(sessions.c.done == sa.false())
                    .group_by(sessions.c.state)
                ).all()
            )
            done_sessions = conn.execute(
                sa.select(sa.func.count()).where(sessions.c.done == sa.true())
            ).scalar()
            outcomes: dict[Any, Any] = dict(
                conn.execute(
                    sa.select(deliveries.c.outcome, sa.func.count()).group_by(deliveries.c.outcome)
                ).all()
            )
            oldest_due = conn.execute(
                sa.select(sa.func.min(sessions.c.next_poll_at)).where(
                    sessions.c.done == sa.false(), sessions.c.next_poll_at <= now
                )
            ).scalar()
            oldest_job = conn.execute(
                sa.select(sa.func.min(jobs.c.run_after)).where(
                    jobs.c.state == "queued", jobs.c.run_after <= now
                )
            ).scalar()
            leased = conn.execute(
                sa.select(sa.func.count()).where(
                    sessions.c.done == sa.false(), sessions.c.lease_until >= now
                )
            ).scalar()
        return {
            "jobs": {str(k): int(v) for k, v in job_states.items()},
            "sessions_live": {str(k): int(v) for k, v in live_states.items()},
            "sessions_done": int(done_sessions or 0),
            "sessions_leased": int(leased or 0),
            "deliveries": {str(k): int(v) for k, v in outcomes.items()},
            "poll_lag_seconds": max(0.0, now - float(oldest_due)) if oldest_due else 0.0,
            "job_lag_seconds": max(0.0, now - float(oldest_job)) if oldest_job else 0.0,
        }

    # --- housekeeping ---------------------------------------------------------------------

    def prune(self, *, older_than: float) -> int:
        """Forget deliveries and finished jobs older than `older_than` (epoch seconds)."""
        with self._tx() as conn:
            gone = conn.execute(
                sa.delete(deliveries).where(deliveries.c.received_at < older_than)
            ).rowcount
            gone += conn.execute(
                sa.delete(jobs).where(
                    jobs.c.state.in_(("done", "failed")), jobs.c.updated_at < older_than
                )
            ).rowcount
        return int(gone)

    # --- dialect helpers ------------------------------------------------------------------

    def _insert(self, conn: sa.Connection, table: sa.Table) -> Any:
        if conn.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _insert_ignore(
        self, conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]
    ) -> bool:
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT built by SQLAlchemy.
        stmt = _insert_ignore_stmt(conn.dialect.name, table, tuple(values))
        params = {f"v_{k}": v for k, v in values.items()}
        return conn.execute(stmt, params).first() is not None


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
    c = _SESSIONS_C
    now = sa.bindparam("c_now", type_=sa.Float)
    ids = (
        sa.select(c.c.session_id)
        .where(
            c.c.done == sa.false(),
            sa.or_(c.c.lease_until.is_(None), c.c.lease_until < now),
            c.c.next_poll_at <= now,
            _no_thread_job_running(c),
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
        "next_poll_at": sa.bindparam("w_next"),
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


@functools.cache
def _insert_ignore_stmt(
    dialect: str, table: sa.Table, keys: tuple[str, ...], conflict: str | None = None
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING <key>, values bound as `v_<column>`."""
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = insert.values({k: sa.bindparam(f"v_{k}") for k in keys})
    if conflict is None:
        return stmt.on_conflict_do_nothing().returning(next(iter(table.primary_key.columns)))
    return stmt.on_conflict_do_nothing(index_elements=[conflict]).returning(table.c.id)


@functools.cache
def _delivery_outcome_stmt() -> sa.Update:
    return (
        sa.update(deliveries)
        .where(
            deliveries.c.hook_id == sa.bindparam("d_hook"),
            deliveries.c.delivery_id == sa.bindparam("d_id"),
        )
        .values(outcome=sa.bindparam("d_outcome"), job_id=sa.bindparam("d_job"))
    )


def canonical_labels(labels: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    items = labels.items() if isinstance(labels, Mapping) else labels
    return json.dumps(dict(sorted((str(k), str(v)) for k, v in items)), separators=(",", ":"))
