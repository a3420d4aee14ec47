"""Injected failures: rate limits, 5xx bursts, slow answers, lost responses, dropped sockets.

A fault matches on method and a regular expression over the whole path. It
fires `times` times (unlimited when omitted), after letting `skip` matching
requests through. `phase: "before"` (default) acts before the request is
handled, so nothing happens server-side; `phase: "after"` handles the request
normally first and then delays and/or replaces the answer, which models "the
server did the work but the response was lost".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

Phase = Literal["before", "after"]


class FaultError(ValueError):
    """A fault spec is malformed; the message names the bad field."""


@dataclass(frozen=True)
class Fault:
    fault_id: int
    path: re.Pattern[str]
    method: str | None = None  # None: any method
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    phase: Phase = "before"
    drop: bool = False
    body: Any = None
    content_type: str | None = None
    times: int | None = None  # None: until cleared
    skip: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path.fullmatch(path) is not None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.fault_id,
            "method": self.method,
            "path": self.path.pattern,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "phase": self.phase,
            "drop": self.drop,
            "body": self.body,
            "times": self.times,
            "skip": self.skip,
        }


def _number(spec: Mapping[str, Any], key: str, *, minimum: float = 0.0) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise FaultError(f"{key} must be a number >= {minimum:g}")
    return float(value)


def _int(spec: Mapping[str, Any], key: str, minimum: int) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultError(f"{key} must be an integer >= {minimum}")
    return value


def parse_fault(spec: Mapping[str, Any], fault_id: int) -> Fault:
    raw_path = spec.get("path", ".*")
    if not isinstance(raw_path, str):
        raise FaultError("path must be a regular expression string")
    try:
        path = re.compile(raw_path)
    except re.error as exc:
        raise FaultError(f"path is not a valid regular expression: {exc}") from None
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise FaultError("method must be a string")
    if method in ("*", ""):
        method = None
    status = _int(spec, "status", 100)
    if status is not None and status > 599:
        raise FaultError("status must be an HTTP status code")
    phase = spec.get("phase", "before")
    if phase not in ("before", "after"):
        raise FaultError('phase must be "before" or "after"')
    drop = spec.get("drop", False)
    if not isinstance(drop, bool):
        raise FaultError("drop must be a boolean")
    content_type = spec.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        raise FaultError("content_type must be a string")
    delay = _number(spec, "delay") or 0.0
    if status is None and not drop and delay == 0.0:
        raise FaultError("a fault needs at least one of status, delay or drop")
    return Fault(
        fault_id=fault_id,
        path=path,
        method=method.upper() if method else None,
        status=status,
        retry_after=_number(spec, "retry_after"),
        delay=delay,
        phase=phase,
        drop=drop,
        body=spec.get("body"),
        content_type=content_type,
        times=_int(spec, "times", 1),
        skip=_int(spec, "skip", 0) or 0,
    )


class FaultList:
    """Thread-safe list of active faults; `take` consumes one firing atomically."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, spec: Mapping[str, Any]) -> Fault:
        with self._lock:
            fault = parse_fault(spec, self._next_id)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def take(self, method: str, path: str, phase: Phase) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            for i, fault in enumerate(self._faults):
                if fault.phase != phase or not fault.matches(method, path):
                    continue
                if fault.skip > 0:
                    self._faults[i] = replace(fault, skip=fault.skip - 1)
                    continue
                if fault.times is not None:
                    if fault.times <= 1:
                        del self._faults[i]
                    else:
                        self._faults[i] = replace(fault, times=fault.times - 1)
                return fault
            return None
