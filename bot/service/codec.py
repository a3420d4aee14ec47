"""JSON for what the service stores: a job's `Trigger` and a session's `TrackState`.

Decoding is tolerant of schema drift between releases: unknown keys are dropped and
missing optional fields take their defaults, so a row written by an older or newer
version still loads after a rolling deploy.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from bot.core.events import Actor, ReviewLocation, Trigger
from bot.engine.tracker import TrackState

T = TypeVar("T")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class CodecError(ValueError):
    """A stored row cannot be turned back into its object."""


def dump(obj: Any) -> str:
    """A frozen dataclass (nested ones included) as compact JSON."""
    return json.dumps(dataclasses.asdict(obj), separators=(",", ":"), sort_keys=True)


def load_trigger(text: str) -> Trigger:
    # Strict: a trigger with broken text came from a bad delivery; its job is ignored.
    data = _object(text, "trigger", strict=True)
    sender = data.get("sender")
    review = data.get("review")
    data["sender"] = _build(Actor, sender if isinstance(sender, Mapping) else {"login": "ghost"})
    data["review"] = _build(ReviewLocation, review) if isinstance(review, Mapping) else None
    return _build(Trigger, data)


def load_track(text: str) -> TrackState:
    # Lenient: Devin's own text (its latest message) may carry a lone surrogate, which
    # must not cost the session; it shows as U+FFFD.
    return _build(TrackState, _object(text, "session state", strict=False))


def _object(text: str, what: str, *, strict: bool) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise CodecError(f"the stored {what} is not JSON") from None
    if not isinstance(data, dict):
        raise CodecError(f"the stored {what} is not a JSON object")
    # `\udfff` escapes decode to text no URL, store or log can take.
    decoded = json.dumps(data, ensure_ascii=False)
    if not _LONE_SURROGATE.search(decoded):
        return data
    if strict:
        raise CodecError(f"the stored {what} contains a lone UTF-16 surrogate")
    repaired = json.loads(_LONE_SURROGATE.sub("\ufffd", decoded))
    return repaired if isinstance(repaired, dict) else data


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as err:
        raise CodecError(f"the stored {cls.__name__} lacks a field: {err}") from None
