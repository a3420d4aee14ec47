"""Knowledge notes, playbooks and secrets (reference §3, §4, §5 "secrets")."""

from __future__ import annotations

import re

from flask import Blueprint
from flask.wrappers import Response

from bot.emulator.api_sessions import check_output_schema
from bot.emulator.resources import NoteFields, PlaybookFields, SecretFields
from bot.emulator.validation import Fields
from bot.emulator.web import body, cursor_page, emulator, ok, query

MACRO = re.compile(r"^![A-Za-z0-9_-]+$")
SECRET_TYPES = ("cookie", "key-value", "totp")


def _note_fields() -> NoteFields:
    f = Fields(body())
    name = f.string("name", required=True, nullable=False, min_len=1)
    text = f.string("body", required=True, nullable=False)
    trigger = f.string("trigger", required=True, nullable=False, min_len=1)
    folder_id = f.string("folder_id")
    is_enabled = f.boolean("is_enabled")
    pinned_repo = f.string("pinned_repo")
    f.check()
    assert name is not None and text is not None and trigger is not None
    return NoteFields(
        name=name,
        body=text,
        trigger=trigger,
        folder_id=folder_id,
        is_enabled=True if is_enabled is None else is_enabled,
        pinned_repo=pinned_repo,
    )


def list_notes(org_id: str) -> Response:
    q = query()
    page = cursor_page(q)
    q.check()
    store = emulator().resources
    return ok(
        store.list_notes(page, q.string("search"), q.string("folder_path"), q.string("pinned_repo"))
    )


def create_note(org_id: str) -> Response:
    return ok(emulator().resources.create_note(_note_fields()))


def get_note(org_id: str, note_id: str) -> Response:
    return ok(emulator().resources.get_note(note_id))


def update_note(org_id: str, note_id: str) -> Response:
    return ok(emulator().resources.update_note(note_id, _note_fields()))


def delete_note(org_id: str, note_id: str) -> Response:
    return ok(emulator().resources.delete_note(note_id))


def list_folders(org_id: str) -> Response:
    return ok(emulator().resources.folders())


def _playbook_fields() -> PlaybookFields:
    f = Fields(body())
    title = f.string("title", required=True, nullable=False, min_len=1)
    text = f.string("body", required=True, nullable=False)
    macro = f.string("macro")
    if macro is not None and not MACRO.fullmatch(macro):
        f.error(
            "macro",
            "macro must be '!' followed by letters, digits, '_' or '-' (e.g. !my_macro)",
            "string_pattern_mismatch",
        )
    schema = check_output_schema(f)
    f.check()
    assert title is not None and text is not None
    return PlaybookFields(title=title, body=text, macro=macro, structured_output_schema=schema)


def list_playbooks(org_id: str) -> Response:
    q = query()
    page = cursor_page(q)
    q.check()
    return ok(emulator().resources.list_playbooks(page))


def create_playbook(org_id: str) -> Response:
    return ok(emulator().resources.create_playbook(_playbook_fields()))


def get_playbook(org_id: str, playbook_id: str) -> Response:
    return ok(emulator().resources.get_playbook(playbook_id))


def update_playbook(org_id: str, playbook_id: str) -> Response:
    return ok(emulator().resources.update_playbook(playbook_id, _playbook_fields()))


def delete_playbook(org_id: str, playbook_id: str) -> Response:
    return ok(emulator().resources.delete_playbook(playbook_id))


def list_secrets(org_id: str) -> Response:
    q = query()
    page = cursor_page(q)
    q.check()
    return ok(emulator().resources.list_secrets(page))


def create_secret(org_id: str) -> Response:
    f = Fields(body())
    secret_type = f.enum("type", SECRET_TYPES) or "key-value"
    key = f.string("key", required=True, nullable=False, min_len=1)
    f.string("value", required=True, nullable=False)  # accepted, never stored or echoed
    sensitive = f.boolean("is_sensitive")
    note = f.string("note")
    f.check()
    assert key is not None
    fields = SecretFields(
        key=key,
        secret_type=secret_type,
        is_sensitive=True if sensitive is None else sensitive,
        note=note,
    )
    return ok(emulator().resources.create_secret(fields))


def delete_secret(org_id: str, secret_id: str) -> Response:
    return ok(emulator().resources.delete_secret(secret_id))


def register(bp: Blueprint) -> None:
    org = "/organizations/<org_id>"
    notes = org + "/knowledge/notes"
    bp.add_url_rule(notes, view_func=list_notes, methods=["GET"])
    bp.add_url_rule(notes, view_func=create_note, methods=["POST"])
    bp.add_url_rule(notes + "/<note_id>", view_func=get_note, methods=["GET"])
    bp.add_url_rule(notes + "/<note_id>", view_func=update_note, methods=["PUT"])
    bp.add_url_rule(notes + "/<note_id>", view_func=delete_note, methods=["DELETE"])
    bp.add_url_rule(org + "/knowledge/folders", view_func=list_folders, methods=["GET"])
    books = org + "/playbooks"
    bp.add_url_rule(books, view_func=list_playbooks, methods=["GET"])
    bp.add_url_rule(books, view_func=create_playbook, methods=["POST"])
    bp.add_url_rule(books + "/<playbook_id>", view_func=get_playbook, methods=["GET"])
    bp.add_url_rule(books + "/<playbook_id>", view_func=update_playbook, methods=["PUT"])
    bp.add_url_rule(books + "/<playbook_id>", view_func=delete_playbook, methods=["DELETE"])
    bp.add_url_rule(org + "/secrets", view_func=list_secrets, methods=["GET"])
    bp.add_url_rule(org + "/secrets", view_func=create_secret, methods=["POST"])
    bp.add_url_rule(org + "/secrets/<secret_id>", view_func=delete_secret, methods=["DELETE"])
