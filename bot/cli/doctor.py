"""`devin-bridge doctor`, and the same checks when `serve` and `worker` start.

Exit codes: 0 every check passed (warnings allowed); 1 a credential was refused or a
service did not answer; 2 something is missing or malformed in the configuration.
"""

from __future__ import annotations

import argparse
import os

from bot.cli.output import EXIT_USAGE, err, out

MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "missing": "FAIL", "skipped": "--  "}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser(
        "doctor", help="check the configuration and every credential against the live APIs"
    )
    doctor.add_argument("--json", action="store_true", help="machine output")
    doctor.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bot.cli.envfile import load_env_file
    from bot.service.checks import exit_code, run_checks
    from bot.service.settings import Settings, SettingsError

    load_env_file()
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        err(f"devin-bridge doctor: {exc}")
        return EXIT_USAGE
    checks = run_checks(settings, store_probe=probe_store, redis_probe=probe_redis)
    code = exit_code(checks)
    if getattr(args, "json", False):
        from bot.cli.output import print_json

        rows = [{"check": c.name, "outcome": c.outcome, "detail": c.detail} for c in checks]
        print_json({"exit_code": code, "checks": rows})
        return code
    width = max(len(c.name) for c in checks)
    for check in checks:
        out(f"{MARK[check.outcome]}  {check.name.ljust(width)}  {check.detail}")
    failed = sum(1 for c in checks if c.failed)
    out("all checks passed" if code == 0 else f"{failed} of {len(checks)} checks failed")
    return code


def startup_checks(command: str, settings: object, *, webhook_secret: bool) -> int:
    """Run before `serve`/`worker` start: 0 to go on, else the exit code after one line
    per failed check on stderr (warnings go to stderr too but do not stop the start)."""
    from bot.service.checks import CheckPlan, exit_code, run_checks
    from bot.service.settings import Settings

    assert isinstance(settings, Settings)
    plan = CheckPlan(webhook_secret=webhook_secret, store=False, redis=False)
    checks = run_checks(settings, plan)
    for check in checks:
        if check.outcome == "warn":
            err(f"devin-bridge {command}: warning: {check.name}: {check.detail}")
    failed = [c for c in checks if c.failed]
    for index, check in enumerate(failed, 1):
        hint = " (--no-check starts without these checks)" if index == len(failed) else ""
        err(f"devin-bridge {command} cannot start: {check.name}: {check.detail}{hint}")
    return exit_code(checks)


def local_checks(command: str, settings: object) -> int:
    """What `--no-check` still checks: the configuration alone, without the network."""
    from bot.github.auth import AppAuthProvider
    from bot.github.errors import GitHubAuthError
    from bot.service.settings import Settings

    assert isinstance(settings, Settings)
    if settings.uses_app:
        try:
            AppAuthProvider(settings.github_app_id, settings.github_app_private_key)
        except GitHubAuthError as exc:
            err(f"devin-bridge {command} cannot start: GitHub App: {exc}")
            return EXIT_USAGE
    return 0


def probe_store(url: str) -> str | None:
    """None when the store answers; never creates a SQLite file (doctor changes nothing)."""
    import sqlalchemy as sa

    if url.startswith("sqlite"):
        from pathlib import Path

        path = sa.engine.make_url(url).database or ""
        if not path or path == ":memory:":
            return None
        folder = Path(path).expanduser().resolve().parent
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent  # created at the first start
        if not os.access(folder, os.W_OK):
            return f"the folder {folder} is not writable"
        return None
    try:
        engine = sa.create_engine(url, connect_args=_connect_timeout(url))
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # the driver's own error types vary
        return f"cannot connect ({type(exc).__name__})"
    return None


def _connect_timeout(url: str) -> dict[str, object]:
    return {"connect_timeout": 5} if url.startswith("postgres") else {}


def probe_redis(url: str) -> str | None:
    from bot.service.rq_queue import QueueUnavailable, RQQueue, safe_redis_url

    try:
        queue = RQQueue(url, "devin-bridge:check")
    except QueueUnavailable as exc:
        return str(exc)
    return None if queue.ping() else f"Redis at {safe_redis_url(url)} does not answer"
