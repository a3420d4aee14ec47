"""Knowledge notes, playbooks and schedules of the Devin API v3."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bot.core.devin_org import FolderTree, KnowledgeNote, OrgSecret, Playbook, Schedule
from bot.core.parsing import Page, parse_optional
from bot.core.validation import cron_error, json_schema_error
from bot.devin.bodies import drop_none
from bot.devin.errors import DevinValidationError
from bot.devin.transport import DevinTransport, path_segment


class DevinResources(DevinTransport):
    """The org's knowledge notes, playbooks and schedules."""

    # -- knowledge notes --------------------------------------------------

    def iter_notes(self, *, first: int = 100, **filters: Any) -> Iterator[KnowledgeNote]:
        yield from self._paginate(
            self._org_path("/knowledge/notes"),
            drop_none(filters),
            KnowledgeNote.from_api,
            first,
            "knowledge notes",
        )

    def get_note(self, note_id: str) -> KnowledgeNote:
        return KnowledgeNote.from_api(
            self._request("GET", self._note_path(note_id), what=f"note {note_id}")
        )

    def create_note(
        self,
        name: str,
        body: str,
        trigger: str,
        *,
        folder_id: str | None = None,
        is_enabled: bool | None = None,
        pinned_repo: str | None = None,
    ) -> KnowledgeNote:
        payload = _note_body(name, body, trigger, folder_id, is_enabled, pinned_repo)
        data = self._request(
            "POST",
            self._org_path("/knowledge/notes"),
            json=payload,
            what="creating a knowledge note",
            retry="rate_limit",
        )
        return KnowledgeNote.from_api(data)

    def update_note(
        self,
        note_id: str,
        name: str,
        body: str,
        trigger: str,
        *,
        folder_id: str | None = None,
        is_enabled: bool | None = None,
        pinned_repo: str | None = None,
    ) -> KnowledgeNote:
        payload = _note_body(name, body, trigger, folder_id, is_enabled, pinned_repo)
        data = self._request(
            "PUT", self._note_path(note_id), json=payload, what=f"updating note {note_id}"
        )
        return KnowledgeNote.from_api(data)

    def delete_note(self, note_id: str) -> KnowledgeNote | None:
        data = self._request("DELETE", self._note_path(note_id), what=f"deleting note {note_id}")
        return parse_optional(KnowledgeNote.from_api, data)

    def note_folders(self) -> FolderTree:
        data = self._request("GET", self._org_path("/knowledge/folders"), what="note folders")
        return FolderTree.from_api(data)

    # -- playbooks --------------------------------------------------------

    def iter_playbooks(self, *, first: int = 100) -> Iterator[Playbook]:
        yield from self._paginate(
            self._org_path("/playbooks"), {}, Playbook.from_api, first, "playbooks"
        )

    def get_playbook(self, playbook_id: str) -> Playbook:
        return Playbook.from_api(
            self._request("GET", self._playbook_path(playbook_id), what=f"playbook {playbook_id}")
        )

    def create_playbook(
        self,
        title: str,
        body: str,
        *,
        macro: str | None = None,
        structured_output_schema: Mapping[str, Any] | None = None,
    ) -> Playbook:
        payload = _playbook_body(title, body, macro, structured_output_schema)
        data = self._request(
            "POST",
            self._org_path("/playbooks"),
            json=payload,
            what="creating a playbook",
            retry="rate_limit",
        )
        return Playbook.from_api(data)

    def update_playbook(
        self,
        playbook_id: str,
        title: str,
        body: str,
        *,
        macro: str | None = None,
        structured_output_schema: Mapping[str, Any] | None = None,
    ) -> Playbook:
        payload = _playbook_body(title, body, macro, structured_output_schema)
        data = self._request(
            "PUT",
            self._playbook_path(playbook_id),
            json=payload,
            what=f"updating playbook {playbook_id}",
        )
        return Playbook.from_api(data)

    def delete_playbook(self, playbook_id: str) -> Playbook | None:
        data = self._request(
            "DELETE", self._playbook_path(playbook_id), what=f"deleting playbook {playbook_id}"
        )
        return parse_optional(Playbook.from_api, data)

    # -- schedules --------------------------------------------------------

    def iter_schedules(self, *, page_size: int = 100) -> Iterator[Schedule]:
        # Schedules page by limit/offset (the others by cursor).
        offset = 0
        seen: set[str] = set()
        while True:
            data = self._request(
                "GET",
                self._org_path("/schedules"),
                params={"limit": page_size, "offset": offset},
                what="schedules",
            )
            page = Page.from_api(data, Schedule.from_api)
            fresh = [s for s in page.items if s.schedule_id not in seen]
            yield from fresh
            seen.update(s.schedule_id for s in fresh)
            offset += len(page.items)
            more = page.has_next_page or (page.total is not None and offset < page.total)
            # A server that ignores offset would repeat the same page forever.
            if not fresh or not more:
                return

    def get_schedule(self, schedule_id: str) -> Schedule:
        return Schedule.from_api(
            self._request("GET", self._schedule_path(schedule_id), what=f"schedule {schedule_id}")
        )

    def create_schedule(self, name: str, prompt: str, **fields: Any) -> Schedule:
        payload = {"name": name, "prompt": prompt, **drop_none(fields)}
        _check_schedule(payload, creating=True)
        data = self._request(
            "POST",
            self._org_path("/schedules"),
            json=payload,
            what="creating a schedule",
            retry="rate_limit",
        )
        return Schedule.from_api(data)

    def update_schedule(
        self, schedule_id: str, *, clear: tuple[str, ...] = (), **fields: Any
    ) -> Schedule:
        """PATCH the given fields; ``clear`` names fields to send as null (unset them),
        since a None in ``fields`` means "leave unchanged"."""
        payload = {**drop_none(fields), **dict.fromkeys(clear)}
        _check_schedule(payload, creating=False)
        data = self._request(
            "PATCH",
            self._schedule_path(schedule_id),
            json=payload,
            what=f"updating schedule {schedule_id}",
        )
        return Schedule.from_api(data)

    def delete_schedule(self, schedule_id: str) -> Schedule | None:
        data = self._request(
            "DELETE", self._schedule_path(schedule_id), what=f"deleting schedule {schedule_id}"
        )
        return parse_optional(Schedule.from_api, data)

    # -- organisation secrets ---------------------------------------------

    def iter_secrets(self, *, first: int = 100) -> Iterator[OrgSecret]:
        yield from self._paginate(
            self._org_path("/secrets"), {}, OrgSecret.from_api, first, "secrets"
        )

    def create_secret(
        self,
        key: str,
        value: str,
        *,
        secret_type: str = "key-value",
        is_sensitive: bool = True,
        note: str | None = None,
    ) -> OrgSecret:
        if not key.strip() or not value:
            raise DevinValidationError("a secret needs a key and a value", fields=("key", "value"))
        payload = drop_none(
            {
                "type": secret_type,
                "key": key,
                "value": value,
                "is_sensitive": is_sensitive,
                "note": note,
            }
        )
        data = self._request(
            "POST", self._org_path("/secrets"), json=payload, what=f"creating secret {key}"
        )
        return OrgSecret.from_api(data)

    def delete_secret(self, secret_id: str) -> OrgSecret | None:
        path = self._org_path("/secrets/" + path_segment(secret_id, "secret id"))
        data = self._request("DELETE", path, what=f"deleting secret {secret_id}")
        return parse_optional(OrgSecret.from_api, data)

    def _note_path(self, note_id: str) -> str:
        return self._org_path("/knowledge/notes/" + path_segment(note_id, "note id"))

    def _playbook_path(self, playbook_id: str) -> str:
        return self._org_path("/playbooks/" + path_segment(playbook_id, "playbook id"))

    def _schedule_path(self, schedule_id: str) -> str:
        return self._org_path("/schedules/" + path_segment(schedule_id, "schedule id"))


