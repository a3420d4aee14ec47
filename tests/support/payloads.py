"""Load the webhook payload fixtures in tests/fixtures/github/ (modelled on octokit/webhooks).

Each call returns a fresh dict, so a test may change it freely.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"


def payload_path(name: str) -> Path:
    """The fixture file for `name`, with or without the `.json` suffix."""
    filename = name if name.endswith(".json") else f"{name}.json"
    path = FIXTURES / filename
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in FIXTURES.glob("*.json")))
        raise FileNotFoundError(f"no payload fixture {filename!r}; known: {known}")
    return path


def load_payload(name: str) -> dict[str, Any]:
    """The payload `name` (e.g. "issue_comment.created.pr") as a new dict."""
    data = json.loads(payload_path(name).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"payload fixture {name!r} is not a JSON object")
    return data
