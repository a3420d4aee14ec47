"""The GitHub write budget the client asks before every content write.

`WriteBudget` is what the client needs: a decision per write, and a way to pause an
identity when GitHub answered with a rate limit. `MemoryBudget` keeps the log in this
process (the Action: one process, one token); the service shares one through the store
or Redis (bot/store/write_budget.py, bot/service/redis_budget.py). The rule itself is
`bot.core.write_budget.decide`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from bot.core.write_budget import BudgetLimits, Decision, Priority, decide


class WriteBudget(Protocol):
    limits: BudgetLimits

    def acquire(self, identity: str, priority: Priority, *, max_wait: float) -> Decision:
        """Reserve a slot for one write (granted: send after `wait`), or say when to ask
        again."""
        ...

    def pause(self, identity: str, seconds: float) -> None:
        """GitHub said wait: no write of this identity until then (any process)."""
        ...

    def paused_for(self, identity: str) -> float:
        """Seconds this process knows the identity to be paused (no I/O; 0 if not)."""
        ...


class LocalPauses:
    """Pauses this process has seen (its own answers and the shared state's), so that
    reads can hold back too without asking the shared state each time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def note(self, identity: str, seconds: float) -> None:
        until = self._clock() + max(seconds, 0.0)
        with self._lock:
            self._until[identity] = max(self._until.get(identity, 0.0), until)

    def left(self, identity: str) -> float:
        with self._lock:
            until = self._until.get(identity, 0.0)
        return max(0.0, until - self._clock())


class MemoryBudget:
    """The budget of one process (thread-safe)."""

    def __init__(self, limits: BudgetLimits, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[str, deque[float]] = {}
        self._paused: dict[str, float] = {}
        self._pauses = LocalPauses(clock)

    def __repr__(self) -> str:
        return f"MemoryBudget({self.limits!r})"

    def acquire(self, identity: str, priority: Priority, *, max_wait: float) -> Decision:
        with self._lock:
            now = self._clock()
            slots = self._slots.setdefault(identity, deque())
            horizon = now - self.limits.windows[1]
            while slots and slots[0] <= horizon:
                slots.popleft()
            decision, slot = decide(
                slots,
                last=slots[-1] if slots else None,
                paused_until=self._paused.get(identity, 0.0),
                now=now,
                limits=self.limits,
                priority=priority,
                max_wait=max_wait,
            )
            if slot is not None:
                slots.append(slot)
        if decision.paused:
            self._pauses.note(identity, decision.wait)
        return decision

    def pause(self, identity: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + max(seconds, 0.0)
            self._paused[identity] = max(self._paused.get(identity, 0.0), until)
        self._pauses.note(identity, seconds)

    def paused_for(self, identity: str) -> float:
        return self._pauses.left(identity)
