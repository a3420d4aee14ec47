"""``.devin/`` as code: the files of the folder, validated, as the objects they ask for.

Pure: the caller reads the folder and passes ``{relative path: text}``. Every problem
names the file and the field at fault, and all of them are reported at once, so a
person fixes a folder in one go (DESIGN.md §1.7).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from bot.core.validation import cron_error, json_schema_error, next_runs

PLAYBOOK = "playbook"
NOTE = "note"
SCHEDULE = "schedule"
KINDS = (PLAYBOOK, NOTE, SCHEDULE)

SCHEDULES_FILE = "schedules.yml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_MACRO = re.compile(r"^![A-Za-z0-9_-]+$")
_PLAYBOOK_ID = re.compile(r"^playbook-[A-Za-z0-9_-]+$")
AGENTS = ("devin", "data_analyst", "advanced")
NOTIFY_ON = ("always", "failure", "never")
MAX_TEXT = 100_000

_PLAYBOOK_KEYS = ("title", "macro", "structured_output_schema")
_NOTE_KEYS = ("trigger", "name", "pinned_repo", "folder", "enabled")
_SCHEDULE_KEYS = (
    "name",
    "prompt",
    "cron",
    "at",
    "playbook",
    "tags",
    "enabled",
    "agent",
    "notify_on",
)


@dataclass(frozen=True)
class FileProblem:
    """One reason the folder cannot be applied."""

    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.field}: {self.message}"
            if self.field
            else (f"{self.path}: {self.message}")
        )


@dataclass(frozen=True)
class Desired:
    """One object the folder asks for, in the fields ``apply`` compares.

    ``fields`` uses the API's names except ``folder`` (a note's folder path) and
    ``playbook`` (a schedule's playbook: a ``playbooks/`` name or a playbook id), which
    are resolved to ids when the plan is applied.
    """

    kind: str
    name: str
    path: str
    fields: Mapping[str, Any]
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class DevinFolder:
    objects: tuple[Desired, ...] = ()
    problems: tuple[FileProblem, ...] = ()

    def of_kind(self, kind: str) -> tuple[Desired, ...]:
        return tuple(o for o in self.objects if o.kind == kind)

    @property
    def playbook_names(self) -> frozenset[str]:
        return frozenset(o.name for o in self.objects if o.kind == PLAYBOOK)


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_devin_folder(files: Mapping[str, str], *, now: datetime) -> DevinFolder:
    """The objects of a ``.devin/`` folder given as ``{relative path: text}``."""
    objects: list[Desired] = []
    problems: list[FileProblem] = []
    for path in sorted(files):
        text = files[path]
        top, _, rest = path.partition("/")
        try:
            if path == SCHEDULES_FILE:
                found, bad = _schedules(path, text, now)
                objects.extend(found)
                problems.extend(bad)
            elif top in ("playbooks", "knowledge") and rest:
                objects.append(_markdown_object(top, path, rest, text))
            elif path.lower() == "readme.md":
                continue  # a note for people browsing the folder
            else:
                raise _Invalid(
                    "",
                    "not part of the layout (playbooks/<name>.md, knowledge/<name>.md, "
                    "schedules.yml)",
                )
        except _Invalid as exc:
            problems.append(FileProblem(path, exc.field, exc.message))
    problems.extend(_duplicates(objects))
    folder = DevinFolder(tuple(objects), tuple(problems))
    return DevinFolder(folder.objects, (*folder.problems, *_unknown_playbooks(folder)))


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """YAML between two ``---`` lines at the top, and the rest of the text."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise _Invalid(
            "front matter", "the file must start with YAML front matter between --- lines"
        )
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            head = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            break
    else:
        raise _Invalid("front matter", "the front matter has no closing --- line")
    try:
        data = yaml.safe_load(head)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise _Invalid("front matter", f"is not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _Invalid("front matter", "must be a mapping of fields")
    return data, body


def _markdown_object(top: str, path: str, rest: str, text: str) -> Desired:
    if "/" in rest or not rest.endswith(".md"):
        raise _Invalid("", f"{top}/ holds <name>.md files only")
    name = rest[: -len(".md")]
    if not _NAME.match(name):
        raise _Invalid("name", f"{name!r} must be letters, digits, '.', '_' or '-'")
    front, body = split_front_matter(text)
    body = body.strip()
    if not body:
        raise _Invalid("body", "is empty")
    if len(body) > MAX_TEXT:
        raise _Invalid("body", f"is {len(body)} characters, at most {MAX_TEXT}")
    if top == "playbooks":
        return Desired(PLAYBOOK, name, path, _playbook_fields(front, body))
    return Desired(NOTE, name, path, _note_fields(front, body, name))


def _unknown_keys(data: Mapping[Any, Any], allowed: tuple[str, ...], prefix: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise _Invalid(f"{prefix}{key}", f"unknown field (allowed: {', '.join(allowed)})")


def _text(data: Mapping[str, Any], key: str, *, required: bool, prefix: str = "") -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _Invalid(prefix + key, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(prefix + key, "must be non-empty text")
    return value.strip()


def _bool(data: Mapping[str, Any], key: str, prefix: str = "") -> bool:
    value = data.get(key, True)
    if not isinstance(value, bool):
        raise _Invalid(prefix + key, "must be true or false")
    return value


def _playbook_fields(front: Mapping[str, Any], body: str) -> dict[str, Any]:
    _unknown_keys(front, _PLAYBOOK_KEYS)
    title = _text(front, "title", required=True)
    macro = _text(front, "macro", required=False)
    if macro is not None and not _MACRO.match(macro):
        raise _Invalid("macro", f"{macro!r} must be '!' followed by letters, digits, _ or -")
    schema = front.get("structured_output_schema")
    if schema is not None:
        problem = json_schema_error(schema)
        if problem:
            raise _Invalid("structured_output_schema", problem)
    return {"title": title, "body": body, "macro": macro, "structured_output_schema": schema}


def _note_fields(front: Mapping[str, Any], body: str, name: str) -> dict[str, Any]:
    _unknown_keys(front, _NOTE_KEYS)
    repo = _text(front, "pinned_repo", required=False)
    if repo is not None and repo != "all" and not re.match(r"^[\w.-]+/[\w.-]+$", repo):
        raise _Invalid("pinned_repo", f"{repo!r} must be owner/repo")
    folder = _text(front, "folder", required=False)
    return {
        "name": _text(front, "name", required=False) or name,
        "trigger": _text(front, "trigger", required=True),
        "body": body,
        "pinned_repo": repo,
        "folder": "/" + folder.strip("/") if folder else None,
        "is_enabled": _bool(front, "enabled"),
    }


def _schedules(path: str, text: str, now: datetime) -> tuple[list[Desired], list[FileProblem]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise _Invalid("", f"is not valid YAML{where}") from None
    if data is None:
        return [], []
    if not isinstance(data, list):
        raise _Invalid("", "must be a list of schedules (- name: ..., prompt: ..., cron: ...)")
    found: list[Desired] = []
    problems: list[FileProblem] = []
    for index, item in enumerate(data):
        prefix = f"[{index}]."
        try:
            found.append(_schedule(path, item, prefix, now))
        except _Invalid as exc:
            problems.append(FileProblem(path, exc.field, exc.message))
    return found, problems


def _schedule(path: str, item: Any, prefix: str, now: datetime) -> Desired:
    if not isinstance(item, dict):
        raise _Invalid(prefix.rstrip("."), "must be a mapping (name, prompt, cron or at, ...)")
    name = _text(item, "name", required=True, prefix=prefix)
    assert name is not None
    if len(name) > 200:
        raise _Invalid(prefix + "name", "is longer than 200 characters")
    prefix = f"{prefix[:-1]} ({name})."
    _unknown_keys(item, _SCHEDULE_KEYS, prefix)
    prompt = _text(item, "prompt", required=True, prefix=prefix)
    cron = _text(item, "cron", required=False, prefix=prefix)
    at = _text(item, "at", required=False, prefix=prefix)
    notes: tuple[str, ...] = ()
    if (cron is None) == (at is None):
        raise _Invalid(prefix + "cron", "give either cron (5 fields, UTC) or at (an ISO time)")
    if cron is not None:
        problem = cron_error(cron)
        if problem:
            raise _Invalid(prefix + "cron", problem)
        cron = " ".join(cron.split())
        runs = next_runs(cron, now)
        notes = ("next runs: " + ", ".join(r.strftime("%Y-%m-%d %H:%M UTC") for r in runs),)
    scheduled_at = None
    if at is not None:
        scheduled_at = iso_time(at)
        if scheduled_at is None:
            raise _Invalid(prefix + "at", f"{at!r} must be an ISO time with a time zone")
        notes = ("runs once at " + scheduled_at,)
    playbook = _text(item, "playbook", required=False, prefix=prefix)
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise _Invalid(prefix + "tags", "must be a list of text")
    if len(tags) > 50:
        raise _Invalid(prefix + "tags", "at most 50 tags")
    agent = _text(item, "agent", required=False, prefix=prefix) or "devin"
    if agent not in AGENTS:
        raise _Invalid(prefix + "agent", f"must be one of {', '.join(AGENTS)}")
    notify = _text(item, "notify_on", required=False, prefix=prefix) or "failure"
    if notify not in NOTIFY_ON:
        raise _Invalid(prefix + "notify_on", f"must be one of {', '.join(NOTIFY_ON)}")
    fields = {
        "name": name,
        "prompt": prompt,
        "schedule_type": "recurring" if cron else "one_time",
        "frequency": cron,
        "scheduled_at": scheduled_at,
        "playbook": playbook,
        "tags": tuple(dict.fromkeys(t.strip() for t in tags)),
        "enabled": _bool(item, "enabled", prefix),
        "agent": agent,
        "notify_on": notify,
    }
    return Desired(SCHEDULE, name, path, fields, notes)


def iso_time(text: str) -> str | None:
    """An ISO-8601 time with a zone, normalised to UTC (``...Z``), or None."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duplicates(objects: list[Desired]) -> list[FileProblem]:
    seen: dict[str, Desired] = {}
    problems: list[FileProblem] = []
    for obj in objects:
        if obj.key in seen:
            problems.append(
                FileProblem(obj.path, "name", f"{obj.name!r} is also used by {seen[obj.key].path}")
            )
        seen.setdefault(obj.key, obj)
    return problems


def _unknown_playbooks(folder: DevinFolder) -> list[FileProblem]:
    names = folder.playbook_names
    problems = []
    for obj in folder.of_kind(SCHEDULE):
        ref = obj.fields.get("playbook")
        if ref and ref not in names and not _PLAYBOOK_ID.match(ref):
            problems.append(
                FileProblem(
                    obj.path,
                    f"({obj.name}).playbook",
                    f"{ref!r} is neither a playbooks/<name>.md of this folder nor a "
                    "playbook id (playbook-...)",
                )
            )
    return problems


@dataclass(frozen=True)
class ManagedMark:
    """The line ``apply`` adds to what it creates, so it only ever touches its own.

    ``scope`` is the repository whose ``.devin/`` made it (``owner/name``; empty when
    applied from a folder that is not a checkout with an ``origin``): two repositories
    applying to one organisation never see, change or prune each other's objects.
    """

    kind: str
    name: str
    scope: str = ""

    def line(self) -> str:
        source = f" from {self.scope}" if self.scope else ""
        return (
            f"{MARK_PREFIX} {self.kind}/{self.name}{source} (managed from the repository's"
            " .devin/ folder; edit it there) -->"
        )


MARK_PREFIX = "<!-- devin-bridge apply:"
_MARK = re.compile(
    r"\n*<!-- devin-bridge apply: (\w+)/([^\s]+)(?: from ([\w.-]+/[\w.-]+))? [^\n]*-->\s*\Z"
)


def with_mark(text: str, kind: str, name: str, scope: str = "") -> str:
    return text.rstrip() + "\n\n" + ManagedMark(kind, name, scope).line() + "\n"


def read_mark(text: str) -> tuple[ManagedMark | None, str]:
    """The mark at the end of a body or prompt, and the text without it."""
    match = _MARK.search(text or "")
    if match is None or match.group(1) not in KINDS:
        return None, text
    mark = ManagedMark(match.group(1), match.group(2), match.group(3) or "")
    return mark, text[: match.start()].strip()
