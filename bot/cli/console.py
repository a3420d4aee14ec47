"""The ``devin-bridge`` console script (also ``python -m bot``).

Only argparse is imported up front; each command imports what it needs when
it runs, so ``devin-bridge --help`` never loads Flask, gunicorn or SQLAlchemy.
Every failure ends as one line on stderr and an exit code (see cli_output).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.cli.output import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliUsageError,
    err,
)

if TYPE_CHECKING:
    from bot.devin.client import DevinClient

# Installed with the `service` extra only (the Action's image has none of them).
SERVICE_MODULES = ("flask", "werkzeug", "gunicorn", "sqlalchemy", "dotenv")


def common_options() -> argparse.ArgumentParser:
    """Options every command accepts after its name too (``sessions list --json``)."""
    parent = argparse.ArgumentParser(add_help=False)
    _add_common(parent, argparse.SUPPRESS)
    return parent


def _add_common(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--json",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="machine output: the API objects as JSON",
    )
    group.add_argument(
        "--api-url", default=default, metavar="URL", help="Devin API base (env DEVIN_API_URL)"
    )
    group.add_argument(
        "--org-id", default=default, metavar="ID", help="organisation id (env DEVIN_ORG_ID)"
    )


def build_parser() -> argparse.ArgumentParser:
    from bot.cli import app_create as cli_app
    from bot.cli import apply as cli_apply
    from bot.cli import demo as cli_demo
    from bot.cli import doctor as cli_doctor
    from bot.cli import handoff as cli_handoff
    from bot.cli import org as cli_org
    from bot.cli import resources as cli_resources
    from bot.cli import schedules as cli_schedules
    from bot.cli import sessions as cli_sessions

    parser = argparse.ArgumentParser(
        prog="devin-bridge",
        description="Hand work to Devin from the command line, and run the bridge service.",
    )
    parser.add_argument("--version", action="version", version=f"devin-bridge {__version__}")
    _add_common(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options()

    whoami = sub.add_parser("whoami", parents=[common], help="who the API key belongs to")
    whoami.add_argument("--orgs", action="store_true", help="also list the organisations")
    whoami.set_defaults(api=_whoami)
    cli_sessions.add_parser(sub, common)
    cli_resources.add_parsers(sub, common)
    cli_schedules.add_parser(sub, common)
    cli_org.add_parsers(sub, common)
    cli_apply.add_parser(sub, common)
    cli_handoff.add_parser(sub, common)
    _add_service_commands(sub, common)
    cli_demo.add_parser(sub)
    cli_doctor.add_parser(sub)
    cli_app.add_parser(sub)
    return parser


def _add_service_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    emulator = sub.add_parser("emulator", help="run the local Devin API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8900)
    emulator.add_argument("--session-id-form", choices=("bare", "prefixed"), default="bare")
    emulator.add_argument("--error-style", choices=("problem", "detail"), default="problem")
    emulator.add_argument("--quiet", action="store_true", help="no per-request access log")
    emulator.set_defaults(run=_emulator)

    serve = sub.add_parser("serve", help="run the webhook service under gunicorn")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument(
        "--no-check", action="store_true", help="start without checking the credentials online"
    )
    serve.set_defaults(run=_service("serve"))
    worker = sub.add_parser("worker", help="run the background worker")
    worker.add_argument("--once", action="store_true", help="one pass, then exit")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="jobs and ticks run at once: threads of this worker, also with RQ "
        "(default: DEVIN_BRIDGE_WORKER_CONCURRENCY, else 8)",
    )
    worker.add_argument(
        "--no-check", action="store_true", help="start without checking the credentials online"
    )
    worker.set_defaults(run=_service("worker"))
    refresh = sub.add_parser("refresh", help="update the status comment of every live session")
    refresh.add_argument("--json", action="store_true", help="machine output")
    refresh.set_defaults(run=_service("refresh"))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    secrets: list[str] = []
    try:
        if getattr(args, "api", None) is not None:
            client = make_client(args, secrets)
            return int(args.api(args, client))
        return int(args.run(args))
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in SERVICE_MODULES:
            return _report(exc, secrets)
        err(
            f"devin-bridge {args.command} needs the service extra ({exc.name} is missing): "
            "pip install 'devin-bridge[service]'"
        )
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `devin-bridge sessions list | head -1`
        _silence_stdout()
        return EXIT_ERROR
    except Exception as exc:  # one line, never a traceback
        return _report(exc, secrets)


def _silence_stdout() -> None:
    import os

    # Python flushes stdout at exit; a closed pipe would print one more error then.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def make_client(args: argparse.Namespace, secrets: list[str]) -> DevinClient:
    """The API client from the environment (via Settings only), with flag overrides."""
    import os

    from bot.devin.client import DevinClient, RetryPolicy
    from bot.service.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        raise CliUsageError(str(exc)) from None
    secrets.extend(settings.secrets())
    return DevinClient(
        settings.devin_api_key,
        args.org_id or settings.devin_org_id,
        args.api_url or settings.devin_api_url,
        # A person is waiting: fewer, shorter retries than the service uses.
        retry=RetryPolicy(attempts=3, max_delay=5.0, max_retry_after=15.0),
    )


def _report(exc: Exception, secrets: list[str]) -> int:
    from bot.devin.errors import DevinConfigError, DevinError, DevinValidationError

    code = EXIT_ERROR
    if isinstance(exc, CliUsageError | DevinConfigError):
        code = EXIT_USAGE
    elif isinstance(exc, DevinValidationError) and "status" not in vars(exc):
        code = EXIT_USAGE  # refused by the client before sending: the input is wrong
    if isinstance(exc, CliUsageError | DevinError):
        message = str(exc)
    else:
        message = f"unexpected error ({type(exc).__name__}): {exc}"
    for secret in secrets:
        message = message.replace(secret, "***")
    err("error: " + (" ".join(message.split()) or type(exc).__name__))
    return code


def _whoami(args: argparse.Namespace, client: DevinClient) -> int:
    from bot.cli.output import fields, print_json, raw_of

    me = client.whoami()
    if args.json:
        data = raw_of(me)
        if args.orgs:
            data["organizations"] = [raw_of(o) for o in client.list_organizations()]
        print_json(data)
        return 0
    fields(
        [
            ("principal", me.principal_type),
            ("name", me.name),
            ("id", me.id),
            ("org", me.org_id or "(none: enterprise scope)"),
            ("api", client.base_url),
        ]
    )
    if args.orgs:
        from bot.cli.org import list_orgs

        return list_orgs(args, client)
    return 0


def _emulator(args: argparse.Namespace) -> int:
    try:
        from bot.emulator import EmulatorConfig, serve
    except ImportError as exc:
        if (exc.name or "").startswith("bot.emulator"):
            err("devin-bridge emulator is not available in this build")
            return EXIT_USAGE
        raise
    config = EmulatorConfig(session_id_form=args.session_id_form, error_style=args.error_style)
    serve(args.host, args.port, config, quiet=args.quiet)
    return 0


def _service(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        import importlib

        try:
            service_cli = importlib.import_module("bot.cli.service")
        except ImportError as exc:
            if exc.name == "bot.cli.service":
                err(f"devin-bridge {name} is not available in this build")
                return EXIT_USAGE
            raise
        return int(getattr(service_cli, name)(args))

    return run
