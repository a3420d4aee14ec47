"""One run of the GitHub Action: react to the event (mode ``run``) or refresh the status
comments of the repository's live sessions (mode ``refresh``), then write the outputs
and the job summary.

Exit codes: 1 only when the user must act (a bad input, a rejected key or token, a
missing permission); Devin or GitHub being down is reported with ``::error::`` but
exits 0, as does a refused sender (``skipped=true``).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from bot import comments, polling
from bot.action_inputs import ActionInputs
from bot.attachments import save_attachments
from bot.comments import AttachmentView, StatusView
from bot.devin import DevinClient
from bot.devin_errors import (
    DevinAuthError,
    DevinBadRequest,
    DevinConfigError,
    DevinError,
    DevinForbidden,
    DevinNotFound,
    DevinRateLimited,
    DevinServerError,
    DevinUnavailable,
    DevinValidationError,
)
from bot.devin_models import (
    STATE_QUEUED,
    STATE_STILL_RUNNING,
    STATE_WORKING,
    Attachment,
    Session,
)
from bot.events import Ignored, classify
from bot.github_api import GitHubClient
from bot.github_models import (
    GitHubAuthError,
    GitHubError,
    GitHubForbidden,
    GitHubRateLimited,
    GitHubServerError,
    GitHubUnavailable,
)
from bot.handlers import Deps, Outcome, RunOptions, handle
from bot.markdown import code_span, escape_text, link, table_cell
from bot.threads import BRIDGE_TAG, repo_tag
from bot.tracker import TickResult, TrackState, tick
from bot.workflow_commands import WorkflowCommands, append_summary, write_outputs

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
# Comments from the default Actions token are posted as this account.
ACTIONS_BOT_LOGIN = "github-actions[bot]"
THREAD_TAG_PREFIX = "thread:"
# Transient failures while waiting: retried until the timeout.
_RETRYABLE = (
    DevinRateLimited,
    DevinUnavailable,
    DevinServerError,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubServerError,
)
# A follow-up may still show the session's previous, settled state for a moment.
_FOLLOW_UP_GRACE_POLLS = 6


class EventError(Exception):
    """The workflow event cannot be read; the message says what to fix."""


class ActionCancelled(Exception):
    """The runner asked the container to stop (the job was cancelled or timed out)."""


@dataclass(frozen=True)
class ActionEvent:
    name: str
    payload: Mapping[str, Any] = field(repr=False)
    repository: str


@dataclass(frozen=True)
class Report:
    """What a run hands back to the runner."""

    exit_code: int
    outputs: Mapping[str, str]
    summary: str = ""
    error: str | None = None  # printed as one ::error:: line
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clock:
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


# --- reading the environment ----------------------------------------------------------


def read_event(environ: Mapping[str, str]) -> ActionEvent:
    """The triggering event from ``GITHUB_EVENT_NAME`` / ``GITHUB_EVENT_PATH``."""
    name = (environ.get("GITHUB_EVENT_NAME") or "").strip()
    path = (environ.get("GITHUB_EVENT_PATH") or "").strip()
    repository = (environ.get("GITHUB_REPOSITORY") or "").strip()
    if not name or not path:
        raise EventError(
            "GITHUB_EVENT_NAME and GITHUB_EVENT_PATH are not set: run devin-bridge as a "
            "step of a GitHub Actions workflow (uses: <owner>/devin-bridge@v1)"
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise EventError(f"the event file GITHUB_EVENT_PATH={path} cannot be read ({why})") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as err:
        raise EventError(
            f"the event file GITHUB_EVENT_PATH={path} is not valid JSON "
            f"(line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    if not isinstance(payload, dict):
        raise EventError(f"the event file GITHUB_EVENT_PATH={path} does not hold a JSON object")
    # schedule (and a few other) payloads carry neither repository nor sender.
    if not isinstance(payload.get("repository"), Mapping) and "/" in repository:
        payload["repository"] = {"full_name": repository}
    actor = (environ.get("GITHUB_ACTOR") or "").strip()
    if not isinstance(payload.get("sender"), Mapping) and actor:
        payload["sender"] = {"login": actor, "type": "Bot" if actor.endswith("[bot]") else "User"}
    repo = repository or str((payload.get("repository") or {}).get("full_name") or "")
    return ActionEvent(name=name, payload=payload, repository=repo)


def write_spacing(environ: Mapping[str, str]) -> float:
    """Seconds between GitHub writes (``DEVIN_BRIDGE_GITHUB_WRITE_SPACING``, default 1)."""
    text = (environ.get("DEVIN_BRIDGE_GITHUB_WRITE_SPACING") or "1.0").strip()
    try:
        value = float(text)
    except ValueError:
        raise EventError(
            f"DEVIN_BRIDGE_GITHUB_WRITE_SPACING must be a number of seconds, got {text!r}"
        ) from None
    return max(0.0, value)


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
    )


# --- outputs --------------------------------------------------------------------------


def blank_outputs(*, skipped: bool, reason: str = "") -> dict[str, str]:
    outputs = dict.fromkeys(OUTPUT_NAMES, "")
    outputs["skipped"] = "true" if skipped else "false"
    outputs["reason"] = reason
    return outputs


def session_outputs(
    session: Session, *, state: str, comment_id: int | None, reason: str = ""
) -> dict[str, str]:
    outputs = blank_outputs(skipped=False, reason=reason)
    outputs.update(
        {
            "session-id": session.session_id,
            "session-url": session.url,
            "status": session.status,
            "status-detail": session.status_detail or "",
            "state": state,
            "pull-request-urls": "\n".join(pr.url for pr in session.pull_requests),
            "acus-consumed": f"{session.acus_consumed:g}",
            "structured-output": (
                json.dumps(session.structured_output, sort_keys=True)
                if session.structured_output is not None
                else ""
            ),
            "comment-id": str(comment_id) if comment_id else "",
        }
    )
    return outputs


def publish(report: Report, environ: Mapping[str, str], commands: WorkflowCommands) -> None:
    """Annotations, then ``$GITHUB_OUTPUT`` and ``$GITHUB_STEP_SUMMARY``."""
    for warning in report.warnings:
        commands.warning(warning)
    if report.error:
        commands.error(report.error)
    outputs = {name: report.outputs.get(name, "") for name in OUTPUT_NAMES}
    if not write_outputs(environ.get("GITHUB_OUTPUT"), outputs):
        with commands.group("Outputs"):
            commands.echo("\n".join(f"{k}={v}" for k, v in outputs.items()))
    append_summary(environ.get("GITHUB_STEP_SUMMARY"), report.summary)


def fail(environ: Mapping[str, str], commands: WorkflowCommands, message: str, *, exit_code: int) -> int:
    """Report a problem found before any work started."""
    report = Report(
        exit_code=exit_code,
        outputs=blank_outputs(skipped=True, reason=message),
        summary=_error_summary(message),
        error=message,
    )
    publish(report, environ, commands)
    return exit_code


# --- the run --------------------------------------------------------------------------


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
        bot_login=(environ.get("DEVIN_BRIDGE_BOT_LOGIN") or "").strip() or ACTIONS_BOT_LOGIN,
        log=logging.getLogger("devin_bridge"),
    )
    with _cancellable():
        try:
            if inputs.mode == "refresh":
                report = refresh(inputs, event.repository, deps, commands)
            else:
                report = react(inputs, event, deps, clock, commands)
        except (DevinError, GitHubError) as err:
            message, code = explain(err)
            report = Report(
                code, blank_outputs(skipped=True, reason=message), _error_summary(message), message
            )
        except ActionCancelled:
            message = "the run was cancelled before a session was started"
            report = Report(1, blank_outputs(skipped=True, reason=message), "", message)
    publish(report, environ, commands)
    return report.exit_code


def react(
    inputs: ActionInputs,
    event: ActionEvent,
    deps: Deps,
    clock: Clock,
    commands: WorkflowCommands,
) -> Report:
    """Mode ``run``: classify the event, handle it, and follow the session."""
    # Same payload shape; the base repository's workflow runs it (labels on fork PRs).
    name = "pull_request" if event.name == "pull_request_target" else event.name
    trigger = classify(name, event.payload, bot_login=deps.bot_login, prompt=inputs.prompt)
    if isinstance(trigger, Ignored):
        commands.info(f"Nothing to do: {trigger.reason}")
        return Report(0, blank_outputs(skipped=True, reason=trigger.reason), "")
    outcome = handle(trigger, deps)
    if outcome.skipped or outcome.session is None:
        return _without_session(outcome)
    session = outcome.session
    if outcome.action == "failed":
        message = outcome.reason or "the session could not be followed"
        state = session.state()
        outputs = session_outputs(
            session, state=state, comment_id=outcome.comment_id, reason=message
        )
        return Report(_failed_exit(outcome), outputs, _session_summary(session, outcome, None), message)
    waited: Waited | None = None
    if inputs.wait and outcome.track is not None and outcome.action in ("created", "followed_up"):
        commands.info(f"Waiting for Devin session {session.url} (up to {inputs.timeout_minutes:g} min)")
        waited = wait_for(
            outcome.track,
            deps,
            inputs,
            clock,
            followed_up=outcome.action == "followed_up",
        )
        session = waited.session or session
    stopped = outcome.action == "stopped" or bool(waited and waited.track.stopped)
    timed_out = bool(waited and (waited.timed_out or waited.cancelled))
    state = _state(session, stopped=stopped, timed_out=timed_out)
    comment_id = (waited.track.comment_id if waited else None) or outcome.comment_id
    warnings: list[str] = []
    attachments: tuple[Attachment, ...] = ()
    if waited is not None or inputs.attachments_dir:
        attachments, warning = _attachments(deps.devin, session)
        warnings += [warning] if warning else []
    if inputs.attachments_dir and attachments:
        warnings += _download(deps.devin, attachments, Path(inputs.attachments_dir))
    if waited is not None and waited.error:
        warnings.append(waited.error)
    reason = "timed out waiting; the session is still running" if state == STATE_STILL_RUNNING else ""
    if waited is not None and waited.cancelled:
        reason = "the run was cancelled while waiting; the session goes on"
    outputs = session_outputs(session, state=state, comment_id=comment_id, reason=reason)
    latest = waited.track.latest_message if waited else None
    summary = _session_summary(
        session,
        outcome,
        latest,
        attachments=attachments,
        stopped=stopped,
        timed_out=timed_out,
        trigger_text=inputs.trigger,
        started_at=(waited.track.started_at if waited else None),
        now=deps.clock(),
    )
    code = 1 if waited is not None and waited.cancelled else 0
    return Report(code, outputs, summary, None, tuple(warnings))


@dataclass(frozen=True)
class Waited:
    track: TrackState
    session: Session | None
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None


def wait_for(
    track: TrackState,
    deps: Deps,
    inputs: ActionInputs,
    clock: Clock,
    *,
    followed_up: bool = False,
) -> Waited:
    """Tick until the session settles or ``timeout-minutes`` pass; the last tick after a
    timeout (or a cancellation) finalises the comment as still running."""
    started = clock.monotonic()
    deadline = started + inputs.timeout_seconds
    session: Session | None = None
    polls = 0
    seen_active = not followed_up
    failures = 0
    last_error: str | None = None
    while True:
        timed_out = clock.monotonic() >= deadline
        try:
            result: TickResult = tick(track, deps, timed_out=timed_out)
        except _RETRYABLE as err:
            failures += 1
            last_error = explain(err)[0]
            if timed_out:
                return Waited(track, session, timed_out=True, error=last_error)
            clock.sleep(min(_retry_delay(err, inputs.poll_interval, failures), _left(deadline, clock)))
            continue
        except ActionCancelled:
            return _finalise(track, deps, session)
        failures, last_error = 0, None
        polls += 1
        track, session = result.state, result.session
        if result.done or timed_out:
            return Waited(track, session, timed_out=timed_out and not result.settled)
        if result.settled and (seen_active or polls > _FOLLOW_UP_GRACE_POLLS):
            return Waited(track, session)
        if not result.settled:
            seen_active = True
        try:
            clock.sleep(min(wait_delay(result, track, deps, inputs), _left(deadline, clock)))
        except ActionCancelled:
            return _finalise(track, deps, session)


def wait_delay(result: TickResult, track: TrackState, deps: Deps, inputs: ActionInputs) -> float:
    """The polling policy scaled to ``poll-interval`` (fractions of a second allowed)."""
    base = max(inputs.poll_interval, 1.0)
    age = max(0.0, deps.clock() - track.started_at)
    policy = polling.next_delay(result.session, track.unchanged_polls, age, base=base)
    return policy * (inputs.poll_interval / base)


def _finalise(track: TrackState, deps: Deps, session: Session | None) -> Waited:
    try:
        result = tick(track, deps, timed_out=True)
        return Waited(result.state, result.session, cancelled=True)
    except (DevinError, GitHubError, ActionCancelled):
        return Waited(track, session, cancelled=True)


def _left(deadline: float, clock: Clock) -> float:
    return max(0.0, deadline - clock.monotonic())


def _retry_delay(err: Exception, poll_interval: float, failures: int) -> float:
    retry_after = getattr(err, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        return float(retry_after)
    return poll_interval * min(2 ** (failures - 1), 30)


def _state(session: Session, *, stopped: bool, timed_out: bool) -> str:
    state = session.state(stopped=stopped)
    if timed_out and state in (STATE_WORKING, STATE_QUEUED):
        return STATE_STILL_RUNNING
    return state


def _without_session(outcome: Outcome) -> Report:
    reason = outcome.reason or outcome.action
    if outcome.action == "failed":
        outputs = blank_outputs(skipped=True, reason=reason)
        if outcome.comment_id:
            outputs["comment-id"] = str(outcome.comment_id)
        return Report(_failed_exit(outcome), outputs, _error_summary(reason), reason)
    outputs = blank_outputs(skipped=outcome.skipped, reason=reason)
    if outcome.comment_id:
        outputs["comment-id"] = str(outcome.comment_id)
    summary = f"## Devin: nothing started\n\n{escape_text(reason)}\n"
    return Report(0, outputs, summary)


def _failed_exit(outcome: Outcome) -> int:
    error = getattr(outcome, "error", None)
    if isinstance(error, Exception):
        return explain(error)[1]
    return 0


# --- errors ---------------------------------------------------------------------------

# The user must change something (a key, a token, a permission, an id) for these.
_USER_MUST_ACT: tuple[type[Exception], ...] = (
    DevinAuthError,
    DevinForbidden,
    DevinConfigError,
    DevinNotFound,
    DevinValidationError,
    GitHubAuthError,
)


def explain(err: BaseException) -> tuple[str, int]:
    """A one-line message that says what to fix, and the exit code."""
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    message = " ".join(str(message).split())
    if isinstance(err, _USER_MUST_ACT):
        return message, 1
    if isinstance(err, GitHubForbidden) and not isinstance(err, GitHubRateLimited):
        return (
            f"{message}. Give the workflow `permissions: issues: write, pull-requests: write` "
            "(or pass a github-token that has them)",
            1,
        )
    if isinstance(err, DevinBadRequest):
        return message, 0
    return message, 0


# --- attachments ----------------------------------------------------------------------


def _attachments(devin: DevinClient, session: Session) -> tuple[tuple[Attachment, ...], str | None]:
    try:
        return devin.session_attachments(session.session_id), None
    except DevinError as err:
        return (), f"could not list the session's attachments: {explain(err)[0]}"


def _download(devin: DevinClient, attachments: tuple[Attachment, ...], dest: Path) -> list[str]:
    try:
        saved = save_attachments(devin, attachments, dest)
    except OSError as err:
        return [f"attachments-dir {dest}: {err.strerror or type(err).__name__}"]
    return [f"attachment {s.name!r} was not saved: {s.skipped}" for s in saved if s.skipped]


# --- mode refresh ---------------------------------------------------------------------


def refresh(inputs: ActionInputs, repo: str, deps: Deps, commands: WorkflowCommands) -> Report:
    """Poll every live session of the repository once and update its status comment."""
    if "/" not in repo:
        raise EventError("GITHUB_REPOSITORY is not set; mode refresh needs owner/name")
    rows: list[tuple[str, Session, str]] = []
    warnings: list[str] = []
    sessions = deps.devin.iter_sessions(tags=[repo_tag(repo), BRIDGE_TAG])
    for session in sessions:
        tags = set(session.tags)
        if tags and not {repo_tag(repo), BRIDGE_TAG} <= tags:
            continue  # the API's tag filter is undocumented: check locally too
        if not session.is_live:
            continue
        number = thread_number(session, repo)
        try:
            track = resume_track(session, repo, number, deps)
            result = tick(track, deps, session=session)
        except (DevinError, GitHubError) as err:
            message, code = explain(err)
            if code:
                raise
            warnings.append(f"session {session.session_id}: {message}")
            continue
        where = f"#{number}" if number is not None else repo
        rows.append((where, result.session, _state(result.session, stopped=False, timed_out=False)))
        commands.info(f"{where}: {result.session.session_id} {rows[-1][2]}")
    reason = f"refreshed {len(rows)} live session(s)"
    outputs = blank_outputs(skipped=False, reason=reason)
    lines = ["## Devin: status comments refreshed", ""]
    if rows:
        lines += ["| Thread | Session | State | ACUs |", "|---|---|---|---|"]
        lines += [
            f"| {table_cell(where)} | {link(s.session_id, s.url)} | {code_span(state)} | "
            f"{s.acus_consumed:g} |"
            for where, s, state in rows
        ]
    else:
        lines.append("No live sessions.")
    return Report(0, outputs, "\n".join(lines) + "\n", None, tuple(warnings))


def thread_number(session: Session, repo: str) -> int | None:
    prefix = f"{THREAD_TAG_PREFIX}{repo}#"
    for tag in session.tags:
        if tag.startswith(prefix) and tag[len(prefix) :].isdigit():
            return int(tag[len(prefix) :])
    return None


def resume_track(session: Session, repo: str, number: int | None, deps: Deps) -> TrackState:
    """Rebuild what the tracker needs from the session and its status comment."""
    comment_id: int | None = None
    requested_by = ""
    if number is not None:
        found = deps.github.find_comment(repo, number, comments.marker(session.session_id))
        if found is not None:
            comment_id = found.id
            requested_by = _requested_by(found.body)
    started = float(session.created_at) if session.created_at else deps.clock()
    return TrackState(
        session_id=session.session_id,
        repo=repo,
        number=number,
        comment_id=comment_id,
        requested_by=requested_by,
        trigger_url=None,
        started_at=started,
    )


def _requested_by(body: str) -> str:
    marker = "requested by @"
    at = body.find(marker)
    if at < 0:
        return ""
    rest = body[at + len(marker) :]
    login = ""
    for ch in rest:
        if ch.isalnum() or ch in "-[]_":
            login += ch
        else:
            break
    return login


# --- job summary ----------------------------------------------------------------------


def _session_summary(
    session: Session,
    outcome: Outcome,
    latest_message: str | None,
    *,
    attachments: tuple[Attachment, ...] = (),
    stopped: bool = False,
    timed_out: bool = False,
    trigger_text: str = "/devin",
    started_at: float | None = None,
    now: float = 0.0,
) -> str:
    track = outcome.track
    view = StatusView(
        session=session,
        requested_by=track.requested_by if track else "",
        trigger_url=track.trigger_url if track else None,
        started_at=started_at if started_at is not None else (track.started_at if track else None),
        now=now or time.time(),
        latest_message=latest_message,
        attachments=tuple(AttachmentView(a.name, a.url) for a in attachments),
        stopped=stopped,
        timed_out=timed_out,
        error=outcome.reason if outcome.action == "failed" else None,
        trigger=trigger_text,
    )
    return comments.job_summary(view)


def _error_summary(message: str) -> str:
    return f"## ❌ devin-bridge could not run\n\n{escape_text(message)}\n"


# --- process edge ---------------------------------------------------------------------


class _RunnerLogHandler(logging.Handler):
    """Log lines go to the runner log; a line that looks like a workflow command is
    defused, and secrets are redacted (WorkflowCommands.info)."""

    def __init__(self, commands: WorkflowCommands) -> None:
        super().__init__(logging.INFO)
        self._commands = commands

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a bad log call must not break the run
            text = str(record.msg)
        for line in text.splitlines() or [""]:
            if line.lstrip().startswith(("::", "##[")):
                line = "› " + line
            self._commands.info(line)


def configure_logging(commands: WorkflowCommands) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = _RunnerLogHandler(commands)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@contextmanager
def _cancellable() -> Iterator[None]:
    """Turn SIGTERM (the runner stopping the container) into ActionCancelled, so the
    status comment is finalised. Python runs as PID 1 in the container, which ignores
    signals that have no handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise ActionCancelled()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = [
    "ActionCancelled",
    "ActionEvent",
    "Clock",
    "EventError",
    "Report",
    "blank_outputs",
    "explain",
    "fail",
    "publish",
    "read_event",
    "refresh",
    "replace",
    "run",
    "run_options",
    "session_outputs",
    "wait_for",
    "write_spacing",
]
