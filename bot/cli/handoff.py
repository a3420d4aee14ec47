"""``devin-bridge handoff [TEXT] [--yes] [--allow-secrets] [--watch] [-C DIR]`` (§1.8).

Reads the checkout with git (repository from ``origin``, branch, commits not pushed, the
diff, untracked files), redacts secrets and lists them, refuses files that are wholly
secrets unless ``--allow-secrets``, asks on a terminal, then starts one session tagged
``handoff`` and prints its URL. Not a checkout, or nothing to hand off and no TEXT:
exit 2 with nothing sent.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.output import EXIT_OK, EXIT_USAGE, CliUsageError, err, out, print_json, raw_of

if TYPE_CHECKING:
    from bot.core.handoff import Checkout, LocalFile
    from bot.devin.client import DevinClient

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree
MAX_UNPUSHED = 50
MAX_UNTRACKED = 200
MAX_UNTRACKED_BYTES = 256 * 1024
GIT_TIMEOUT = 30


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "handoff", parents=[common], help="start a session with this repo's branch and diff"
    )
    p.add_argument("text", nargs="?", metavar="TEXT", help="the instruction for Devin")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before sending")
    p.add_argument(
        "--allow-secrets",
        action="store_true",
        help="send files that are wholly secrets too (their secrets are still redacted)",
    )
    p.add_argument("--watch", action="store_true", help="follow the session like sessions watch")
    p.add_argument("--interval", type=float, default=5.0, metavar="S", help="watch: poll every S s")
    p.add_argument("--timeout", type=float, metavar="S", help="watch: give up after S s")
    p.add_argument("-C", dest="directory", default=".", metavar="DIR", help="run as if in DIR")
    p.set_defaults(api=run)


def run(args: argparse.Namespace, client: DevinClient) -> int:
    """Everything that can fail on the local side happens before the first request."""
    from bot.core.handoff import HANDOFF_TAG, build_handoff

    checkout = read_checkout(args.directory)
    if checkout.empty and not (args.text or "").strip():
        raise CliUsageError("nothing to hand off: no changes, no unpushed commits and no TEXT")
    handoff = build_handoff(checkout, args.text, allow_secrets=args.allow_secrets)
    for finding in handoff.findings:
        err(f"redacted: {finding}")
    if handoff.blocked and not args.allow_secrets:
        for item in handoff.blocked:
            err(f"secret file: {item}")
        raise CliUsageError(
            "these files are wholly secrets and were not sent; remove them from the change "
            "(or add them to .gitignore), or pass --allow-secrets"
        )
    for item in handoff.cut:
        err(f"left out for size: {item}")
    if not args.yes and sys.stdin.isatty():
        size = f"{handoff.size / 1024:.1f} KB"
        where = f"{checkout.repo or '?'} @ {checkout.branch or 'detached HEAD'}"
        answer = input(f"Send {size} ({where}, {len(handoff.findings)} redacted) to Devin? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            err("nothing was sent")
            return EXIT_USAGE
    from bot.devin.bodies import SessionRequest

    request = SessionRequest(
        prompt=handoff.prompt,
        title=f"Hand-off: {checkout.repo or 'local'} {checkout.branch or ''}".strip(),
        tags=(HANDOFF_TAG,),
        repos=(checkout.repo,) if checkout.repo else None,
    )
    session = client.create_session(request)
    return _started(args, client, session)


def _started(args: argparse.Namespace, client: DevinClient, session: Any) -> int:
    if args.json and not args.watch:
        print_json(raw_of(session))
        return EXIT_OK
    out(f"handed off to session {session.session_id}")
    out(session.url)
    if args.watch:
        from bot.cli.watch import watch_session

        return watch_session(
            client, session.session_id, args.interval, args.timeout, json_mode=args.json
        )
    return EXIT_OK


# --- git -----------------------------------------------------------------------------


def git(directory: str, *argv: str, check: bool = True) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", directory, *argv],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise CliUsageError("git is not installed (handoff reads the checkout with git)") from None
    except subprocess.TimeoutExpired:
        raise CliUsageError(f"git {argv[0]} took longer than {GIT_TIMEOUT} s") from None
    if proc.returncode != 0:
        if check:
            raise CliUsageError(f"git {' '.join(argv)} failed: {_first_line(proc.stderr)}")
        return None
    return proc.stdout.decode("utf-8", errors="replace")


def _first_line(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text.splitlines()[0] if text else "no message"


def read_checkout(directory: str) -> Checkout:
    from bot.core.handoff import Checkout, repo_from_remote

    if not Path(directory).is_dir():
        raise CliUsageError(f"{directory} is not a folder")
    top = git(directory, "rev-parse", "--show-toplevel", check=False)
    if top is None:
        raise CliUsageError(f"{directory} is not a git checkout; nothing was sent")
    root = top.strip()
    has_head = git(root, "rev-parse", "--verify", "-q", "HEAD", check=False) is not None
    remote = git(root, "remote", "get-url", "origin", check=False)
    branch = git(root, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    upstream = git(
        root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}", check=False
    )
    upstream = upstream.strip() if upstream else None
    unpushed: list[str] = []
    base = "HEAD" if has_head else EMPTY_TREE
    if has_head:
        span = [f"{upstream}..HEAD"] if upstream else ["HEAD", "--not", "--remotes"]
        log = git(root, "log", "--format=%h %s", *span, check=False) or ""
        commits = [line for line in log.splitlines() if line.strip()]
        unpushed = commits[:MAX_UNPUSHED]
        if upstream:
            base = upstream
        elif commits:
            oldest = (git(root, "rev-list", *span, check=False) or "").split()[-1]
            parent = git(root, "rev-parse", "-q", "--verify", f"{oldest}^", check=False)
            base = parent.strip() if parent else EMPTY_TREE
    diff = git(root, "diff", "--no-color", "--no-ext-diff", base) or ""
    return Checkout(
        repo=repo_from_remote(remote.strip()) if remote else None,
        branch=branch.strip() if branch else None,
        upstream=upstream,
        unpushed=tuple(unpushed),
        diff=diff,
        untracked=tuple(_untracked(root)),
    )


def _untracked(root: str) -> list[LocalFile]:
    from bot.core.handoff import LocalFile

    listing = git(root, "ls-files", "--others", "--exclude-standard", "-z") or ""
    files: list[LocalFile] = []
    for index, rel in enumerate(p for p in listing.split("\0") if p):
        path = Path(root) / rel
        text: str | None = None
        try:
            # Past MAX_UNTRACKED files only the names go (the prompt is capped anyway).
            small = path.is_file() and path.stat().st_size <= MAX_UNTRACKED_BYTES
            if index < MAX_UNTRACKED and small:
                raw = path.read_bytes()
                text = None if b"\0" in raw else raw.decode("utf-8", errors="replace")
        except OSError:
            text = None
        files.append(LocalFile(rel, text))
    return files
