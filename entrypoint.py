"""The GitHub Action's entry point: ``python /app/entrypoint.py`` (Docker ENTRYPOINT).

Thin on purpose: read the inputs, mask the secrets, read the event, build the two
clients and hand over to ``bot.action.run``. Nothing escapes as a traceback: the
last ``except`` prints one redacted line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.action.workflow_commands import WorkflowCommands


def main(environ: Mapping[str, str] = os.environ) -> int:
    secret_values: tuple[str, ...] = ()
    try:
        # Imported here so that even a broken installation ends in one clear line.
        from bot.action.inputs import raw_secrets
        from bot.action.workflow_commands import WorkflowCommands

        secret_values = raw_secrets(environ)
        commands = WorkflowCommands()
        for value in secret_values:
            commands.mask(value)  # before anything else can print them
        return _run(environ, commands)
    except BaseException as err:  # the edge: never a traceback, never a secret
        if isinstance(err, SystemExit) and isinstance(err.code, int):
            return err.code
        return _last_resort(err, secret_values)


def _run(environ: Mapping[str, str], commands: WorkflowCommands) -> int:
    from bot.action.event import EventError, read_event, write_limits
    from bot.action.inputs import ActionInputError, parse_inputs
    from bot.action.report import fail

    try:
        inputs = parse_inputs(environ)
    except ActionInputError as err:
        return fail(environ, commands, str(err), exit_code=1)
    try:
        event = read_event(environ)
        limits = write_limits(environ)
    except EventError as err:
        return fail(environ, commands, str(err), exit_code=1)
    # The engine and the HTTP clients load only once the inputs are known to be good.
    from bot.action import run as action_run
    from bot.devin.client import DevinClient
    from bot.devin.errors import DevinError
    from bot.github.budget import MemoryBudget
    from bot.github.client import GitHubClient
    from bot.github.errors import GitHubError

    try:
        devin = DevinClient(inputs.devin_api_key, inputs.org_id, inputs.devin_api_url)
        github = (
            GitHubClient.from_token(
                inputs.github_token,
                base_url=(environ.get("GITHUB_API_URL") or "").strip() or "https://api.github.com",
                # One process, one token: the budget lives in memory (no store).
                budget=MemoryBudget(limits),
            )
            if inputs.github_token
            else None
        )
    except (DevinError, GitHubError) as err:
        return fail(environ, commands, str(err), exit_code=1)
    if inputs.mode == "apply":
        from bot.action.apply import apply_mode

        return apply_mode(inputs, event, devin, github, environ=environ, commands=commands)
    assert github is not None  # the inputs require a token outside mode apply
    return action_run.run(inputs, event, devin, github, environ=environ, commands=commands)


def _last_resort(err: BaseException, secret_values: tuple[str, ...]) -> int:
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    for value in secret_values:
        text = text.replace(value, "***")
    line = " ".join(text.split())[:500].replace("%", "%25")
    sys.stdout.write(f"::error::devin-bridge stopped unexpectedly ({line}); please report it\n")
    sys.stdout.flush()
    return 1


if __name__ == "__main__":
    sys.exit(main())
