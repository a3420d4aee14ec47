"""Tolerant readers of JSON response bodies, shared by the typed API records.

A field of the wrong type reads as its default instead of raising: the APIs
add, rename and loosen fields, and a status comment must not break on that.
The paging envelope lives here too, since every list endpoint shares it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def get_str(d: Mapping[str, Any], key: str, default: str = "") -> str:
    v = d.get(key)
    return v if isinstance(v, str) else default


def get_opt_str(d: Mapping[str, Any], *keys: str) -> str | None:
    """The first of ``keys`` holding a string: API versions name one field differently."""
    for key in keys:
        v = d.get(key)
        if isinstance(v, str):
            return v
    return None


def get_int(d: Mapping[str, Any], key: str, default: int = 0) -> int:
    v = d.get(key)
    # bool is an int subclass, but a flag is never a count.
    if isinstance(v, bool):
        return default
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    return default


def get_opt_int(d: Mapping[str, Any], key: str) -> int | None:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return int(v)


def get_float(d: Mapping[str, Any], key: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return 0.0
    return float(v)


def get_bool(d: Mapping[str, Any], key: str, default: bool = False) -> bool:
    v = d.get(key)
    return v if isinstance(v, bool) else default


def get_strs(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    v = d.get(key)
    if not isinstance(v, list):
        return ()
    return tuple(x for x in v if isinstance(x, str))


def get_dict(d: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    v = d.get(key)
    return v if isinstance(v, dict) else None


def as_mapping(data: Any) -> Mapping[str, Any]:
    return data if isinstance(data, Mapping) else {}


def parse_optional(parse: Callable[[Any], T], data: Any) -> T | None:
    """Parse a response body that may be empty (some endpoints answer null or {})."""
    return parse(data) if isinstance(data, Mapping) and data else None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    end_cursor: str | None = None
    has_next_page: bool = False
    total: int | None = None

    @classmethod
    def from_api(cls, data: Any, parse: Callable[[Any], T]) -> Page[T]:
        if isinstance(data, list):  # bare arrays occur in older docs
            return cls(items=tuple(parse(x) for x in data))
        d = as_mapping(data)
        raw_items = d.get("items")
        items: Sequence[Any] = raw_items if isinstance(raw_items, list) else []
        cursor = get_opt_str(d, "end_cursor", "next_cursor")
        has_next = d.get("has_next_page", d.get("has_more"))
        return cls(
            items=tuple(parse(x) for x in items),
            end_cursor=cursor,
            has_next_page=bool(has_next) if isinstance(has_next, bool) else cursor is not None,
            total=get_opt_int(d, "total"),
        )
