"""Knowledge notes, folders, playbooks, schedules and secrets (shares the emulator's lock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.emulator import render
from bot.emulator.config import EmulatorConfig
from bot.emulator.errors import ApiError, validation_error
from bot.emulator.ids import new_hex
from bot.emulator.pagination import PageRequest, paginate
from bot.emulator.records import Folder, Note, Playbook, Schedule, Secret
from bot.emulator.schedule_rules import consistency_errors


@dataclass(frozen=True)
class NoteFields:
    name: str
    body: str
    trigger: str
    folder_id: str | None = None
    is_enabled: bool = True
    pinned_repo: str | None = None


@dataclass(frozen=True)
class PlaybookFields:
    title: str
    body: str
    macro: str | None = None
    structured_output_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class SecretFields:
    key: str
    secret_type: str
    is_sensitive: bool
    note: str | None


class ResourceStore:
    def __init__(
        self,
        config: EmulatorConfig,
        lock: threading.RLock,
        next_seq: Callable[[], int],
        now: Callable[[], int],
    ) -> None:
        self._config = config
        self._lock = lock
        self._next_seq = next_seq
        self._now = now
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._notes: dict[str, Note] = {}
            self._folders: dict[str, Folder] = {}
            self._playbooks: dict[str, Playbook] = {}
            self._schedules: dict[str, Schedule] = {}
            self._secrets: dict[str, Secret] = {}

    def _page(
        self, items: list[Any], page: PageRequest, render_item: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        return paginate(
            items,
            lambda item: int(item.seq),
            page,
            descending=False,
            render=render_item,
            cursor_on_last_page=self._config.end_cursor_on_last_page,
        )

    # Knowledge notes ------------------------------------------------------------------

    def _folder_for(self, folder_id: str | None) -> Folder | None:
        if folder_id is None:
            return None
        folder = self._folders.get(folder_id)
        if folder is None:
            # No folder-create endpoint is documented, so unknown ids create a folder.
            name = folder_id.removeprefix("folder-")
            folder = Folder(folder_id=folder_id, name=name, path=f"/{name}")
            self._folders[folder_id] = folder
        return folder

    def _note_json(self, note: Note) -> dict[str, Any]:
        return render.note_json(self._config, note, self._folders.get(note.folder_id or ""))

    def _note(self, note_id: str) -> Note:
        note = self._notes.get(note_id)
        if note is None:
            raise ApiError(404, f"Knowledge note {note_id} not found")
        return note

    def list_notes(
        self,
        page: PageRequest,
        search: str | None,
        folder_path: str | None,
        pinned_repo: str | None,
    ) -> dict[str, Any]:
        with self._lock:
            items = list(self._notes.values())
            if search:
                needle = search.lower()
                items = [
                    n
                    for n in items
                    if needle in n.name.lower()
                    or needle in n.body.lower()
                    or needle in n.trigger.lower()
                ]
            if folder_path:
                items = [
                    n
                    for n in items
                    if render.folder_path(self._folders.get(n.folder_id or "")) == folder_path
                ]
            if pinned_repo:
                items = [n for n in items if n.pinned_repo == pinned_repo]
            return self._page(items, page, self._note_json)

    def create_note(self, fields: NoteFields) -> dict[str, Any]:
        with self._lock:
            now = self._now()
            self._folder_for(fields.folder_id)
            note = Note(
                seq=self._next_seq(),
                note_id=f"note-{new_hex()}",
                name=fields.name,
                body=fields.body,
                trigger=fields.trigger,
                folder_id=fields.folder_id,
                is_enabled=fields.is_enabled,
                pinned_repo=fields.pinned_repo,
                created_at=now,
                updated_at=now,
            )
            self._notes[note.note_id] = note
            return self._note_json(note)

    def get_note(self, note_id: str) -> dict[str, Any]:
        with self._lock:
            return self._note_json(self._note(note_id))

    def update_note(self, note_id: str, fields: NoteFields) -> dict[str, Any]:
        with self._lock:
            note = self._note(note_id)
            self._folder_for(fields.folder_id)
            note.name, note.body, note.trigger = fields.name, fields.body, fields.trigger
            note.folder_id, note.is_enabled = fields.folder_id, fields.is_enabled
            note.pinned_repo = fields.pinned_repo
            note.updated_at = self._now()
            return self._note_json(note)

    def delete_note(self, note_id: str) -> dict[str, Any]:
        with self._lock:
            note = self._note(note_id)
            body = self._note_json(note)
            del self._notes[note_id]
            return body

    def folders(self) -> dict[str, Any]:
        with self._lock:
            counts: dict[str | None, int] = {}
            for note in self._notes.values():
                counts[note.folder_id] = counts.get(note.folder_id, 0) + 1
            return {
                "folders": [
                    {
                        "folder_id": f.folder_id,
                        "name": f.name,
                        "path": f.path,
                        "note_count": counts.get(f.folder_id, 0),
                        "parent_folder_id": f.parent_folder_id,
                    }
                    for f in self._folders.values()
                ],
                "root_note_count": counts.get(None, 0),
            }

    # Playbooks ------------------------------------------------------------------------

    def _playbook(self, playbook_id: str) -> Playbook:
        playbook = self._playbooks.get(playbook_id)
        if playbook is None:
            raise ApiError(404, f"Playbook {playbook_id} not found")
        return playbook

    def has_playbook(self, playbook_id: str) -> bool:
        with self._lock:
            return playbook_id in self._playbooks

    def list_playbooks(self, page: PageRequest) -> dict[str, Any]:
        with self._lock:
            items = list(self._playbooks.values())
            return self._page(items, page, lambda p: render.playbook_json(self._config, p))

    def create_playbook(self, fields: PlaybookFields) -> dict[str, Any]:
        with self._lock:
            now = self._now()
            who = self._config.service_user_id
            playbook = Playbook(
                seq=self._next_seq(),
                playbook_id=f"playbook-{new_hex()}",
                title=fields.title,
                body=fields.body,
                macro=fields.macro,
                structured_output_schema=fields.structured_output_schema,
                created_by=who,
                updated_by=who,
                created_at=now,
                updated_at=now,
            )
            self._playbooks[playbook.playbook_id] = playbook
            return render.playbook_json(self._config, playbook)

    def get_playbook(self, playbook_id: str) -> dict[str, Any]:
        with self._lock:
            return render.playbook_json(self._config, self._playbook(playbook_id))

    def update_playbook(self, playbook_id: str, fields: PlaybookFields) -> dict[str, Any]:
        with self._lock:
            playbook = self._playbook(playbook_id)
            playbook.title, playbook.body, playbook.macro = fields.title, fields.body, fields.macro
            playbook.structured_output_schema = fields.structured_output_schema
            playbook.updated_by = self._config.service_user_id
            playbook.updated_at = self._now()
            return render.playbook_json(self._config, playbook)

    def delete_playbook(self, playbook_id: str) -> dict[str, Any]:
        with self._lock:
            body = render.playbook_json(self._config, self._playbook(playbook_id))
            del self._playbooks[playbook_id]
            return body

    # Schedules ------------------------------------------------------------------------

    def _schedule(self, schedule_id: str) -> Schedule:
        schedule = self._schedules.get(schedule_id)
        if schedule is None or schedule.deleted:
            raise ApiError(404, f"Schedule {schedule_id} not found")
        return schedule

    def _schedule_json(self, schedule: Schedule) -> dict[str, Any]:
        playbook = self._playbooks.get(schedule.fields.get("playbook_id") or "")
        return render.schedule_json(self._config, schedule, playbook)

    def list_schedules(self, page: PageRequest) -> dict[str, Any]:
        with self._lock:
            items = [s for s in self._schedules.values() if not s.deleted]
            return self._page(items, page, self._schedule_json)

    def create_schedule(self, fields: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            now = self._config.clock()
            errors = consistency_errors(fields, now)
            if errors:
                raise validation_error(errors)
            schedule = Schedule(
                seq=self._next_seq(),
                schedule_id=f"sched-{new_hex()}",
                fields=dict(fields),
                enabled=True,
                created_by=fields.get("create_as_user_id") or self._config.service_user_id,
                last_edited_by=None,
                created_at=now,
                updated_at=now,
            )
            self._schedules[schedule.schedule_id] = schedule
            return self._schedule_json(schedule)

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        with self._lock:
            return self._schedule_json(self._schedule(schedule_id))

    def schedule_fields(self, schedule_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._schedule(schedule_id).fields)

    def update_schedule(self, schedule_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            schedule = self._schedule(schedule_id)
            changes = dict(changes)
            enabled = changes.pop("enabled", None)
            merged = {**schedule.fields, **changes}
            now = self._config.clock()
            if changes:
                errors = consistency_errors(merged, now)
                if errors:
                    raise validation_error(errors)
            schedule.fields = merged
            if enabled is not None:
                schedule.enabled = enabled
            schedule.last_edited_by = self._config.service_user_id
            schedule.updated_at = now
            return self._schedule_json(schedule)

    def delete_schedule(self, schedule_id: str) -> dict[str, Any]:
        with self._lock:
            schedule = self._schedule(schedule_id)
            schedule.deleted = True
            schedule.enabled = False
            schedule.updated_at = self._config.clock()
            return self._schedule_json(schedule)

    def mark_schedule_run(self, schedule_id: str) -> None:
        with self._lock:
            schedule = self._schedule(schedule_id)
            schedule.last_executed_at = self._config.clock()
            if schedule.fields.get("schedule_type") == "one_time":
                schedule.enabled = False

    # Secrets --------------------------------------------------------------------------

    def list_secrets(self, page: PageRequest) -> dict[str, Any]:
        with self._lock:
            items = list(self._secrets.values())
            return self._page(items, page, lambda s: render.secret_json(self._config, s))

    def create_secret(self, fields: SecretFields) -> dict[str, Any]:
        with self._lock:
            if any(s.key == fields.key for s in self._secrets.values()):
                raise ApiError(409, f"A secret named {fields.key!r} already exists")
            now = self._now()
            secret = Secret(
                seq=self._next_seq(),
                secret_id=f"secret-{new_hex()}",
                key=fields.key,
                secret_type=fields.secret_type,
                is_sensitive=fields.is_sensitive,
                note=fields.note,
                created_by=self._config.service_user_id,
                created_at=now,
                updated_at=now,
            )
            self._secrets[secret.secret_id] = secret
            return render.secret_json(self._config, secret)

    def delete_secret(self, secret_id: str) -> dict[str, Any]:
        with self._lock:
            secret = self._secrets.pop(secret_id, None)
            if secret is None:
                raise ApiError(404, f"Secret {secret_id} not found")
            return render.secret_json(self._config, secret)
