"""The state store's tables and their migrations (SQLAlchemy Core).

Times are epoch seconds (floats) so SQLite and Postgres compare them the same way.
Every row that background work claims carries a lease: `lease_owner`, `lease_until` and
`lease_version`, the fencing value that each claim increments and every later write
must match.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

SCHEMA_VERSION = 2
# Arbitrary constant: the Postgres advisory lock that serialises migrations.
MIGRATION_LOCK_ID = 7_405_112_019

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

# Deliveries seen, keyed on (hook, GUID): a GUID identifies the event, not the hook.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("hook_id", sa.String(64), primary_key=True),
    sa.Column("delivery_id", sa.String(200), primary_key=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False, server_default=""),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("job_id", sa.Integer, nullable=True),
    sa.Column("received_at", sa.Float, nullable=False, index=True),
)

# Trigger jobs. One thread's jobs run one at a time, oldest first (`thread_key`).
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.String(400), nullable=False, unique=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("thread_key", sa.String(400), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("delivery_id", sa.String(200), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),  # queued | running | done | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("run_after", sa.Float, nullable=False),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("lease_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("dispatched_until", sa.Float, nullable=True),
    sa.Column("result", sa.String(32), nullable=True),
    sa.Column("session_id", sa.String(200), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_jobs_state_run_after", "state", "run_after"),
    sa.Index("ix_jobs_thread_state", "thread_key", "state"),
)

# One row per Devin session the service follows; `track` is the tracker's TrackState.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("thread_key", sa.String(400), nullable=True, index=True),
    sa.Column("repo", sa.String(200), nullable=False),
    sa.Column("number", sa.Integer, nullable=True),
    sa.Column("installation_id", sa.BigInteger, nullable=True),
    sa.Column("comment_id", sa.BigInteger, nullable=True),
    sa.Column("track", sa.Text, nullable=False),
    sa.Column("status", sa.String(32), nullable=False, server_default=""),
    sa.Column("status_detail", sa.String(64), nullable=True),
    sa.Column("state", sa.String(32), nullable=False, server_default="queued"),
    sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("next_poll_at", sa.Float, nullable=False),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("lease_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("dispatched_until", sa.Float, nullable=True),
    sa.Column("ticks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("errors", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("last_tick_at", sa.Float, nullable=True),
    sa.Index("ix_sessions_due", "done", "next_poll_at"),
)

threads = sa.Table(
    "threads",
    metadata,
    sa.Column("thread_key", sa.String(400), primary_key=True),
    sa.Column("live_session_id", sa.String(200), nullable=True),
    sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Leader leases (e.g. the one in-process worker among gunicorn workers).
leaders = sa.Table(
    "leaders",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("lease_until", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Prometheus counters shared by every process (flushed in batches).
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("labels", sa.String(400), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)

# The GitHub write budget (bot/store/write_budget.py), one per identity: an App
# installation (`installation:<id>`) or a token (`token:<hash>`; never the token itself).
# Added in version 2.
github_identities = sa.Table(
    "github_identities",
    metadata,
    sa.Column("identity", sa.String(100), primary_key=True),
    sa.Column("last_slot", sa.Float, nullable=True),
    sa.Column("paused_until", sa.Float, nullable=False, server_default="0"),
)

# One row per reserved write slot, kept for an hour (the longest window).
github_writes = sa.Table(
    "github_writes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("identity", sa.String(100), nullable=False),
    sa.Column("slot", sa.Float, nullable=False),
    sa.Index("ix_github_writes_identity_slot", "identity", "slot"),
)

# version -> step that brings a database from version-1 to version. Steps must be
# idempotent; tables new in a version are created by `create_all` before they run.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {
    2: lambda conn: None,  # github_identities, github_writes: new tables only
}


def migrate(conn: sa.Connection, now: float) -> int:
    """Create missing tables and run pending steps inside the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    metadata.create_all(conn, checkfirst=True)
    row = conn.execute(sa.select(schema_version.c.version).where(schema_version.c.id == 1)).first()
    current = int(row[0]) if row is not None else 0
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database schema is version {current}, newer than this devin-bridge "
            f"({SCHEMA_VERSION}); upgrade devin-bridge"
        )
    for version in range(max(current, 1) + 1, SCHEMA_VERSION + 1):
        step = MIGRATIONS.get(version)
        if step is not None:
            step(conn)
    if row is None:
        conn.execute(sa.insert(schema_version).values(id=1, version=SCHEMA_VERSION, applied_at=now))
    elif current != SCHEMA_VERSION:
        conn.execute(
            sa.update(schema_version)
            .where(schema_version.c.id == 1)
            .values(version=SCHEMA_VERSION, applied_at=now)
        )
    return SCHEMA_VERSION
