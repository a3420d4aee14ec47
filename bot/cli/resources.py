"""``devin-bridge notes|playbooks ...``: knowledge notes and playbooks (schedules: schedules.py).

Updates of notes and playbooks are full replacements in the API, so the CLI
fetches the current object and overlays only the flags given.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli.output import (
    CliUsageError,
    ago,
    clip,
    crud,
    emit,
    fields,
    out,
    print_json,
    raw_of,
    read_json_schema,
    read_text,
    table,
    with_id,
)

if TYPE_CHECKING:
    from bot.devin.client import DevinClient


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    _add_notes(sub, common)
    _add_playbooks(sub, common)


def body_of(args: argparse.Namespace) -> str | None:
    if args.body is not None and args.body_file:
        raise CliUsageError("give --body or --body-file, not both")
    return read_text(args.body_file, "body file") if args.body_file else args.body


# -- knowledge notes -------------------------------------------------------------


def _add_notes(sub: Any, common: argparse.ArgumentParser) -> None:
    cmds = crud(sub, "notes", "knowledge notes")
    p = cmds.add_parser("list", parents=[common], help="all notes")
    p.add_argument("--search", help="only notes matching this text")
    p.add_argument("--folder-path", help="only notes in this folder")
    p.add_argument("--pinned-repo", metavar="OWNER/REPO", help="only notes pinned to a repo")
    p.set_defaults(api=notes_list)
    with_id(cmds, "get", common, "one note").set_defaults(api=notes_get)
    _note_options(cmds.add_parser("create", parents=[common], help="create a note"))
    cmds.choices["create"].set_defaults(api=notes_create)
    _note_options(with_id(cmds, "update", common, "change a note (unspecified fields kept)"))
    cmds.choices["update"].set_defaults(api=notes_update)
    with_id(cmds, "delete", common, "delete a note").set_defaults(api=notes_delete)
    p = cmds.add_parser("folders", parents=[common], help="the folder tree")
    p.set_defaults(api=notes_folders)


def _note_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name")
    p.add_argument("--body", help="Markdown text")
    p.add_argument("--body-file", metavar="FILE")
    p.add_argument("--trigger", help="when Devin should use the note")
    p.add_argument("--folder", metavar="FOLDER_ID", help="folder id (see: notes folders)")
    p.add_argument("--pinned-repo", metavar="OWNER/REPO", help="'' unpins on update")
    enabled = p.add_mutually_exclusive_group()
    enabled.add_argument("--disabled", dest="is_enabled", action="store_false", default=None)
    enabled.add_argument("--enabled", dest="is_enabled", action="store_true")


def notes_list(args: argparse.Namespace, client: DevinClient) -> int:
    notes = list(
        client.iter_notes(
            search=args.search, folder_path=args.folder_path, pinned_repo=args.pinned_repo
        )
    )
    if args.json:
        print_json([raw_of(n) for n in notes])
        return 0
    table(
        ("ID", "NAME", "TRIGGER", "FOLDER", "ENABLED", "REPO"),
        (
            (
                n.note_id,
                clip(n.name),
                clip(n.trigger),
                n.folder_path,
                "yes" if n.is_enabled else "no",
                n.pinned_repo,
            )
            for n in notes
        ),
        empty="no notes",
    )
    return 0


def notes_get(args: argparse.Namespace, client: DevinClient) -> int:
    note = client.get_note(args.id)
    if args.json:
        print_json(raw_of(note))
        return 0
    fields(
        [
            ("id", note.note_id),
            ("name", note.name),
            ("trigger", note.trigger),
            ("folder", note.folder_path or note.folder_id),
            ("enabled", "yes" if note.is_enabled else "no"),
            ("pinned repo", note.pinned_repo),
            ("macro", note.macro),
            ("updated", ago(note.updated_at)),
        ]
    )
    out()
    out(note.body)
    return 0


def notes_create(args: argparse.Namespace, client: DevinClient) -> int:
    body = body_of(args)
    missing = [
        f"--{k}"
        for k, v in (("name", args.name), ("body", body), ("trigger", args.trigger))
        if not v
    ]
    if missing:
        raise CliUsageError("notes create needs " + ", ".join(missing))
    assert args.name and body and args.trigger
    note = client.create_note(
        args.name,
        body,
        args.trigger,
        folder_id=args.folder or None,
        is_enabled=args.is_enabled,
        pinned_repo=args.pinned_repo or None,
    )
    return emit(args, note, "created note", note.note_id)


def notes_update(args: argparse.Namespace, client: DevinClient) -> int:
    body = body_of(args)
    current = client.get_note(args.id)
    note = client.update_note(
        current.note_id or args.id,
        args.name or current.name,
        body if body is not None else current.body,
        args.trigger or current.trigger,
        folder_id=_overlay(args.folder, current.folder_id),
        is_enabled=current.is_enabled if args.is_enabled is None else args.is_enabled,
        pinned_repo=_overlay(args.pinned_repo, current.pinned_repo),
    )
    return emit(args, note, "updated note", note.note_id or args.id)


def notes_delete(args: argparse.Namespace, client: DevinClient) -> int:
    return emit(args, client.delete_note(args.id), "deleted note", args.id)


def notes_folders(args: argparse.Namespace, client: DevinClient) -> int:
    tree = client.note_folders()
    if args.json:
        print_json(
            {
                "folders": [
                    {
                        "folder_id": f.folder_id,
                        "name": f.name,
                        "path": f.path,
                        "note_count": f.note_count,
                        "parent_folder_id": f.parent_folder_id,
                    }
                    for f in tree.folders
                ],
                "root_note_count": tree.root_note_count,
            }
        )
        return 0
    table(
        ("ID", "PATH", "NOTES"),
        [("(root)", "/", tree.root_note_count)]
        + [(f.folder_id, f.path or f.name, f.note_count) for f in tree.folders],
        empty="no folders",
    )
    return 0


def _overlay(given: str | None, current: str | None) -> str | None:
    """A flag given as '' clears the field; a flag not given keeps it."""
    if given is None:
        return current
    return given or None


# -- playbooks -----------------------------------------------------------------


def _add_playbooks(sub: Any, common: argparse.ArgumentParser) -> None:
    cmds = crud(sub, "playbooks", "playbooks")
    cmds.add_parser("list", parents=[common], help="all playbooks").set_defaults(api=playbooks_list)
    with_id(cmds, "get", common, "one playbook").set_defaults(api=playbooks_get)
    _playbook_options(cmds.add_parser("create", parents=[common], help="create a playbook"))
    cmds.choices["create"].set_defaults(api=playbooks_create)
    _playbook_options(with_id(cmds, "update", common, "change a playbook (others kept)"))
    cmds.choices["update"].set_defaults(api=playbooks_update)
    with_id(cmds, "delete", common, "delete a playbook").set_defaults(api=playbooks_delete)


def _playbook_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--title")
    p.add_argument("--body", help="the instructions (Markdown)")
    p.add_argument("--body-file", metavar="FILE")
    p.add_argument("--macro", metavar="!NAME", help="e.g. !deploy ('' removes it on update)")
    p.add_argument("--schema", metavar="FILE.json", help="structured-output JSON Schema")


def playbooks_list(args: argparse.Namespace, client: DevinClient) -> int:
    books = list(client.iter_playbooks())
    if args.json:
        print_json([raw_of(b) for b in books])
        return 0
    table(
        ("ID", "TITLE", "MACRO", "UPDATED"),
        ((b.playbook_id, clip(b.title), b.macro, ago(b.updated_at)) for b in books),
        empty="no playbooks",
    )
    return 0


def playbooks_get(args: argparse.Namespace, client: DevinClient) -> int:
    book = client.get_playbook(args.id)
    if args.json:
        print_json(raw_of(book))
        return 0
    fields(
        [
            ("id", book.playbook_id),
            ("title", book.title),
            ("macro", book.macro),
            ("schema", "yes" if book.structured_output_schema else None),
            ("updated", ago(book.updated_at)),
        ]
    )
    out()
    out(book.body)
    return 0


def playbooks_create(args: argparse.Namespace, client: DevinClient) -> int:
    body = body_of(args)
    schema = read_json_schema(args.schema) if args.schema else None
    if not args.title or not body:
        raise CliUsageError("playbooks create needs --title and --body (or --body-file)")
    book = client.create_playbook(
        args.title, body, macro=args.macro or None, structured_output_schema=schema
    )
    return emit(args, book, "created playbook", book.playbook_id)


def playbooks_update(args: argparse.Namespace, client: DevinClient) -> int:
    body = body_of(args)
    schema = read_json_schema(args.schema) if args.schema else None
    current = client.get_playbook(args.id)
    book = client.update_playbook(
        current.playbook_id or args.id,
        args.title or current.title,
        body if body is not None else current.body,
        macro=_overlay(args.macro, current.macro),
        structured_output_schema=schema if schema is not None else current.structured_output_schema,
    )
    return emit(args, book, "updated playbook", book.playbook_id or args.id)


def playbooks_delete(args: argparse.Namespace, client: DevinClient) -> int:
    return emit(args, client.delete_playbook(args.id), "deleted playbook", args.id)
