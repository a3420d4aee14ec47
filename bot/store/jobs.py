"""Trigger jobs: enqueue, claim under a lease (one per thread at a time), finish, retry, fail."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bot.store.base import JOBS_C, JOBS_K, UNFINISHED, insert_ignore_stmt
from bot.store.records import (
    ClaimedJob,
    Lease,
    NewJob,
    SessionRecord,
)
from bot.store.schema import (
    jobs,
)
from bot.store.sessions import SessionsMixin


class JobsMixin(SessionsMixin):
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
        stmt = insert_ignore_stmt(conn.dialect.name, jobs, tuple(values), "dedupe_key")
        row = conn.execute(stmt, {f"v_{k}": v for k, v in values.items()}).first()
        return int(row[0]) if row is not None else None

    def enqueue_job(self, job: NewJob, *, dispatch_ttl: float | None = None) -> int | None:
        """A job not tied to a delivery (tests, tools); None when the dedupe key exists."""
        with self._tx() as conn:
            return self._insert_job(conn, job, None, self._clock(), dispatch_ttl)

    def _claimable_jobs(self, now: float) -> tuple[sa.FromClause, sa.ColumnElement[bool]]:
        c, k = JOBS_C, JOBS_K
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
