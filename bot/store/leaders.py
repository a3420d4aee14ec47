"""Leader leases (one background leader across processes) and small metadata values."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.base import StoreBase
from bot.store.schema import (
    leaders,
    meta,
)


class LeadersMixin(StoreBase):
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

    def meta_setdefault(self, key: str, value: str) -> str:
        """The stored value of `key`, storing `value` first when there is none: every
        process racing here gets the same answer (the first insert wins)."""
        with self._tx() as conn:
            self._insert_ignore(
                conn, meta, {"key": key, "value": value, "updated_at": self._clock()}
            )
            stored = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
        return str(stored)
