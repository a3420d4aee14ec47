"""The Action's inputs (DESIGN §2.4), read from ``INPUT_*`` into a frozen dataclass.

GitHub sets ``INPUT_<NAME>`` upper-cased with hyphens kept (``INPUT_DEVIN-API-KEY``);
the underscore spelling (``INPUT_DEVIN_API_KEY``) is read too, for ``env:`` blocks
and local runs. Every problem raises ``ActionInputError`` naming the input at fault.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.core.validation import json_schema_error

# Same as bot.devin.client.DEFAULT_API_URL (not imported: bad inputs are reported before the
# HTTP libraries load).
DEFAULT_API_URL = "https://api.devin.ai/v3"
MODES = ("run", "refresh", "apply")
SECRET_INPUTS = ("devin-api-key", "github-token")

DEFAULTS: dict[str, str] = {
    "wait": "true",
    "timeout-minutes": "30",
    "poll-interval": "10",
    "comment": "true",
    "trigger": "/devin",
    "label": "devin",
    "devin-api-url": DEFAULT_API_URL,
    "config-path": ".github/devin.yml",
    "mode": "run",
    "dry-run": "false",
    "prune": "false",
    "devin-dir": ".devin",
}

# A GitHub-hosted job runs at most 6 hours; waiting longer cannot succeed.
MAX_TIMEOUT_MINUTES = 360.0

_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


class ActionInputError(ValueError):
    """A missing or malformed input; ``str(err)`` names it and says what to fix."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"input '{name}': {message}")
        self.input_name = name


@dataclass(frozen=True)
class ActionInputs:
    devin_api_key: str = field(repr=False)
    org_id: str
    github_token: str = field(default="", repr=False)
    prompt: str | None = None
    playbook_id: str | None = None
    knowledge_ids: tuple[str, ...] | None = None
    repos: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None
    max_acu_limit: int | None = None
    structured_output_schema: Mapping[str, Any] | None = None
    wait: bool = True
    timeout_minutes: float = 30.0
    poll_interval: float = 10.0
    comment: bool = True
    trigger: str = "/devin"
    label: str = "devin"
    attachments_dir: str | None = None
    devin_api_url: str = DEFAULT_API_URL
    config_path: str = ".github/devin.yml"
    mode: str = "run"
    dry_run: bool = False
    prune: bool = False
    devin_dir: str = ".devin"

    @property
    def timeout_seconds(self) -> float:
        return self.timeout_minutes * 60.0

    def secrets(self) -> tuple[str, ...]:
        return tuple(v for v in (self.devin_api_key, self.github_token) if v)


def env_names(name: str) -> tuple[str, str]:
    """The two variable names an input may arrive under."""
    upper = name.upper().replace(" ", "_")
    return f"INPUT_{upper}", f"INPUT_{upper.replace('-', '_')}"


def raw_input(environ: Mapping[str, str], name: str) -> str:
    """The input's text: the first non-empty of both spellings, else its default."""
    for env_name in env_names(name):
        value = environ.get(env_name)
        if value is not None and value.strip():
            return value
    return DEFAULTS.get(name, "")


