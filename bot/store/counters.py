"""Metric counters shared across processes, state counts for /metrics, pruning."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from bot.store.base import StoreBase
from bot.store.schema import (
    counters,
    deliveries,
    jobs,
    sessions,
)


class CountersMixin(StoreBase):
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


def canonical_labels(labels: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    items = labels.items() if isinstance(labels, Mapping) else labels
    return json.dumps(dict(sorted((str(k), str(v)) for k, v in items)), separators=(",", ":"))
