"""``devin-bridge apply [--dry-run] [--prune] [--json] [DIR]``: ``.devin/`` as code.

Exit codes (DESIGN.md §1.7): 0 applied or nothing to do, 1 an API failure part-way (the
report says what was applied), 2 invalid input (nothing sent).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli.output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliUsageError, err, out, print_json

if TYPE_CHECKING:
    from bot.devin.client import DevinClient


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    apply = sub.add_parser(
        "apply", parents=[common], help="playbooks, notes and schedules as code from .devin/"
    )
    apply.add_argument("--dry-run", action="store_true", help="show the plan only; change nothing")
    apply.add_argument(
        "--prune", action="store_true", help="delete managed objects whose file is gone"
    )
    apply.add_argument(
        "--scope",
        metavar="OWNER/REPO",
        help="the repository whose objects these are (default: DIR's git origin)",
    )
    apply.add_argument("dir", nargs="?", default=".devin", metavar="DIR")
    apply.set_defaults(api=run)


def run(args: argparse.Namespace, client: DevinClient) -> int:
    from bot.core.devin_plan import render_plan
    from bot.engine.devin_apply import apply_plan, plan_folder, read_folder

    folder = read_folder(args.dir)
    if folder.problems:
        return _invalid(args, [str(p) for p in folder.problems])
    scope = args.scope if args.scope is not None else origin_repo(args.dir)
    plan, state, problems = plan_folder(client, folder, prune=args.prune, scope=scope)
    if problems:
        return _invalid(args, [str(p) for p in problems])
    if not args.json:
        for line in render_plan(plan, args.dir, scope):
            out(line)
    if args.dry_run or not plan.writes:
        if args.json:
            print_json({**plan.to_json(), "scope": scope, "applied": [], "dry_run": args.dry_run})
        elif plan.writes:
            out("Dry run: nothing was changed.")
        return EXIT_OK
    report = apply_plan(client, plan, state)
    if args.json:
        print_json(
            {
                **plan.to_json(),
                "scope": scope,
                "dry_run": False,
                "applied": [c.to_json() for c in report.applied],
                "failed": report.failed.to_json() if report.failed else None,
                "error": report.error,
            }
        )
    else:
        out(f"Applied {len(report.applied)} of {len(plan.writes)} changes.")
    if report.failed is not None:
        done = ", ".join(f"{c.action} {c.kind} {c.name}" for c in report.applied) or "nothing"
        f = report.failed
        err(f"error: {f.action} {f.kind} {f.name} failed: {report.error}; applied before: {done}")
        return EXIT_ERROR
    return EXIT_OK


def origin_repo(directory: str) -> str:
    """``owner/name`` of the checkout's ``origin`` remote, or "" (no scope)."""
    from bot.cli.handoff import git
    from bot.core.handoff import repo_from_remote

    try:
        url = git(directory, "remote", "get-url", "origin", check=False)
    except CliUsageError:  # no git on this machine: the folder is simply not scoped
        return ""
    return (repo_from_remote(url.strip()) if url else None) or ""


def _invalid(args: argparse.Namespace, problems: list[str]) -> int:
    if args.json:
        print_json({"problems": problems})
    for problem in problems:
        err("invalid: " + problem)
    err(f"nothing was sent: fix {len(problems)} problem(s) in {args.dir}")
    return EXIT_USAGE
