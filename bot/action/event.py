"""The workflow event the Action runs for, read from the runner's environment.

Light on purpose (no HTTP libraries): a bad event file is reported at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.write_budget import BudgetLimits, limits_from_env


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


def write_limits(environ: Mapping[str, str]) -> BudgetLimits:
    """The GitHub write budget of this run: DEVIN_BRIDGE_GITHUB_WRITE_SPACING (seconds
    between writes, default 1) and DEVIN_BRIDGE_GITHUB_WRITES_PER_MINUTE / _PER_HOUR
    (default 80 / 500, GitHub's secondary limits)."""
    try:
        return limits_from_env(environ)
    except ValueError as err:
        raise EventError(str(err)) from None
