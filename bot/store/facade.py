"""The service's durable state: deliveries seen, trigger jobs, sessions, leases, counters.

SQLAlchemy Core on SQLite (the embedded default, WAL mode, every transaction `BEGIN
IMMEDIATE` so concurrent processes queue on `busy_timeout` instead of failing) or
Postgres (`FOR UPDATE SKIP LOCKED` claims). Every transaction is short and does no
network I/O. Claims hand out leases; each claim increments `lease_version` and every
later write is conditional on it (fencing), so a worker that lost its lease while
paused can never overwrite its successor's work.
"""

from bot.store.counters import CountersMixin, canonical_labels
from bot.store.deliveries import DeliveriesMixin
from bot.store.dispatch import DispatchMixin
from bot.store.engine import StoreError, make_engine, normalise_url, safe_url
from bot.store.leaders import LeadersMixin
from bot.store.records import (
    Accepted,
    ClaimedJob,
    ClaimedSession,
    Lease,
    NewJob,
    SessionRecord,
    TickWrite,
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


class Store(DeliveriesMixin, DispatchMixin, LeadersMixin, CountersMixin):
    """All reads and writes of the service state: one object, one module per concern.

    base (connections, transactions), sessions and threads, jobs, deliveries, dispatch,
    leaders and metadata, counters.
    """
