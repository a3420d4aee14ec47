"""The GitHub write budget shared through the store (SQLite or Postgres).

Each decision is one short transaction: lock the identity's row (`FOR UPDATE` on
Postgres; SQLite transactions are `BEGIN IMMEDIATE`, one at a time), read its slots of
the last hour, apply `bot.core.write_budget.decide`, record the granted slot and prune
what left the longest window. With REDIS_URL set the service uses the Redis budget
instead (bot/service/redis_budget.py), which costs no database write per GitHub write.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from bot.core.write_budget import BudgetLimits, Decision, Priority, decide
from bot.github.budget import LocalPauses
from bot.store.base import StoreBase
from bot.store.schema import github_identities, github_writes

log = logging.getLogger("devin_bridge.budget")
UNREACHABLE_RETRY_S = 5.0


class StoreWriteBudget:
    """`WriteBudget` over the store's `github_identities` and `github_writes` tables."""

    def __init__(self, store: StoreBase, limits: BudgetLimits) -> None:
        self.limits = limits
        self._store = store
        self._pauses = LocalPauses(store.now)

    def __repr__(self) -> str:
        return f"StoreWriteBudget({self._store.url!r}, {self.limits!r})"

    def acquire(self, identity: str, priority: Priority, *, max_wait: float) -> Decision:
        try:
            return self._acquire(identity, priority, max_wait)
        except sa.exc.SQLAlchemyError as err:  # write nothing rather than too much
            log.warning("the GitHub write budget is unreachable (%s)", type(err).__name__)
            return Decision(False, UNREACHABLE_RETRY_S)

    def _acquire(self, identity: str, priority: Priority, max_wait: float) -> Decision:
        store = self._store
        with store._tx() as conn:
            now = store.now()
            row = self._lock_identity(conn, identity)
            horizon = now - self.limits.windows[1]
            conn.execute(
                sa.delete(github_writes).where(
                    github_writes.c.identity == identity, github_writes.c.slot <= horizon
                )
            )
            slots = [
                float(r[0])
                for r in conn.execute(
                    sa.select(github_writes.c.slot)
                    .where(github_writes.c.identity == identity)
                    .order_by(github_writes.c.slot)
                )
            ]
            decision, slot = decide(
                slots,
                last=row[0],
                paused_until=row[1],
                now=now,
                limits=self.limits,
                priority=priority,
                max_wait=max_wait,
            )
            if slot is not None:
                conn.execute(sa.insert(github_writes).values(identity=identity, slot=slot))
                conn.execute(
                    sa.update(github_identities)
                    .where(github_identities.c.identity == identity)
                    .values(last_slot=slot)
                )
        if decision.paused:
            self._pauses.note(identity, decision.wait)
        return decision

    def pause(self, identity: str, seconds: float) -> None:
        self._pauses.note(identity, seconds)
        try:
            self._pause(identity, seconds)
        except sa.exc.SQLAlchemyError as err:  # this process still holds back
            log.warning("could not share a GitHub pause (%s)", type(err).__name__)

    def _pause(self, identity: str, seconds: float) -> None:
        store = self._store
        with store._tx() as conn:
            until = store.now() + max(seconds, 0.0)
            self._lock_identity(conn, identity)
            conn.execute(
                sa.update(github_identities)
                .where(
                    github_identities.c.identity == identity,
                    github_identities.c.paused_until < until,
                )
                .values(paused_until=until)
            )

    def paused_for(self, identity: str) -> float:
        return self._pauses.left(identity)

    def _lock_identity(self, conn: sa.Connection, identity: str) -> tuple[float | None, float]:
        """(last slot, paused until) of the identity, its row locked until commit."""
        self._store._insert_ignore(
            conn, github_identities, {"identity": identity, "paused_until": 0.0}
        )
        query = sa.select(github_identities.c.last_slot, github_identities.c.paused_until).where(
            github_identities.c.identity == identity
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).one()
        last = float(row[0]) if row[0] is not None else None
        return last, float(row[1] or 0.0)
