"""What an Action run hands back to the runner: outputs, annotations, the job summary.

Kept free of the engine's imports so that a bad input is reported in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.action.workflow_commands import WorkflowCommands, append_summary, write_outputs
from bot.core.markdown import escape_text

OUTPUT_NAMES = (
    "session-id",
    "session-url",
    "status",
    "status-detail",
    "state",
    "pull-request-urls",
    "acus-consumed",
    "structured-output",
    "comment-id",
    "skipped",
    "reason",
)


@dataclass(frozen=True)
class Report:
    exit_code: int
    outputs: Mapping[str, str]
    summary: str = ""
    error: str | None = None  # printed as one ::error:: line
    warnings: tuple[str, ...] = ()


def blank_outputs(*, skipped: bool, reason: str = "") -> dict[str, str]:
    """Every output, empty: they are always all written."""
    outputs = dict.fromkeys(OUTPUT_NAMES, "")
    outputs["skipped"] = "true" if skipped else "false"
    outputs["reason"] = reason
    return outputs


def error_summary(message: str) -> str:
    return f"## ❌ devin-bridge could not run\n\n{escape_text(message)}\n"


def publish(report: Report, environ: Mapping[str, str], commands: WorkflowCommands) -> None:
    """Annotations, then ``$GITHUB_OUTPUT`` (or the log, outside Actions) and
    ``$GITHUB_STEP_SUMMARY``."""
    for warning in report.warnings:
        commands.warning(warning)
    if report.error:
        commands.error(report.error)
    outputs = {name: report.outputs.get(name, "") for name in OUTPUT_NAMES}
    if not write_outputs(environ.get("GITHUB_OUTPUT"), outputs):
        with commands.group("Outputs"):
            commands.echo("\n".join(f"{k}={v}" for k, v in outputs.items()))
    append_summary(environ.get("GITHUB_STEP_SUMMARY"), report.summary)


def fail(
    environ: Mapping[str, str], commands: WorkflowCommands, message: str, *, exit_code: int
) -> int:
    """Report a problem found before any work started: all outputs, skipped=true."""
    outputs = blank_outputs(skipped=True, reason=message)
    publish(Report(exit_code, outputs, error_summary(message), message), environ, commands)
    return exit_code
