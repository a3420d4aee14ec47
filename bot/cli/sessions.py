"""``devin-bridge sessions ...``: list, show, create, send, stop, archive, attachments, tags,
watch."""

from __future__ import annotations

import argparse
import sys
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from bot.cli import session_more
from bot.cli.output import (
    CliUsageError,
    acus,
    ago,
    clip,
    err,
    fields,
    out,
    print_json,
    raw_of,
    read_json_schema,
    read_text,
    table,
)

if TYPE_CHECKING:
    from bot.core.devin_models import Session
    from bot.devin.client import DevinClient


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sessions = sub.add_parser("sessions", help="list, create, watch and manage sessions")
    cmds = sessions.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)

    p = cmds.add_parser("list", parents=[common], help="recent sessions")
    p.add_argument("--tag", action="append", default=[], help="only sessions with this tag")
    p.add_argument("--limit", type=_positive, default=30, help="at most N sessions (30)")
    p.add_argument("--playbook", metavar="ID", help="only sessions of this playbook")
    p.set_defaults(api=list_sessions)

    p = cmds.add_parser("show", parents=[common], help="one session")
    p.add_argument("id", metavar="ID")
    p.add_argument("--messages", action="store_true", help="also print the conversation")
    p.set_defaults(api=show)

    p = cmds.add_parser("create", parents=[common], help="start a session")
    p.add_argument("prompt", nargs="?", metavar="PROMPT")
    p.add_argument(
        "--prompt-file", metavar="FILE", help="read the prompt from FILE ('-': standard input)"
    )
    p.add_argument("--title")
    p.add_argument("--tag", action="append", default=[], help="repeatable")
    p.add_argument("--playbook", metavar="ID")
    p.add_argument("--knowledge", action="append", metavar="ID", help="note id (repeatable)")
    p.add_argument("--repo", action="append", metavar="OWNER/REPO", help="repeatable")
    p.add_argument("--max-acu", type=_positive, metavar="N", help="ACU limit for the session")
    p.add_argument("--schema", metavar="FILE.json", help="structured-output JSON Schema")
    p.add_argument("--mode", metavar="MODE", help="devin_mode: normal, fast, lite, ...")
    p.add_argument("--attach", action="append", metavar="FILE", help="upload and attach")
    session_more.add_create_options(p)
    p.add_argument("--wait", action="store_true", help="watch until the session settles")
    _watch_options(p)
    p.set_defaults(api=create)

    p = cmds.add_parser("send", parents=[common], help="send a message to a session")
    p.add_argument("id", metavar="ID")
    p.add_argument("message", metavar="MESSAGE")
    p.add_argument("--attach", action="append", metavar="FILE", help="upload and attach")
    p.add_argument("--as-user", metavar="USER_ID", help="attribute the message to this user")
    p.set_defaults(api=send)
    session_more.add_parsers(cmds, common)

    p = cmds.add_parser("stop", parents=[common], help="terminate a session")
    p.add_argument("id", metavar="ID")
    p.add_argument("--archive", action="store_true", help="also archive it")
    p.set_defaults(api=stop)

    p = cmds.add_parser("archive", parents=[common], help="archive a session")
    p.add_argument("id", metavar="ID")
    p.set_defaults(api=archive)

    p = cmds.add_parser("attachments", parents=[common], help="list or download attachments")
    p.add_argument("id", metavar="ID")
    p.add_argument("--download", metavar="DIR", help="save every attachment into DIR")
    p.set_defaults(api=attachments)

    p = cmds.add_parser("tags", parents=[common], help="show, add or replace tags")
    p.add_argument("id", metavar="ID")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--add", nargs="+", metavar="T", help="append tags")
    group.add_argument("--set", nargs="+", metavar="T", help="replace all tags")
    p.set_defaults(api=tags)

    p = cmds.add_parser("watch", parents=[common], help="follow a session until it settles")
    p.add_argument("id", metavar="ID")
    _watch_options(p)
    p.set_defaults(api=watch)


