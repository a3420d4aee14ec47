"""``.devin/`` as code against the API: read the folder and what Devin holds, plan, apply.

Shared by ``devin-bridge apply`` and the Action's ``mode: apply``. Reads only before the
plan is shown; writes only the plan's creates, updates and deletes, in an order that keeps
references valid (playbooks before the schedules that use them, schedules deleted before
playbooks). A failure part-way stops and reports what was already applied.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.devin_files import (
    NOTE,
    PLAYBOOK,
    SCHEDULE,
    DevinFolder,
    FileProblem,
    parse_devin_folder,
    with_mark,
)
from bot.core.devin_plan import (
    CREATE,
    DELETE,
    UPDATE,
    Change,
    Existing,
    Plan,
    compute_plan,
    existing_note,
    existing_playbook,
    existing_schedule,
    plan_problems,
)
from bot.devin.client import DevinClient
from bot.devin.errors import DevinError

MAX_FILE_BYTES = 512 * 1024


@dataclass(frozen=True)
class DevinState:
    """The managed objects Devin holds, and the lookups applying a plan needs."""

    existing: tuple[Existing, ...]
    scope: str = ""  # the repository the marks name (see devin_files.ManagedMark)
    playbook_ids: dict[str, str] = field(default_factory=dict)  # managed name -> id
    folder_ids: dict[str, str] = field(default_factory=dict)  # "/path" -> folder id


@dataclass(frozen=True)
class ApplyReport:
    applied: tuple[Change, ...]
    failed: Change | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed is None


def read_folder(directory: str | os.PathLike[str], *, now: datetime | None = None) -> DevinFolder:
    """Parse a ``.devin/`` folder from disk; a missing folder is a problem, not an error."""
    root = Path(directory)
    if not root.is_dir():
        return DevinFolder(problems=(FileProblem(str(directory), "", "is not a folder"),))
    files: dict[str, str] = {}
    problems: list[FileProblem] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir() or any(part.startswith(".") for part in rel.split("/")):
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            problems.append(FileProblem(rel, "", f"is larger than {MAX_FILE_BYTES} bytes"))
            continue
        try:
            files[rel] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(FileProblem(rel, "", "is not UTF-8 text"))
    folder = parse_devin_folder(files, now=now or datetime.now(UTC))
    return DevinFolder(folder.objects, (*problems, *folder.problems))


def read_state(
    client: DevinClient, folder: DevinFolder, scope: str = ""
) -> tuple[DevinState, list[FileProblem]]:
    """What Devin holds (only objects marked as apply's count); problems that only the
    API can reveal, such as a note's folder that does not exist."""
    existing: list[Existing] = []
    playbook_ids: dict[str, str] = {}
    for p in client.iter_playbooks():
        e = existing_playbook(p, scope)
        if e is not None:
            existing.append(e)
            playbook_ids.setdefault(e.name, e.object_id)
    for n in client.iter_notes():
        e = existing_note(n, scope)
        if e is not None:
            existing.append(e)
    names = {pid: name for name, pid in playbook_ids.items()}
    for s in client.iter_schedules():
        e = existing_schedule(s, names, scope)
        if e is not None:
            existing.append(e)
    folder_ids: dict[str, str] = {}
    problems: list[FileProblem] = []
    wanted = {o.fields["folder"]: o for o in folder.of_kind(NOTE) if o.fields.get("folder")}
    if wanted:
        for f in client.note_folders().folders:
            folder_ids["/" + f.path.strip("/")] = f.folder_id
        for path, obj in sorted(wanted.items()):
            if path not in folder_ids:
                problems.append(
                    FileProblem(obj.path, "folder", f"{path!r} is not a knowledge folder in Devin")
                )
    return DevinState(tuple(existing), scope, playbook_ids, folder_ids), problems


def plan_folder(
    client: DevinClient, folder: DevinFolder, *, prune: bool, scope: str = ""
) -> tuple[Plan, DevinState, list[FileProblem]]:
    state, problems = read_state(client, folder, scope)
    plan = compute_plan(folder, state.existing, prune=prune)
    return plan, state, [*problems, *plan_problems(plan, datetime.now(UTC))]


_ORDER = {
    (CREATE, PLAYBOOK): 0,
    (UPDATE, PLAYBOOK): 0,
    (CREATE, NOTE): 1,
    (UPDATE, NOTE): 1,
    (CREATE, SCHEDULE): 2,
    (UPDATE, SCHEDULE): 2,
    (DELETE, SCHEDULE): 3,
    (DELETE, NOTE): 4,
    (DELETE, PLAYBOOK): 5,
}


def apply_plan(client: DevinClient, plan: Plan, state: DevinState) -> ApplyReport:
    """Send the plan's writes; stop at the first failure."""
    playbook_ids = dict(state.playbook_ids)
    applied: list[Change] = []
    for change in sorted(plan.writes, key=lambda c: _ORDER[(c.action, c.kind)]):
        try:
            new_id = _write(client, change, state.scope, playbook_ids, state.folder_ids)
        except DevinError as err:
            return ApplyReport(tuple(applied), change, str(err))
        if change.kind == PLAYBOOK and new_id:
            playbook_ids[change.name] = new_id
        applied.append(change)
    return ApplyReport(tuple(applied))


def _write(
    client: DevinClient,
    c: Change,
    scope: str,
    playbook_ids: dict[str, str],
    folder_ids: dict[str, str],
) -> str | None:
    if c.action == DELETE:
        assert c.object_id is not None
        remove = {
            PLAYBOOK: client.delete_playbook,
            NOTE: client.delete_note,
            SCHEDULE: client.delete_schedule,
        }[c.kind]
        remove(c.object_id)
        return None
    assert c.desired is not None
    f = c.desired.fields
    if c.kind == PLAYBOOK:
        args: dict[str, Any] = {
            "title": f["title"],
            "body": with_mark(f["body"], PLAYBOOK, c.name, scope),
            "macro": f["macro"],
            "structured_output_schema": f["structured_output_schema"],
        }
        if c.action == CREATE:
            return client.create_playbook(**args).playbook_id
        assert c.object_id is not None
        return client.update_playbook(c.object_id, **args).playbook_id
    if c.kind == NOTE:
        note: dict[str, Any] = {
            "name": f["name"],
            "body": with_mark(f["body"], NOTE, c.name, scope),
            "trigger": f["trigger"],
            "folder_id": folder_ids.get(f["folder"]) if f["folder"] else None,
            "is_enabled": f["is_enabled"],
            "pinned_repo": f["pinned_repo"],
        }
        if c.action == CREATE:
            client.create_note(**note)
        else:
            assert c.object_id is not None
            client.update_note(c.object_id, **note)
        return None
    _write_schedule(client, c, scope, playbook_ids)
    return None


def _write_schedule(
    client: DevinClient, c: Change, scope: str, playbook_ids: dict[str, str]
) -> None:
    assert c.desired is not None
    f = c.desired.fields
    ref = f["playbook"]
    body: dict[str, Any] = {
        "name": f["name"],
        "prompt": with_mark(f["prompt"], SCHEDULE, c.name, scope),
        "schedule_type": f["schedule_type"],
        "frequency": f["frequency"],
        "scheduled_at": f["scheduled_at"],
        "playbook_id": playbook_ids.get(ref, ref) if ref else None,
        "tags": list(f["tags"]),
        "agent": f["agent"],
        "notify_on": f["notify_on"],
    }
    if c.action == CREATE:
        created = client.create_schedule(**body)
        # The API has no `enabled` on create (a schedule starts enabled): switch it off after.
        if not f["enabled"]:
            client.update_schedule(created.schedule_id, enabled=False)
        return
    assert c.object_id is not None
    changed = {fc.field for fc in c.changes}
    patch = {k: v for k, v in body.items() if k in changed}
    if "playbook" in changed:
        patch["playbook_id"] = body["playbook_id"]
    if "enabled" in changed:
        patch["enabled"] = f["enabled"]
    # A field the file no longer sets is sent as null, or the next plan would differ again.
    clear = tuple(k for k, v in patch.items() if v is None)
    client.update_schedule(
        c.object_id, clear=clear, **{k: v for k, v in patch.items() if v is not None}
    )
