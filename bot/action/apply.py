"""The Action's ``mode: apply``: ``.devin/`` as code, like ``devin-bridge apply``.

The plan goes to the job summary; on a pull request it is also kept as one comment,
edited in place on every push. ``dry-run: true`` (the pull-request workflow) plans only.
Invalid files fail the step with one annotation per file before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.action.event import ActionEvent
from bot.action.inputs import ActionInputs
from bot.action.report import Report, blank_outputs, error_summary, publish
from bot.action.workflow_commands import WorkflowCommands
from bot.core.devin_plan import render_plan_markdown
from bot.core.markdown import escape_text
from bot.devin.client import DevinClient
from bot.devin.errors import DevinError
from bot.engine.devin_apply import apply_plan, plan_folder, read_folder
from bot.github.client import GitHubClient
from bot.github.errors import GitHubError

PLAN_MARKER = "<!-- devin-bridge:apply-plan -->"


def apply_mode(
    inputs: ActionInputs,
    event: ActionEvent,
    devin: DevinClient,
    github: GitHubClient | None,
    *,
    environ: Mapping[str, str],
    commands: WorkflowCommands,
) -> int:
    report = _run(inputs, event, devin, github, environ, commands)
    publish(report, environ, commands)
    return report.exit_code


def _run(
    inputs: ActionInputs,
    event: ActionEvent,
    devin: DevinClient,
    github: GitHubClient | None,
    environ: Mapping[str, str],
    commands: WorkflowCommands,
) -> Report:
    workspace = Path(environ.get("GITHUB_WORKSPACE") or ".")
    where = inputs.devin_dir
    folder = read_folder(workspace / where)
    problems = list(folder.problems)
    try:
        if not problems:
            plan, state, more = plan_folder(
                devin, folder, prune=inputs.prune, scope=event.repository
            )
            problems.extend(more)
    except DevinError as err:
        return _failed(str(err))
    if problems:
        said = [
            (f"{where}/{p.path}", f"{p.field}: {p.message}" if p.field else p.message)
            for p in problems
        ]
        for path, text in said:
            commands.error(text, title=path)
        message = f"{len(problems)} problem(s) in {where}; nothing was sent"
        lines = "\n".join(f"- `{path}`: {escape_text(text)}" for path, text in said)
        return Report(
            1,
            blank_outputs(skipped=True, reason=message),
            error_summary(message) + "\n" + lines + "\n",
            None,
        )
    dry = inputs.dry_run or not plan.writes
    markdown = render_plan_markdown(plan, where, scope=event.repository)
    _comment(
        inputs,
        event,
        github,
        markdown + ("\n_Plan only (dry run): nothing was changed._\n" if inputs.dry_run else ""),
        commands,
    )
    if dry:
        note = "Dry run: nothing was changed." if inputs.dry_run else "Nothing to change."
        return Report(0, blank_outputs(skipped=True, reason=note), markdown + f"\n{note}\n")
    result = apply_plan(devin, plan, state)
    done = f"Applied {len(result.applied)} of {len(plan.writes)} changes."
    if result.failed is not None:
        f = result.failed
        applied = ", ".join(f"{c.action} {c.kind} {c.name}" for c in result.applied) or "nothing"
        message = f"{f.action} {f.kind} {f.name} failed: {result.error}; applied before: {applied}"
        return Report(
            1,
            blank_outputs(skipped=False, reason=message),
            markdown + f"\n{done}\n\n❌ {escape_text(message)}\n",
            message,
        )
    return Report(0, blank_outputs(skipped=False), markdown + f"\n{done}\n")


def _failed(message: str) -> Report:
    return Report(1, blank_outputs(skipped=True, reason=message), error_summary(message), message)


def _comment(
    inputs: ActionInputs,
    event: ActionEvent,
    github: GitHubClient | None,
    markdown: str,
    commands: WorkflowCommands,
) -> None:
    """One plan comment per pull request, edited in place."""
    number = _pull_number(event)
    if github is None or number is None or not inputs.comment:
        return
    body = f"{PLAN_MARKER}\n{markdown}"
    try:
        existing = github.find_comment(event.repository, number, PLAN_MARKER)
        if existing is None:
            github.create_comment(event.repository, number, body)
        elif existing.body != body:
            github.edit_comment(event.repository, existing.id, body)
    except GitHubError as err:  # the summary still has the plan
        commands.warning(f"could not write the plan comment on #{number}: {err}")


def _pull_number(event: ActionEvent) -> int | None:
    pull = event.payload.get("pull_request")
    if isinstance(pull, Mapping) and isinstance(pull.get("number"), int):
        return int(pull["number"])
    return None