def _note_body(
    name: str,
    body: str,
    trigger: str,
    folder_id: str | None,
    is_enabled: bool | None,
    pinned_repo: str | None,
) -> dict[str, Any]:
    missing = [k for k, v in (("name", name), ("body", body), ("trigger", trigger)) if not v]
    if missing:
        raise DevinValidationError(
            "a knowledge note needs " + ", ".join(missing), fields=tuple(missing)
        )
    return drop_none(
        {
            "name": name,
            "body": body,
            "trigger": trigger,
            "folder_id": folder_id,
            "is_enabled": is_enabled,
            "pinned_repo": pinned_repo,
        }
    )


def _playbook_body(
    title: str, body: str, macro: str | None, schema: Mapping[str, Any] | None
) -> dict[str, Any]:
    if not title or not body:
        raise DevinValidationError("a playbook needs a title and a body", fields=("title", "body"))
    if macro is not None and not _valid_macro(macro):
        raise DevinValidationError(
            f"playbook macro {macro!r} must be '!' followed by letters, digits, _ or -",
            fields=("macro",),
        )
    if schema is not None:
        problem = json_schema_error(schema)
        if problem:
            raise DevinValidationError(problem, fields=("structured_output_schema",))
    return drop_none(
        {
            "title": title,
            "body": body,
            "macro": macro,
            "structured_output_schema": dict(schema) if schema is not None else None,
        }
    )


def _valid_macro(macro: str) -> bool:
    rest = macro[1:]
    return macro.startswith("!") and bool(rest) and all(c.isalnum() or c in "_-" for c in rest)


def _check_schedule(payload: Mapping[str, Any], *, creating: bool) -> None:
    frequency = payload.get("frequency")
    kind = payload.get("schedule_type") or ("recurring" if creating else None)
    if kind not in (None, "recurring", "one_time"):
        raise DevinValidationError(
            f"schedule_type must be recurring or one_time, got {kind!r}",
            fields=("schedule_type",),
        )
    if creating and kind == "recurring" and not frequency:
        raise DevinValidationError(
            "a recurring schedule needs a cron frequency, e.g. '0 9 * * 1-5' (UTC)",
            fields=("frequency",),
        )
    if creating and kind == "one_time" and not payload.get("scheduled_at"):
        raise DevinValidationError(
            "a one-time schedule needs scheduled_at (ISO 8601 with a time zone)",
            fields=("scheduled_at",),
        )
    if isinstance(frequency, str):
        problem = cron_error(frequency)
        if problem:
            raise DevinValidationError(problem, fields=("frequency",))
