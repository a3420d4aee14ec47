"""The plan of ``devin-bridge apply``: what the ``.devin/`` folder asks for against what
Devin holds, as creates, updates with field diffs, deletes and unchanged objects.

Pure. Only objects carrying ``apply``'s mark (``devin_files.ManagedMark``) are
compared; anything made by hand is invisible here, so it can never be changed.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.devin_files import (
    KINDS,
    NOTE,
    PLAYBOOK,
    SCHEDULE,
    Desired,
    DevinFolder,
    FileProblem,
    iso_time,
    read_mark,
)
from bot.core.devin_org import KnowledgeNote, Playbook, Schedule

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
UNCHANGED = "unchanged"
ORPHAN = "orphan"  # managed, its file is gone, and --prune was not given
SYMBOLS = {CREATE: "+", UPDATE: "~", DELETE: "-", UNCHANGED: "=", ORPHAN: "-"}
WRITES = (CREATE, UPDATE, DELETE)


@dataclass(frozen=True)
class Existing:
    """A managed object as Devin holds it, in the fields the folder describes."""

    kind: str
    name: str
    object_id: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    action: str
    kind: str
    name: str
    path: str | None = None
    object_id: str | None = None
    changes: tuple[FieldChange, ...] = ()
    desired: Desired | None = None

    @property
    def writes(self) -> bool:
        return self.action in WRITES

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "file": self.path,
            "id": self.object_id,
            "changes": [
                {"field": c.field, "old": _plain(c.old), "new": _plain(c.new)} for c in self.changes
            ],
            "notes": list(self.desired.notes) if self.desired else [],
        }


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    prune: bool = False

    @property
    def writes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.writes)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        text = (
            f"{self.count(CREATE)} to create, {self.count(UPDATE)} to update, "
            f"{self.count(DELETE)} to delete, {self.count(UNCHANGED)} unchanged"
        )
        orphans = self.count(ORPHAN)
        if orphans:
            text += f"; {orphans} whose file is gone kept (--prune deletes them)"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": [c.to_json() for c in self.changes],
            "summary": {a: self.count(a) for a in (CREATE, UPDATE, DELETE, UNCHANGED, ORPHAN)},
            "prune": self.prune,
        }


# --- what Devin holds ----------------------------------------------------------------


def existing_playbook(p: Playbook, scope: str = "") -> Existing | None:
    mark, body = read_mark(p.body)
    if mark is None or mark.kind != PLAYBOOK or mark.scope != scope:
        return None
    fields = {
        "title": p.title,
        "body": body,
        "macro": p.macro or None,
        "structured_output_schema": p.structured_output_schema or None,
    }
    return Existing(PLAYBOOK, mark.name, p.playbook_id, fields)


def existing_note(n: KnowledgeNote, scope: str = "") -> Existing | None:
    mark, body = read_mark(n.body)
    if mark is None or mark.kind != NOTE or mark.scope != scope:
        return None
    folder = (n.folder_path or "").strip("/")
    fields = {
        "name": n.name,
        "trigger": n.trigger,
        "body": body,
        "pinned_repo": n.pinned_repo or None,
        "folder": "/" + folder if folder else None,
        "is_enabled": n.is_enabled,
    }
    return Existing(NOTE, mark.name, n.note_id, fields)


def existing_schedule(
    s: Schedule, playbook_names: Mapping[str, str], scope: str = ""
) -> Existing | None:
    """``playbook_names`` maps the ids of managed playbooks to their names."""
    mark, prompt = read_mark(s.prompt)
    if mark is None or mark.kind != SCHEDULE or mark.scope != scope:
        return None
    frequency = " ".join(s.frequency.split()) if s.frequency else None
    kind = s.schedule_type or ("recurring" if frequency else "one_time")
    # A one-time schedule switches itself off once it has run; the file's `enabled`
    # means "until it has run", so that is no change to send (re-enabling would not rerun).
    ran_once = kind == "one_time" and bool(s.last_executed_at)
    fields = {
        "name": s.name,
        "prompt": prompt,
        "schedule_type": kind,
        "frequency": frequency,
        "scheduled_at": iso_time(s.scheduled_at) if s.scheduled_at else None,
        "playbook": playbook_names.get(s.playbook_id or "", s.playbook_id),
        "tags": tuple(s.tags),
        "enabled": True if ran_once else s.enabled,
        "agent": s.agent or "devin",
        "notify_on": s.notify_on or "failure",
    }
    return Existing(SCHEDULE, mark.name, s.schedule_id, fields)


# --- the plan --------------------------------------------------------------------------


def compute_plan(folder: DevinFolder, existing: Iterable[Existing], *, prune: bool) -> Plan:
    """Creates, updates, unchanged and deletes, in the folder's kind order."""
    held: dict[tuple[str, str], list[Existing]] = {}
    for e in existing:
        held.setdefault((e.kind, e.name), []).append(e)
    changes: list[Change] = []
    for kind in KINDS:
        for want in sorted(folder.of_kind(kind), key=lambda d: d.name):
            found = held.pop((kind, want.name), [])
            changes.extend(_extra(found[1:], prune))
            if not found:
                changes.append(Change(CREATE, kind, want.name, want.path, desired=want))
                continue
            diff = field_changes(found[0].fields, want.fields)
            action = UPDATE if diff else UNCHANGED
            changes.append(
                Change(action, kind, want.name, want.path, found[0].object_id, diff, want)
            )
        for (k, _name), gone in sorted(held.items()):
            if k == kind:
                changes.extend(_extra(gone, prune))
    return Plan(tuple(changes), prune)