def _watch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interval", type=_seconds, default=5.0, metavar="S", help="poll every S s")
    p.add_argument("--timeout", type=_seconds, metavar="S", help="give up after S s (exit 124)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


# -- handlers -----------------------------------------------------------------


def list_sessions(args: argparse.Namespace, client: DevinClient) -> int:
    filters = {"playbook_id": args.playbook} if args.playbook else {}
    found = list(
        client.iter_sessions(
            tags=args.tag or None, first=min(args.limit, 100), limit=args.limit, **filters
        )
    )
    if args.json:
        print_json([raw_of(s) for s in found])
        return 0
    table(
        ("ID", "STATE", "TITLE", "UPDATED", "ACUS", "PRS"),
        (
            (
                s.session_id,
                s.state(),
                clip(s.title),
                ago(s.updated_at),
                acus(s.acus_consumed),
                _prs(s),
            )
            for s in found
        ),
        empty="no sessions",
    )
    return 0


def show(args: argparse.Namespace, client: DevinClient) -> int:
    session = client.get_session(args.id)
    messages = list(client.iter_messages(session.session_id)) if args.messages else []
    if args.json:
        data = raw_of(session)
        if args.messages:
            data["messages"] = [raw_of(m) for m in messages]
        print_json(data)
        return 0
    print_session(session)
    for message in messages:
        out()
        out(f"[{message.source}] {ago(message.created_at)}")
        out(message.message)
    return 0


def print_session(session: Session) -> None:
    status = session.status + (f"/{session.status_detail}" if session.status_detail else "")
    fields(
        [
            ("id", session.session_id),
            ("state", f"{session.state()} ({status})"),
            ("title", session.title),
            ("url", session.url),
            ("tags", ", ".join(session.tags)),
            ("playbook", session.playbook_id),
            ("created", ago(session.created_at)),
            ("updated", ago(session.updated_at)),
            ("acus", acus(session.acus_consumed)),
            ("archived", "yes" if session.is_archived else None),
            (
                "pull requests",
                ", ".join(
                    pr.url + (f" ({pr.state})" if pr.state else "") for pr in session.pull_requests
                ),
            ),
        ]
    )
    session_more.print_family(session)
    if session.structured_output is not None:
        import json

        out("structured output:")
        out(json.dumps(session.structured_output, indent=2, ensure_ascii=False))


def create(args: argparse.Namespace, client: DevinClient) -> int:
    from bot.devin.bodies import SessionRequest

    if args.prompt and args.prompt_file:
        raise CliUsageError("give the prompt as an argument or with --prompt-file, not both")
    if args.prompt_file == "-":
        prompt = sys.stdin.read()
    elif args.prompt_file:
        prompt = read_text(args.prompt_file, "prompt file")
    else:
        prompt = args.prompt
    if not prompt or not prompt.strip():
        raise CliUsageError("a session needs a prompt: devin-bridge sessions create 'Fix …'")
    schema = read_json_schema(args.schema) if args.schema else None
    more = session_more.create_fields(args)
    urls = session_more.upload_all(client, args.attach or [])
    request = SessionRequest(
        prompt=prompt,
        title=args.title,
        # Like the bridge's own sessions, so `sessions list --tag devin-bridge` finds them.
        tags=tuple(dict.fromkeys(["devin-bridge", *args.tag])),
        playbook_id=args.playbook,
        knowledge_ids=more.pop("knowledge_ids", tuple(args.knowledge) if args.knowledge else None),
        repos=tuple(args.repo) if args.repo else None,
        max_acu_limit=args.max_acu,
        structured_output_schema=schema,
        attachment_urls=urls or None,
        devin_mode=args.mode,
        **more,
    )
    session = client.create_session(request, parent_session_id=args.parent)
    if not args.json:
        out(f"created session {session.session_id}")
        out(session.url)
    if args.wait:
        from bot.cli.watch import watch_session

        return watch_session(
            client, session.session_id, args.interval, args.timeout, json_mode=args.json
        )
    if args.json:
        print_json(raw_of(session))
    return 0


def send(args: argparse.Namespace, client: DevinClient) -> int:
    if not args.message.strip():
        raise CliUsageError("a message cannot be empty")
    urls = session_more.upload_all(client, args.attach or [])
    session = client.send_message(
        args.id, args.message, attachment_urls=list(urls) or None, as_user_id=args.as_user
    )
    if args.json:
        print_json(raw_of(session) if session else {"session_id": args.id, "sent": True})
    else:
        out(f"sent to {session.session_id if session else args.id}")
    return 0


def stop(args: argparse.Namespace, client: DevinClient) -> int:
    from bot.core.devin_models import STOPPED_TAG
    from bot.devin.errors import DevinValidationError

    # Tagged so that `sessions show` and `list` say stopped, not finished; at the tag
    # limit it still stops.
    with suppress(DevinValidationError):
        client.add_tags(args.id, [STOPPED_TAG])
    session = client.terminate_session(args.id, archive=args.archive)
    return _done(args, session, "stopped and archived" if args.archive else "stopped")


def archive(args: argparse.Namespace, client: DevinClient) -> int:
    return _done(args, client.archive_session(args.id), "archived")


def _done(args: argparse.Namespace, session: Session | None, verb: str) -> int:
    if args.json:
        print_json(raw_of(session) if session else {"session_id": args.id})
    else:
        sid = session.session_id if session else args.id
        out(f"{verb} {sid}" + (f" ({session.state(stopped=True)})" if session else ""))
    return 0


def attachments(args: argparse.Namespace, client: DevinClient) -> int:
    found = client.session_attachments(args.id)
    if args.download:
        return _download(args, client, found)
    if args.json:
        print_json([raw_of(a) for a in found])
        return 0
    table(
        ("NAME", "SOURCE", "TYPE", "URL"),
        ((clip(a.name), a.source, a.content_type, a.url) for a in found),
        empty="no attachments",
    )
    return 0


def _download(args: argparse.Namespace, client: DevinClient, found: Any) -> int:
    from pathlib import Path

    from bot.devin.attachments import save_attachments

    saved = save_attachments(client, found, Path(args.download))
    if args.json:
        print_json(
            [
                {
                    "name": s.name,
                    "path": str(s.path) if s.path else None,
                    "size": s.size,
                    "content_type": s.content_type,
                    "skipped": s.skipped,
                }
                for s in saved
            ]
        )
    else:
        for s in saved:
            if s.path:
                out(f"saved {s.path} ({s.size} bytes)")
        if not saved:
            out("no attachments")
    for s in saved:
        if s.skipped:
            err(f"skipped {s.name}: {s.skipped}")
    return 1 if any(s.skipped for s in saved) else 0


def tags(args: argparse.Namespace, client: DevinClient) -> int:
    if args.add:
        result = client.add_tags(args.id, args.add)
    elif args.set:
        result = client.replace_tags(args.id, args.set)
    else:
        result = client.get_tags(args.id)
    if args.json:
        print_json({"tags": list(result)})
    else:
        for tag in result:
            out(tag)
    return 0


def watch(args: argparse.Namespace, client: DevinClient) -> int:
    from bot.cli.watch import watch_session

    return watch_session(client, args.id, args.interval, args.timeout, json_mode=args.json)


def _prs(session: Session) -> str:
    return " ".join(short_pr(pr.url) for pr in session.pull_requests)


def short_pr(url: str) -> str:
    """``owner/repo#12`` for a GitHub pull request URL, else the URL."""
    parts = url.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "pull" and parts[-1].isdigit():
        return f"{parts[-4]}/{parts[-3]}#{parts[-1]}"
    return url
