"""Intake: one transaction records a delivery and its job (de-duplicated by hook and GUID)."""

from __future__ import annotations

import functools

import sqlalchemy as sa

from bot.store.jobs import JobsMixin
from bot.store.records import (
    Accepted,
    NewJob,
)
from bot.store.schema import (
    deliveries,
)


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
