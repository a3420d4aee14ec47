"""The workflow event the Action runs for, read from the runner's environment.

Light on purpose (no HTTP libraries): a bad event file is reported at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class EventError(Exception):
    """The workflow environment or event cannot be read; the message says what to fix."""


@dataclass(frozen=True)
class ActionEvent:
    name: str
    payload: Mapping[str, Any] = field(repr=False)
    repository: str


def read_event(environ: Mapping[str, str]) -> ActionEvent:
    """The triggering event from ``GITHUB_EVENT_NAME`` / ``GITHUB_EVENT_PATH``."""
    name = (environ.get("GITHUB_EVENT_NAME") or "").strip()
    path = (environ.get("GITHUB_EVENT_PATH") or "").strip()
    repository = (environ.get("GITHUB_REPOSITORY") or "").strip()
    if not name or not path:
        raise EventError(
            "GITHUB_EVENT_NAME and GITHUB_EVENT_PATH are not set: run devin-bridge as a "
            "step of a GitHub Actions workflow"
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise EventError(
            f"the event file {path} (GITHUB_EVENT_PATH) cannot be read: {why}"
        ) from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as err:
        raise EventError(
            f"the event file {path} (GITHUB_EVENT_PATH) is not valid JSON "
            f"(line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    if not isinstance(payload, dict):
        raise EventError(f"the event file {path} (GITHUB_EVENT_PATH) does not hold a JSON object")
    # schedule payloads carry neither the repository nor a sender.
    if not isinstance(payload.get("repository"), Mapping) and "/" in repository:
        payload["repository"] = {"full_name": repository}
    actor = (environ.get("GITHUB_ACTOR") or "").strip()
    if not isinstance(payload.get("sender"), Mapping) and actor:
        payload["sender"] = {"login": actor, "type": "Bot" if actor.endswith("[bot]") else "User"}
    if not repository:
        repo = payload.get("repository")
        repository = str(repo.get("full_name") or "") if isinstance(repo, Mapping) else ""
    return ActionEvent(name=name, payload=payload, repository=repository)


def write_spacing(environ: Mapping[str, str]) -> float:
    """Seconds between GitHub writes (``DEVIN_BRIDGE_GITHUB_WRITE_SPACING``, default 1)."""
    text = (environ.get("DEVIN_BRIDGE_GITHUB_WRITE_SPACING") or "1.0").strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        raise EventError(
            f"DEVIN_BRIDGE_GITHUB_WRITE_SPACING must be a number of seconds, got {text!r}"
        ) from None