def raw_secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Secret input values as given, so they can be masked before any parsing."""
    values: list[str] = []
    for name in SECRET_INPUTS:
        for env_name in env_names(name):
            value = (environ.get(env_name) or "").strip()
            if value and value not in values:
                values.append(value)
    return tuple(values)


def parse_list(text: str) -> tuple[str, ...]:
    """Comma- or newline-separated items, trimmed, empties and duplicates dropped."""
    items = (part.strip() for line in text.splitlines() for part in line.split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ActionInputError(name, f"must be true or false (also yes/no, 1/0), got {text!r}")


def _number(name: str, text: str, *, unit: str, maximum: float | None = None) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ActionInputError(name, f"must be a number of {unit}, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ActionInputError(name, f"must be greater than 0, got {text!r}")
    if maximum is not None and value > maximum:
        raise ActionInputError(name, f"must be at most {maximum:g} {unit}, got {text!r}")
    return value


def _positive_int(name: str, text: str) -> int:
    value = text.strip()
    if not value.isdigit() or int(value) <= 0:
        raise ActionInputError(name, f"must be a whole number greater than 0, got {text!r}")
    return int(value)


def _schema(text: str) -> Mapping[str, Any]:
    name = "structured-output-schema"
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as err:
        raise ActionInputError(
            name, f"is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    problem = json_schema_error(schema)
    if problem:
        raise ActionInputError(name, problem)
    assert isinstance(schema, Mapping)
    return schema


def _url(text: str) -> str:
    value = text.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ActionInputError(
            "devin-api-url",
            f"must be an http(s) URL including the version, e.g. {DEFAULT_API_URL}; "
            f"got {text.strip()!r}",
        )
    return value


def _items(name: str, text: str) -> tuple[str, ...]:
    items = parse_list(text)
    bad = [item for item in items if any(c.isspace() for c in item)]
    if bad:
        raise ActionInputError(
            name, f"items are separated by commas or new lines; {bad[0]!r} contains a space"
        )
    return items


def parse_inputs(environ: Mapping[str, str]) -> ActionInputs:
    """Read and check every input; raise ``ActionInputError`` on the first problem."""

    def text(name: str) -> str:
        return raw_input(environ, name).strip()

    def optional(name: str) -> str | None:
        return text(name) or None

    mode = text("mode").lower()
    if mode not in MODES:
        raise ActionInputError("mode", f"must be one of {', '.join(MODES)}; got {text('mode')!r}")
    api_key = text("devin-api-key")
    if not api_key:
        raise ActionInputError(
            "devin-api-key",
            "is required: store a Devin service-user key (cog_...) as a repository secret "
            "and pass `devin-api-key: ${{ secrets.DEVIN_API_KEY }}`",
        )
    org_id = text("org-id")
    if not org_id:
        raise ActionInputError(
            "org-id",
            "is required: pass your Devin organisation id, e.g. `org-id: ${{ vars.DEVIN_ORG_ID }}`",
        )
    token = text("github-token")
    if not token and mode != "apply":
        raise ActionInputError(
            "github-token",
            "is empty: leave it unset (it defaults to `${{ github.token }}`) or pass a token "
            "with issues: write and pull-requests: write",
        )
    trigger = text("trigger")
    if not trigger or any(c.isspace() for c in trigger):
        raise ActionInputError("trigger", f"must be one word such as /devin, got {trigger!r}")
    label = text("label")
    if not label:
        raise ActionInputError("label", "must not be empty (default: devin)")
    config_path = text("config-path")
    if not config_path or config_path.startswith("/") or ".." in config_path.split("/"):
        raise ActionInputError(
            "config-path",
            f"must be a path inside the repository such as .github/devin.yml, got {config_path!r}",
        )
    devin_dir = text("devin-dir") or ".devin"
    if devin_dir.startswith("/") or ".." in devin_dir.split("/"):
        raise ActionInputError(
            "devin-dir", f"must be a folder inside the repository such as .devin, got {devin_dir!r}"
        )
    limit_text = text("max-acu-limit")
    schema_text = text("structured-output-schema")
    knowledge = text("knowledge-ids")
    repos = text("repos")
    return ActionInputs(
        devin_api_key=api_key,
        org_id=org_id,
        github_token=token,
        prompt=optional("prompt"),
        playbook_id=optional("playbook-id"),
        knowledge_ids=_items("knowledge-ids", knowledge) if knowledge else None,
        repos=_items("repos", repos) if repos else None,
        tags=_items("tags", text("tags")),
        title=optional("title"),
        max_acu_limit=_positive_int("max-acu-limit", limit_text) if limit_text else None,
        structured_output_schema=_schema(schema_text) if schema_text else None,
        wait=parse_bool("wait", text("wait")),
        timeout_minutes=_number(
            "timeout-minutes", text("timeout-minutes"), unit="minutes", maximum=MAX_TIMEOUT_MINUTES
        ),
        poll_interval=_number("poll-interval", text("poll-interval"), unit="seconds"),
        comment=parse_bool("comment", text("comment")),
        trigger=trigger,
        label=label,
        attachments_dir=optional("attachments-dir"),
        devin_api_url=_url(text("devin-api-url")),
        config_path=config_path,
        mode=mode,
        dry_run=parse_bool("dry-run", text("dry-run") or "false"),
        prune=parse_bool("prune", text("prune") or "false"),
        devin_dir=devin_dir.rstrip("/"),
    )
