"""Prometheus metrics: counters buffered per process and shared through the store.

Each process adds to an in-memory buffer (no I/O on the hot path) and flushes it into
the store's `counters` table every few seconds and before each scrape, so /metrics on
any replica shows the totals of all processes. A process killed with -9 loses at most
its last unflushed seconds. Gauges (sessions by state, poll lag) are read from the
store at scrape time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Protocol

from bot.store.facade import canonical_labels

log = logging.getLogger("devin_bridge.metrics")

PREFIX = "devin_bridge_"
DELIVERIES = PREFIX + "webhook_deliveries_total"
API_CALLS = PREFIX + "api_calls_total"
API_ERRORS = PREFIX + "api_errors_total"
JOBS = PREFIX + "jobs_processed_total"
TICKS = PREFIX + "ticks_total"
FEED_READS = PREFIX + "feed_reads_total"
FEED_CHANGES = PREFIX + "feed_changed_sessions_total"
FEED_FALLBACKS = PREFIX + "feed_fallbacks_total"

HELP = {
    DELIVERIES: "Webhook deliveries by event and outcome.",
    API_CALLS: "Calls to the Devin and GitHub APIs by service and HTTP status.",
    API_ERRORS: "Failed API calls (HTTP >= 400 or no answer) by service and status.",
    JOBS: "Trigger jobs processed by result.",
    TICKS: "Poll ticks by result.",
    FEED_READS: "Change-feed list reads by result.",
    FEED_CHANGES: "Sessions the change feed found changed.",
    FEED_FALLBACKS: "Times the change feed fell back to per-session polling, by filter ignored.",
}
_MAX_LABEL = 64


class CounterStore(Protocol):
    def add_counters(self, deltas: Mapping[tuple[str, str], float]) -> None: ...


class Metrics:
    """Thread-safe counter buffer for one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._pending: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._clock = clock
        self._last_flush = clock()

    def inc(self, name: str, labels: Mapping[str, str], value: float = 1.0) -> None:
        key = (name, canonical_labels({k: str(v)[:_MAX_LABEL] for k, v in labels.items()}))
        with self._lock:
            self._pending[key] += value

    def delivery(self, event: str, outcome: str) -> None:
        self.inc(DELIVERIES, {"event": event or "unknown", "outcome": outcome})

    def api_call(self, service: str, status: int | None) -> None:
        code = str(status) if status is not None else "no_answer"
        self.inc(API_CALLS, {"service": service, "status": code})
        if status is None or status >= 400:
            self.inc(API_ERRORS, {"service": service, "status": code})

    def api_error(self, service: str, status: int | None) -> None:
        """A failure seen by the caller only (GitHubClient has no per-request hook)."""
        self.inc(API_ERRORS, {"service": service, "status": str(status or "no_answer")})

    def devin_observer(self, method: str, route: str, status: int | None, seconds: float) -> None:
        """`DevinClient(observer=...)`: one count per HTTP attempt."""
        self.api_call("devin", status)

    def github_observer(self, method: str, status: int | None) -> None:
        """`GitHubClient.observer`: one count per HTTP attempt."""
        self.api_call("github", status)

    def flush(self, store: CounterStore) -> None:
        with self._lock:
            pending, self._pending = self._pending, defaultdict(float)
            self._last_flush = self._clock()
        if not pending:
            return
        try:
            store.add_counters(pending)
        except Exception as err:  # the store is down: keep the counts for the next flush
            log.warning("could not flush metrics: %s", type(err).__name__)
            with self._lock:
                for key, value in pending.items():
                    self._pending[key] += value

    def maybe_flush(self, store: CounterStore, every: float = 5.0) -> None:
        if self._clock() - self._last_flush >= every:
            self.flush(store)


def render(
    counters: list[tuple[str, dict[str, str], float]],
    counts: Mapping[str, object],
    extra_gauges: Mapping[str, float] | None = None,
) -> str:
    """The Prometheus text exposition of shared counters and store gauges."""
    lines: list[str] = []
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in counters:
        by_name.setdefault(name, []).append((labels, value))
    for name in sorted(set(by_name) | set(HELP)):
        lines.append(f"# HELP {name} {HELP.get(name, name)}")
        lines.append(f"# TYPE {name} counter")
        for labels, value in by_name.get(name, []):
            lines.append(f"{name}{_labels(labels)} {_number(value)}")
    gauges: list[tuple[str, str, dict[str, str], float]] = []
    for state, n in _mapping(counts.get("sessions_live")).items():
        gauges.append(("sessions", "Sessions by bridge state.", {"state": state}, _num(n)))
    gauges.append(
        (
            "sessions",
            "Sessions by bridge state.",
            {"state": "done"},
            _num(counts.get("sessions_done")),
        )
    )
    for state, n in _mapping(counts.get("jobs")).items():
        gauges.append(("jobs", "Trigger jobs in the store by state.", {"state": state}, _num(n)))
    gauges.append(
        (
            "poll_lag_seconds",
            "How late the most overdue live session is.",
            {},
            _num(counts.get("poll_lag_seconds")),
        )
    )
    gauges.append(
        (
            "job_lag_seconds",
            "How long the oldest runnable job has waited.",
            {},
            _num(counts.get("job_lag_seconds")),
        )
    )
    gauges.append(
        (
            "sessions_leased",
            "Sessions being polled right now.",
            {},
            _num(counts.get("sessions_leased")),
        )
    )
    for name, value in (extra_gauges or {}).items():
        gauges.append((name, name.replace("_", " ") + ".", {}, value))
    seen: set[str] = set()
    for short, help_text, labels, value in gauges:
        name = PREFIX + short
        if name not in seen:
            seen.add(name)
            lines.append(f"# HELP {name} {help_text or name}")
            lines.append(f"# TYPE {name} gauge")
        lines.append(f"{name}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    parts = [f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())]
    return "{" + ",".join(parts) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
