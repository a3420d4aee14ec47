"""What the RQ dispatcher hands out: claimable jobs and due sessions marked for dispatch."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.base import JOBS_C, JOBS_K, UNFINISHED
from bot.store.jobs import JobsMixin
from bot.store.schema import (
    jobs,
    sessions,
)


class DispatchMixin(JobsMixin):
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

    def next_dispatch_at(self) -> float | None:
        """When the dispatcher next has something to hand out, as far as time alone
        decides (None: nothing waits): like `next_wakeup`, without what is in RQ."""
        now = self._clock()
        c = JOBS_C
        older_unfinished = _older_unfinished_job()
        free = sa.or_(sessions.c.lease_until.is_(None), sessions.c.lease_until < now)
        with self._read() as conn:
            job_at = conn.execute(
                sa.select(sa.func.min(_later(c.c.dispatched_until, c.c.run_after))).where(
                    c.c.state == "queued", ~older_unfinished
                )
            ).scalar()
            session_at = conn.execute(
                sa.select(
                    sa.func.min(_later(sessions.c.dispatched_until, sessions.c.next_poll_at))
                ).where(sessions.c.done == sa.false(), free)
            ).scalar()
        times = [float(t) for t in (job_at, session_at) if t is not None]
        return min(times) if times else None

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

    def clear_all_dispatch(self) -> None:
        """The queue lost its messages (Redis flushed or restarted empty): let the
        dispatcher send every unfinished job and live session again right away."""
        with self._tx() as conn:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.state.in_(UNFINISHED), jobs.c.dispatched_until.is_not(None))
                .values(dispatched_until=None)
            )
            conn.execute(
                sa.update(sessions)
                .where(sessions.c.done == sa.false(), sessions.c.dispatched_until.is_not(None))
                .values(dispatched_until=None)
            )

    def next_wakeup(self) -> float | None:
        """When the next job or session becomes claimable, as far as time alone decides
        (None: nothing waits). Leased sessions and jobs queued behind their thread are
        left out: they free up through a lease expiry or another job's end."""
        now = self._clock()
        c = JOBS_C
        older_unfinished = _older_unfinished_job()
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


def _later(mark: sa.ColumnElement[float], due: sa.ColumnElement[float]) -> sa.ColumnElement[float]:
    """The due time, or the dispatch mark when that ends later (still in RQ)."""
    return sa.case((mark > due, mark), else_=due)


def _older_unfinished_job() -> sa.Exists:
    """An earlier job of the same thread is still queued or running (JOBS_C's thread
    runs its jobs in order)."""
    c, k = JOBS_C, JOBS_K
    return (
        sa.select(k.c.id)
        .where(k.c.thread_key == c.c.thread_key, k.c.id < c.c.id, k.c.state.in_(UNFINISHED))
        .exists()
    )
