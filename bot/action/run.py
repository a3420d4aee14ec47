"""One run of the GitHub Action: build the engine's dependencies, dispatch on the mode
(``run`` reacts to the event, ``refresh`` updates the status comments of the
repository's live sessions), map a failure to its report, then write the outputs and
the job summary.

Exit codes: 1 only when the user must act (a bad input, a rejected key or token, a
missing permission, a wrong id); Devin or GitHub being down is reported with
``::error::`` but exits 0, as does a refused sender (``skipped=true``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.action.event import ActionEvent, EventError
from bot.action.inputs import ActionInputs
from bot.action.outputs import explain
from bot.action.process import ActionCancelled, cancellable, configure_logging
from bot.action.react import react
from bot.action.refresh import refresh
from bot.action.report import Report, blank_outputs, error_summary, publish
from bot.action.wait import Clock
from bot.action.workflow_commands import WorkflowCommands
from bot.devin.client import DevinClient
from bot.devin.errors import DevinError
from bot.engine.handlers import Deps, RunOptions
from bot.github.client import GitHubClient
from bot.github.errors import GitHubError

# The default Actions token posts comments as this account.
ACTIONS_BOT_LOGIN = "github-actions[bot]"


def run_options(inputs: ActionInputs) -> RunOptions:
    return RunOptions(
        trigger=inputs.trigger,
        label=inputs.label,
        prompt=inputs.prompt,
        playbook_id=inputs.playbook_id,
        knowledge_ids=inputs.knowledge_ids,
        repos=inputs.repos,
        tags=inputs.tags,
        title=inputs.title,
        max_acu_limit=inputs.max_acu_limit,
        structured_output_schema=inputs.structured_output_schema,
        comment=inputs.comment,
        config_path=inputs.config_path,
        # Check runs only when .github/devin.yml says `checks: true`: the workflow's
        # token must be granted `checks: write`, and a personal token cannot write them.
        checks=False,
    )


def run(
    inputs: ActionInputs,
    event: ActionEvent,
    devin: DevinClient,
    github: GitHubClient,
    *,
    environ: Mapping[str, str],
    commands: WorkflowCommands,
    clock: Clock | None = None,
) -> int:
    clock = clock or Clock()
    configure_logging(commands)
    deps = Deps(
        devin=devin,
        github=github,
        options=run_options(inputs),
        bot_login=bot_login(environ, github),
        log=logging.getLogger("devin_bridge"),
        poll_interval=inputs.poll_interval,
    )
    with cancellable():
        try:
            if inputs.mode == "refresh":
                report = refresh(inputs, event.repository, deps, commands)
            else:
                report = react(inputs, event, deps, clock, commands)
        except (DevinError, GitHubError, EventError) as err:
            message, code = explain(err)
            if isinstance(err, EventError):
                code = 1
            outputs = blank_outputs(skipped=True, reason=message)
            report = Report(code, outputs, error_summary(message), message)
        except ActionCancelled:
            message = "the run was cancelled before a session was started"
            report = Report(1, blank_outputs(skipped=True, reason=message), "", message)
    publish(report, environ, commands)
    return report.exit_code


def bot_login(environ: Mapping[str, str], github: GitHubClient) -> str:
    """Whose comments are the bridge's own: the override, the token's user (a PAT or an
    App token writes as someone else than github-actions[bot]), or the Actions bot."""
    override = (environ.get("DEVIN_BRIDGE_BOT_LOGIN") or "").strip()
    if override:
        return override
    try:
        return github.authenticated_login() or ACTIONS_BOT_LOGIN
    except GitHubError:  # the Actions token may not read /user; that is expected
        return ACTIONS_BOT_LOGIN
