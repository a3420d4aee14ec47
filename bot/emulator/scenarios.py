"""Scripted session lifecycles.

A scenario is a list of steps. The emulator applies them as the session is
polled: only `GET .../sessions/{devin_id}` counts as a poll (lists, messages,
tags, attachments and insights reads do not), so progress is deterministic.

Step fields (all optional):

* ``after_polls`` (int, default 1): polls since the previous step (or since
  creation) before this step applies; 0 = together with the previous step (a
  leading 0 applies at creation).
* ``status``, ``status_detail``: new values. A status change without an explicit
  ``status_detail`` resets it (``working`` for ``running``, else null).
* ``message``: a Devin message appended to the session.
* ``pull_request``: ``{"pr_url": ..., "pr_state": "open"}``; the same URL again
  updates its state.
* ``attachment``: ``{"name", "content" (text) | "size" (bytes), "content_type"}``.
* ``structured_output``: an object, or ``"auto"`` for a sample built from the
  session's ``structured_output_schema`` (nothing when it has none).
* ``acus`` (set ``acus_consumed``), ``acus_delta`` (add to it), ``title``.
* ``wait_for_message: true``: stop here until a user message arrives.

Text may use the placeholders ``{session_id}``, ``{repo}``, ``{pr_number}``,
``{pr_url}``, ``{title}`` and ``{last_user_message}``.

``on_message`` (list of steps) is queued whenever a user message arrives and
nothing is left to do (a follow-up turn). A message to a suspended session first
moves it to ``resuming``; the next poll makes it ``running``/``working``.
When ``acus_consumed`` reaches the session's ``max_acu_limit`` the session is
suspended with ``usage_limit_exceeded`` and its scenario stops.

Built-in scenarios:

* ``finish``: new → running/working (1 poll) → Devin message (2) → pull request
  + attachment ``summary.md`` (3) → final message, structured output (auto),
  running/finished (4). ACUs grow 0.5 → 1.2 → 2.0 → 2.5. A later user message
  gets a reply and finishes again.
* ``exit``: running/working → message + PR → status ``exit``.
* ``wait_for_user``: running/working → question, running/waiting_for_user until
  a user message arrives → working → answer + PR, running/finished.
* ``approval``: running/working → running/waiting_for_approval until a message
  arrives (the emulator's stand-in for approving) → finished.
* ``error``: running/working → message → status ``error``.
* ``usage_limit``: running/working → suspended/usage_limit_exceeded (messages
  are refused with 409).
* ``inactivity``: running/working → suspended/inactivity; a message resumes it
  (resuming → running/working) → reply, running/finished.
* ``long``: running/working forever (for timeout tests); messages change nothing.
* ``idle``: running/finished after one poll, then stays there.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

STATUSES = ("new", "creating", "claimed", "running", "exit", "error", "suspended", "resuming")
RUNNING_DETAILS = ("working", "waiting_for_user", "waiting_for_approval", "finished")
USAGE_REASONS = (
    "usage_limit_exceeded",
    "user_usage_limit_exceeded",
    "out_of_credits",
    "out_of_quota",
    "no_quota_allocation",
    "payment_declined",
    "org_usage_limit_exceeded",
    "total_session_limit_exceeded",
)
SUSPEND_REASONS = ("inactivity", "user_request", "error", *USAGE_REASONS)
STATUS_DETAILS = (*RUNNING_DETAILS, *SUSPEND_REASONS)


SCENARIO_TAG = "emulator-scenario:"
_PROMPT_HINT = re.compile(r"^\s*\[emulator-scenario:\s*([A-Za-z0-9_.-]+)\s*\]\s*$", re.MULTILINE)


def scenario_hint(tags: Iterable[str], prompt: str) -> str | None:
    """The scenario a session asks for: tag `emulator-scenario:<name>`, else a prompt line
    `[emulator-scenario: <name>]`."""
    for tag in tags:
        if tag.startswith(SCENARIO_TAG):
            return tag[len(SCENARIO_TAG) :].strip()
    match = _PROMPT_HINT.search(prompt)
    return match.group(1) if match else None


class Unset(enum.Enum):
    """Marks a step field that was not given (distinct from an explicit null)."""

    UNSET = 0


UNSET = Unset.UNSET


class ScenarioError(ValueError):
    """A scenario spec is malformed; the message names the bad field."""


@dataclass(frozen=True)
class PullRequestSpec:
    pr_url: str
    pr_state: str | None


@dataclass(frozen=True)
class AttachmentSpec:
    name: str
    content: bytes | None
    size: int
    content_type: str


@dataclass(frozen=True)
class Step:
    after_polls: int = 1
    status: str | None = None
    status_detail: str | Literal[Unset.UNSET] | None = UNSET
    message: str | None = None
    pull_request: PullRequestSpec | None = None
    attachment: AttachmentSpec | None = None
    structured_output: Any = UNSET
    acus: float | None = None
    acus_delta: float | None = None
    title: str | None = None
    wait_for_message: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: tuple[Step, ...]
    on_message: tuple[Step, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "steps": [describe_step(s) for s in self.steps],
            "on_message": [describe_step(s) for s in self.on_message],
        }


def describe_step(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"after_polls": step.after_polls}
    if step.status is not None:
        out["status"] = step.status
    if step.status_detail is not UNSET:
        out["status_detail"] = step.status_detail
    if step.message is not None:
        out["message"] = step.message
    if step.pull_request is not None:
        out["pull_request"] = {
            "pr_url": step.pull_request.pr_url,
            "pr_state": step.pull_request.pr_state,
        }
    if step.attachment is not None:
        out["attachment"] = {
            "name": step.attachment.name,
            "size": step.attachment.size,
            "content_type": step.attachment.content_type,
        }
    if step.structured_output is not UNSET:
        out["structured_output"] = step.structured_output
    for key in ("acus", "acus_delta", "title"):
        if getattr(step, key) is not None:
            out[key] = getattr(step, key)
    if step.wait_for_message:
        out["wait_for_message"] = True
    return out


def _number(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}.{key} must be a number")
    return float(value)


def _text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScenarioError(f"{where}.{key} must be a string")
    return value


def _pull_request(raw: Any, where: str) -> PullRequestSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("pr_url"), str):
        raise ScenarioError(f"{where}.pull_request must be an object with a string pr_url")
    state = raw.get("pr_state", "open")
    if state is not None and not isinstance(state, str):
        raise ScenarioError(f"{where}.pull_request.pr_state must be a string or null")
    return PullRequestSpec(pr_url=raw["pr_url"], pr_state=state)


def _attachment(raw: Any, where: str) -> AttachmentSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ScenarioError(f"{where}.attachment must be an object with a non-empty name")
    content_type = raw.get("content_type") or "application/octet-stream"
    if not isinstance(content_type, str):
        raise ScenarioError(f"{where}.attachment.content_type must be a string")
    content = raw.get("content")
    if content is not None:
        if not isinstance(content, str):
            raise ScenarioError(f"{where}.attachment.content must be a string")
        data = content.encode()
        return AttachmentSpec(raw["name"], data, len(data), content_type)
    size = raw.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 100 * 1024 * 1024:
        raise ScenarioError(f"{where}.attachment.size must be an integer 0..104857600")
    return AttachmentSpec(raw["name"], None, size, content_type)


def parse_step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where} must be an object")
    after = raw.get("after_polls", 1)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ScenarioError(f"{where}.after_polls must be an integer >= 0")
    status = _text(raw, "status", where)
    if status is not None and status not in STATUSES:
        raise ScenarioError(f"{where}.status must be one of {', '.join(STATUSES)}")
    detail: str | Literal[Unset.UNSET] | None = UNSET
    if "status_detail" in raw:
        detail = _text(raw, "status_detail", where)
        if detail is not None and detail not in STATUS_DETAILS:
            raise ScenarioError(f"{where}.status_detail must be one of {', '.join(STATUS_DETAILS)}")
    output = raw.get("structured_output", UNSET)
    if output is not UNSET and output != "auto" and not isinstance(output, dict | None):
        raise ScenarioError(f'{where}.structured_output must be an object, null or "auto"')
    wait = raw.get("wait_for_message", False)
    if not isinstance(wait, bool):
        raise ScenarioError(f"{where}.wait_for_message must be a boolean")
    return Step(
        after_polls=after,
        status=status,
        status_detail=detail,
        message=_text(raw, "message", where),
        pull_request=_pull_request(raw.get("pull_request"), where),
        attachment=_attachment(raw.get("attachment"), where),
        structured_output=output,
        acus=_number(raw, "acus", where),
        acus_delta=_number(raw, "acus_delta", where),
        title=_text(raw, "title", where),
        wait_for_message=wait,
    )


def _steps(raw: Any, key: str) -> tuple[Step, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ScenarioError(f"{key} must be a list of steps")
    return tuple(parse_step(item, f"{key}[{i}]") for i, item in enumerate(raw))


def parse_scenario(spec: Mapping[str, Any], default_name: str = "custom") -> Scenario:
    """Build a scenario from `{"steps": [...], "on_message": [...], "name": ...}`."""
    name = spec.get("name") or default_name
    if not isinstance(name, str):
        raise ScenarioError("name must be a string")
    description = spec.get("description") or "custom scenario"
    if not isinstance(description, str):
        raise ScenarioError("description must be a string")
    return Scenario(
        name=name,
        description=description,
        steps=_steps(spec.get("steps"), "steps"),
        on_message=_steps(spec.get("on_message"), "on_message"),
    )


_SUMMARY = (
    "# Summary\n\nSession {session_id} worked on {repo}.\n\n- Opened pull request #{pr_number}\n"
)
_REPLY: Sequence[dict[str, Any]] = (
    {
        "after_polls": 1,
        "message": "Done: I handled your message ({last_user_message}).",
        "status": "running",
        "status_detail": "finished",
        "acus_delta": 0.3,
    },
)


def _builtin_specs() -> dict[str, dict[str, Any]]:
    working = {"after_polls": 1, "status": "running", "status_detail": "working", "acus": 0.5}
    pr = {"pr_url": "https://github.com/{repo}/pull/{pr_number}", "pr_state": "open"}
    return {
        "finish": {
            "description": "works, opens a PR with an attachment, then running/finished",
            "steps": [
                working,
                {"message": "I'm on it: looking at {repo}.", "acus": 1.2},
                {
                    "pull_request": pr,
                    "attachment": {
                        "name": "summary.md",
                        "content": _SUMMARY,
                        "content_type": "text/markdown",
                    },
                    "acus": 2.0,
                },
                {
                    "message": "Done. I opened {pr_url}.",
                    "structured_output": "auto",
                    "status": "running",
                    "status_detail": "finished",
                    "acus": 2.5,
                },
            ],
            "on_message": list(_REPLY),
        },
        "exit": {
            "description": "works, opens a PR, then exits",
            "steps": [
                working,
                {"message": "Finished; opened {pr_url}.", "pull_request": pr, "acus": 1.5},
                {"status": "exit", "acus": 1.6},
            ],
        },
        "wait_for_user": {
            "description": "asks a question and waits for a user message, then finishes",
            "steps": [
                working,
                {
                    "message": "Which branch should I base the change on?",
                    "status": "running",
                    "status_detail": "waiting_for_user",
                    "acus": 0.8,
                    "wait_for_message": True,
                },
                {
                    "message": "Thanks ({last_user_message}). Opened {pr_url}.",
                    "pull_request": pr,
                    "status": "running",
                    "status_detail": "finished",
                    "acus": 1.6,
                },
            ],
            "on_message": list(_REPLY),
        },
        "approval": {
            "description": "waits for approval (any user message approves), then finishes",
            "steps": [
                working,
                {
                    "message": "I need approval to run a command that changes infrastructure.",
                    "status": "running",
                    "status_detail": "waiting_for_approval",
                    "acus": 0.7,
                    "wait_for_message": True,
                },
                {
                    "message": "Approved, done.",
                    "status": "running",
                    "status_detail": "finished",
                    "acus": 1.1,
                },
            ],
            "on_message": list(_REPLY),
        },
        "error": {
            "description": "works, then fails with status error",
            "steps": [
                working,
                {"message": "I hit an unrecoverable error.", "acus": 0.9},
                {"status": "error"},
            ],
        },
        "usage_limit": {
            "description": "works, then suspended/usage_limit_exceeded (messages get 409)",
            "steps": [
                working,
                {"status": "suspended", "status_detail": "usage_limit_exceeded", "acus": 1.0},
            ],
        },
        "inactivity": {
            "description": "works, sleeps (suspended/inactivity); a message resumes it",
            "steps": [
                working,
                {
                    "status": "suspended",
                    "status_detail": "inactivity",
                    "acus": 0.6,
                    "wait_for_message": True,
                },
                {
                    "message": "Back at it ({last_user_message}); done.",
                    "status": "running",
                    "status_detail": "finished",
                    "acus": 1.0,
                },
            ],
            "on_message": list(_REPLY),
        },
        "long": {
            "description": "running/working forever (timeout tests)",
            "steps": [working],
        },
        "idle": {
            "description": "running/finished after one poll, and stays there",
            "steps": [
                {
                    "after_polls": 1,
                    "message": "Nothing left to do.",
                    "status": "running",
                    "status_detail": "finished",
                    "acus": 0.1,
                }
            ],
            "on_message": list(_REPLY),
        },
    }


def builtin_scenarios() -> dict[str, Scenario]:
    return {name: parse_scenario({**spec, "name": name}) for name, spec in _builtin_specs().items()}


def sample_from_schema(schema: Any, depth: int = 0) -> Any:
    """A small instance of a JSON Schema (good enough for tests of structured output)."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return sample_from_schema(options[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: sample_from_schema(sub, depth + 1) for name, sub in props.items()}
    if kind == "array":
        item = sample_from_schema(schema.get("items"), depth + 1)
        return [] if item is None else [item]
    simple: dict[str, Any] = {
        "string": "example",
        "integer": 1,
        "number": 1.0,
        "boolean": True,
    }
    return simple.get(str(kind))