def _extra(objects: Sequence[Existing], prune: bool) -> list[Change]:
    action = DELETE if prune else ORPHAN
    return [Change(action, e.kind, e.name, object_id=e.object_id) for e in objects]


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    out = []
    for key, value in new.items():
        before = old.get(key)
        if _normal(before) != _normal(value):
            out.append(FieldChange(key, before, value))
    return tuple(out)


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list | tuple):
        return tuple(value) or None
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True) if value else None
    return value


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def plan_problems(plan: Plan, now: datetime) -> list[FileProblem]:
    """What the API would refuse part-way, found before the first write: a one-time
    schedule to create or change whose time has passed."""
    problems = []
    for c in plan.writes:
        if c.desired is None or c.kind != SCHEDULE:
            continue
        at = c.desired.fields.get("scheduled_at")
        if at and datetime.fromisoformat(at.replace("Z", "+00:00")) <= now:
            problems.append(FileProblem(c.desired.path, f"({c.name}).at", f"{at} is in the past"))
    return problems


# --- rendering -------------------------------------------------------------------------


def render_plan(plan: Plan, where: str = ".devin", scope: str = "") -> list[str]:
    """The plan as lines of text (also the body of the Markdown ``diff`` block)."""
    lines = [f"Plan for {where}" + (f" (objects of {scope})" if scope else "") + ":"]
    if not plan.changes:
        lines.append("  (the folder is empty and Devin holds nothing managed by apply)")
    for change in plan.changes:
        lines.extend(_change_lines(change))
    lines.append(plan.summary() + ".")
    return lines


def _change_lines(c: Change) -> list[str]:
    source = f"  ({c.path})" if c.path else ""
    head = f"{SYMBOLS[c.action]} {c.kind} {c.name}{source}"
    if c.action == DELETE:
        head += f"  [{c.object_id}: its file is gone; deleted]"
    elif c.action == ORPHAN:
        head += f"  [{c.object_id}: its file is gone; kept, --prune deletes it]"
    lines = [head]
    for fc in c.changes:
        lines.extend(_field_lines(fc))
    if c.desired is not None and c.action != DELETE:
        lines.extend(f"    {note}" for note in c.desired.notes)
    return lines


def _field_lines(fc: FieldChange) -> list[str]:
    old, new = _show(fc.old), _show(fc.new)
    if "\n" not in old and "\n" not in new and len(old) + len(new) < 160:
        return [f"    {fc.field}: {old} -> {new}"]
    diff = difflib.unified_diff(
        old.splitlines(), new.splitlines(), lineterm="", n=1, fromfile="old", tofile="new"
    )
    body = [line for line in diff if not line.startswith(("---", "+++"))]
    return [f"    {fc.field}:", *(f"      {line}" for line in body)]


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value if "\n" in value else json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return json.dumps(value, indent=2, sort_keys=True)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    return json.dumps(value)


def render_plan_markdown(
    plan: Plan, where: str = ".devin", *, scope: str = "", title: str | None = None
) -> str:
    """For a job summary or a pull-request comment."""
    lines = render_plan(plan, where, scope)
    fence = "````" if any("```" in line for line in lines) else "```"
    head = title or f"Devin as code: plan for `{where}`"
    return "\n".join(
        [f"### {head}", "", f"**{plan.summary()}**", "", fence + "diff", *lines[1:-1], fence, ""]
    )
