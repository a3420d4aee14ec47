"""``devin-bridge secrets list|create|delete`` and ``devin-bridge orgs list``.

A secret's value is read from an environment variable or standard input, never from the
command line, and no command ever prints it (the API does not return it either).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from bot.cli.output import CliUsageError, ago, clip, out, print_json, raw_of, table

if TYPE_CHECKING:
    from bot.devin.client import DevinClient

SECRET_TYPES = ("key-value", "cookie", "totp")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    secrets = sub.add_parser("secrets", help="organisation secrets (values are never shown)")
    cmds = secrets.add_subparsers(dest="secrets_command", metavar="ACTION", required=True)
    p = cmds.add_parser("list", parents=[common], help="the org's secrets (names only)")
    p.set_defaults(api=list_secrets)
    p = cmds.add_parser("create", parents=[common], help="store a secret")
    p.add_argument("key", metavar="KEY")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--value-env", metavar="VAR", help="read the value from $VAR")
    source.add_argument("--value-stdin", action="store_true", help="read the value from stdin")
    p.add_argument("--type", choices=SECRET_TYPES, default="key-value")
    p.add_argument("--note", help="what it is for")
    p.add_argument("--not-sensitive", action="store_true", help="is_sensitive: false")
    p.set_defaults(api=create_secret)
    p = cmds.add_parser("delete", parents=[common], help="delete a secret")
    p.add_argument("id", metavar="SECRET_ID")
    p.set_defaults(api=delete_secret)

    orgs = sub.add_parser("orgs", help="organisations (enterprise-scoped keys)")
    cmds = orgs.add_subparsers(dest="orgs_command", metavar="ACTION", required=True)
    p = cmds.add_parser("list", parents=[common], help="organisations this key can see")
    p.set_defaults(api=list_orgs)


def list_secrets(args: argparse.Namespace, client: DevinClient) -> int:
    found = list(client.iter_secrets())
    if args.json:
        print_json([raw_of(s) for s in found])
        return 0
    table(
        ("ID", "KEY", "TYPE", "SENSITIVE", "CREATED", "NOTE"),
        (
            (
                s.secret_id,
                s.key,
                s.secret_type,
                "yes" if s.is_sensitive else "no",
                ago(s.created_at),
                clip(s.note),
            )
            for s in found
        ),
        empty="no secrets",
    )
    return 0


def create_secret(args: argparse.Namespace, client: DevinClient) -> int:
    if args.value_env:
        value = os.environ.get(args.value_env, "")
        if not value:
            raise CliUsageError(f"the environment variable {args.value_env} is not set or empty")
    else:
        value = sys.stdin.read().rstrip("\r\n")
        if not value:
            raise CliUsageError("standard input was empty: nothing to store")
    secret = client.create_secret(
        args.key,
        value,
        secret_type=args.type,
        is_sensitive=not args.not_sensitive,
        note=args.note,
    )
    if args.json:
        print_json(raw_of(secret))
    else:
        out(f"created secret {secret.secret_id} ({secret.key})")
    return 0


def delete_secret(args: argparse.Namespace, client: DevinClient) -> int:
    gone = client.delete_secret(args.id)
    if args.json:
        print_json(raw_of(gone) if gone else {"secret_id": args.id})
    else:
        out(f"deleted secret {args.id}" + (f" ({gone.key})" if gone else ""))
    return 0


def list_orgs(args: argparse.Namespace, client: DevinClient) -> int:
    found = list(client.list_organizations())
    if args.json:
        print_json([raw_of(o) for o in found])
        return 0
    table(
        ("ID", "NAME", "SESSION ACU LIMIT", "CYCLE ACU LIMIT"),
        (
            (o.org_id, o.name, _limit(o.max_session_acu_limit), _limit(o.max_cycle_acu_limit))
            for o in found
        ),
        empty="no organisations",
    )
    return 0


def _limit(value: int | None) -> str:
    return "none" if value is None else str(value)
