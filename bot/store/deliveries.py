"""Intake: one transaction records a trigger's delivery and its job (de-duplicated by hook
and GUID); a close or reopen is written only when it changes a thread the store knows."""

from __future__ import annotations

import functools

import sqlalchemy as sa

from bot.store.base import UNFINISHED
from bot.store.jobs import JobsMixin
from bot.store.records import (
    Accepted,
    NewJob,
)
from bot.store.schema import (
    deliveries,
    jobs,
    threads,
)


class _SeenBefore(Exception):
    """Rolls back a job inserted for a delivery that turned out to be known."""


class DeliveriesMixin(JobsMixin):
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
        row = {
            "hook_id": hook_id[:64],
            "delivery_id": delivery_id[:200],
            "event": event[:64],
            "action": action[:64],
            "outcome": outcome,
            "reason": reason[:500] or None,
            "received_at": now,
        }
        try:
            with self._tx() as conn:
                # The job first, so the delivery row is written once, with its outcome
                # (two statements, not three: this is the webhook's only write).
                job_id = None
                if job is not None:
                    job_id = self._insert_job(conn, job, delivery_id, now, dispatch_ttl)
                    row["outcome"] = "queued" if job_id is not None else "duplicate"
                    row["job_id"] = job_id
                if not self._insert_ignore(conn, deliveries, row):
                    if job_id is not None:  # a known GUID whose job was gone: undo it
                        raise _SeenBefore
                    return Accepted("seen")
                if thread_closed is not None:
                    self._set_thread(conn, thread_closed[0], now, closed=thread_closed[1])
                if job is None:
                    return Accepted("recorded")
                return Accepted(str(row["outcome"]), job_id)
        except _SeenBefore:
            return Accepted("seen")

    def change_thread_state(self, thread_key: str, closed: bool) -> bool:
        """An issue or pull request was closed (or merged) or reopened: True when that
        changed what the store knows (a redelivery, or a thread it never saw, changes
        nothing). A thread with a trigger job still waiting is remembered as closed, so
        the session that job starts is not followed past its settling."""
        now = self._clock()
        with self._tx() as conn:
            flipped = conn.execute(
                _thread_state_stmt(), {"t_key": thread_key[:400], "t_closed": closed, "t_now": now}
            ).first()
            if flipped is not None:
                if not closed:
                    self._set_thread(conn, thread_key, now, closed=False)  # resumes polling
                return True
            if (
                not closed
                or conn.execute(_waiting_job_stmt(), {"t_key": thread_key}).first() is None
            ):
                return False
            return self._insert_ignore(
                conn, threads, {"thread_key": thread_key[:400], "closed": True, "updated_at": now}
            )


@functools.cache
def _thread_state_stmt() -> sa.UpdateBase:
    return (
        sa.update(threads)
        .where(
            threads.c.thread_key == sa.bindparam("t_key"),
            threads.c.closed != sa.bindparam("t_closed", type_=sa.Boolean),
        )
        .values(closed=sa.bindparam("t_closed", type_=sa.Boolean), updated_at=sa.bindparam("t_now"))
        .returning(threads.c.thread_key)
    )


@functools.cache
def _waiting_job_stmt() -> sa.Select[tuple[int]]:
    return (
        sa.select(jobs.c.id)
        .where(jobs.c.thread_key == sa.bindparam("t_key"), jobs.c.state.in_(UNFINISHED))
        .limit(1)
    )
