"""The request log and per-route counters (for tests and benchmarks)."""

from __future__ import annotations

import copy
import threading
from collections import Counter, deque
from typing import Any

# Fields whose values are secret wherever they appear in a logged JSON body.
_SECRET_KEYS = frozenset({"value", "password", "token", "api_key", "secret"})


def redact(body: Any) -> Any:
    """A copy of a JSON body with secret values (e.g. session_secrets[].value) masked."""
    if isinstance(body, dict):
        return {
            k: ("***" if k in _SECRET_KEYS and isinstance(v, str) else redact(v))
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [redact(item) for item in body]
    return copy.copy(body)


class RequestLog:
    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max(1, limit))
        self._by_route: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._total = 0

    def record(self, entry: dict[str, Any], route: str) -> None:
        with self._lock:
            self._total += 1
            entry["id"] = self._total
            self._entries.append(entry)
            self._by_route[route] += 1
            self._by_status[str(entry.get("status"))] += 1

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
        self.reset_counters()

    def reset_counters(self) -> None:
        with self._lock:
            self._by_route.clear()
            self._by_status.clear()
            self._total = 0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "by_route": dict(sorted(self._by_route.items())),
                "by_status": dict(sorted(self._by_status.items())),
            }
