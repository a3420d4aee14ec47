"""The rest of the sessions API on the command line: every ``SessionCreateRequest`` field
as a ``sessions create`` flag, child sessions, attachments on ``sessions send``, and
``sessions insights``.

Session secrets are never taken from the command line (it shows in ``ps`` and shell
history): ``--session-secret KEY`` reads the environment variable ``KEY``, and
``--session-secret KEY=VAR`` reads ``VAR``.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from bot.cli.output import CliUsageError, fields, out, print_json, raw_of

if TYPE_CHECKING:
    from bot.devin.client import DevinClient


def add_create_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--platform", metavar="NAME", help="VM platform, e.g. windows (or inherit)")
    p.add_argument(
        "--bypass-approval", action="store_true", default=None, help="skip the approval step"
    )
    p.add_argument(
        "--session-link", action="append", metavar="ID_OR_URL", help="context session (repeat)"
    )
    p.add_argument("--secret-id", action="append", metavar="ID", help="org secret to expose")
    p.add_argument(
        "--no-secrets", action="store_true", help="expose no org secrets (secret_ids: [])"
    )
    p.add_argument(
        "--session-secret",
        action="append",
        metavar="KEY[=ENV]",
        help="a secret for this session only, read from the environment variable ENV (or KEY)",
    )
    p.add_argument("--create-as-user", metavar="USER_ID", help="create on behalf of this user")
    p.add_argument("--child-playbook", metavar="ID", help="playbook for child sessions")
    p.add_argument("--parent", metavar="SESSION_ID", help="start it as a child of this session")
    p.add_argument(
        "--resumable",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep the VM after it stops so it can resume (default: Devin's)",
    )
    p.add_argument(
        "--output-optional",
        action="store_true",
        help="with --schema: structured output is optional (structured_output_required: false)",
    )
    p.add_argument("--no-knowledge", action="store_true", help="use no knowledge notes")


def create_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The ``SessionRequest`` fields these flags set (unset flags are left out)."""
    if args.no_secrets and args.secret_id:
        raise CliUsageError("give --secret-id or --no-secrets, not both")
    if args.no_knowledge and args.knowledge:
        raise CliUsageError("give --knowledge or --no-knowledge, not both")
    found: dict[str, Any] = {
        "platform": args.platform,
        "bypass_approval": args.bypass_approval,
        "session_links": tuple(args.session_link) if args.session_link else None,
        "secret_ids": () if args.no_secrets else (tuple(args.secret_id or ()) or None),
        "session_secrets": _session_secrets(args.session_secret or []) or None,
        "create_as_user_id": args.create_as_user,
        "child_playbook_id": args.child_playbook,
        "resumable": args.resumable,
        "structured_output_required": False if args.output_optional else None,
    }
    if args.no_knowledge:
        found["knowledge_ids"] = ()
    return {k: v for k, v in found.items() if v is not None}


def _session_secrets(specs: list[str]) -> tuple[dict[str, Any], ...]:
    secrets = []
    for spec in specs:
        key, _, var = spec.partition("=")
        key, var = key.strip(), (var.strip() or key.strip())
        if not key:
            raise CliUsageError(f"--session-secret {spec!r}: give KEY or KEY=ENV")
        value = os.environ.get(var)
        if not value:
            raise CliUsageError(
                f"--session-secret {key}: the environment variable {var} is not set "
                "(values are read from the environment, never from the command line)"
            )
        secrets.append({"key": key, "value": value, "sensitive": True})
    return tuple(secrets)


def print_family(session: Any) -> None:
    """Parent and child sessions, when there are any."""
    rows = [("parent", session.parent_session_id)]
    if session.child_session_ids:
        rows.append(("children", ", ".join(session.child_session_ids)))
    fields(rows)


# -- sessions insights -------------------------------------------------------------------


def add_parsers(cmds: Any, common: argparse.ArgumentParser) -> None:
    p = cmds.add_parser("insights", parents=[common], help="Devin's analysis of a session")
    p.add_argument("id", metavar="ID")
    p.add_argument(
        "--generate", action="store_true", help="ask Devin to generate it (then read it later)"
    )
    p.set_defaults(api=insights)


def insights(args: argparse.Namespace, client: DevinClient) -> int:
    if args.generate:
        status = client.generate_insights(args.id)
        if args.json:
            print_json({"session_id": args.id, "status": status})
        elif status == "already_exists":
            out(f"insights of {args.id} are already generated or being generated")
        else:
            out(f"generating insights of {args.id}; read them with: sessions insights {args.id}")
        return 0
    found = client.session_insights(args.id)
    if args.json:
        print_json(raw_of(found))
        return 0
    fields(
        [
            ("session", found.session_id or args.id),
            ("size", found.session_size),
            (
                "messages",
                f"{found.num_user_messages} from users, {found.num_devin_messages} from Devin",
            ),
        ]
    )
    if found.analysis is None:
        out(f"no analysis yet: sessions insights {args.id} --generate")
    else:
        import json

        out("analysis:")
        out(json.dumps(found.analysis, indent=2, ensure_ascii=False))
    return 0


def upload_all(client: DevinClient, paths: list[str]) -> tuple[str, ...]:
    """Upload each file; the attachment URLs for a session or a message."""
    import mimetypes
    from pathlib import Path

    contents = []
    for path in paths:  # every file is read before the first upload
        try:
            contents.append((path, Path(path).read_bytes()))
        except OSError as exc:
            raise CliUsageError(f"cannot read attachment {path!r}: {exc.strerror}") from None
    urls = []
    for path, content in contents:
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        urls.append(client.upload_attachment(Path(path).name, content, ctype).url)
    return tuple(urls)
