"""Mode ``run``: classify the workflow's event, hand it to the engine, optionally wait
for the session, and turn the outcome into the run's report (outputs, attachments,
job summary).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.action.event import ActionEvent
from bot.action.inputs import ActionInputs
from bot.action.outputs import explain, output_state, session_outputs
from bot.action.report import Report, blank_outputs, error_summary
from bot.action.wait import Clock, Progress, Waited, wait_for
from bot.action.workflow_commands import WorkflowCommands
from bot.core import comments
from bot.core.devin_models import STATE_STILL_RUNNING, Attachment, Session
from bot.core.events import Ignored, Trigger, classify
from bot.core.markdown import escape_text
from bot.core.status_view import AttachmentView, StatusView
from bot.devin.attachments import save_attachments
from bot.devin.client import DevinClient
from bot.devin.errors import DevinError
from bot.engine.handlers import Deps, Outcome, handle
from bot.engine.tracker import TrackState, tick
from bot.engine.transient import retry_for
from bot.github.errors import GitHubError

# Attempts of the whole trigger when Devin or GitHub is briefly down or rate limiting
# (safe: the handler finds what an earlier attempt created).
HANDLE_ATTEMPTS = 3
MAX_RETRY_WAIT_S = 60.0
# How long a run that does not wait for the session waits for its status comment.
MAX_COMMENT_WAIT_S = 120.0


def react(
    inputs: ActionInputs,
    event: ActionEvent,
    deps: Deps,
    clock: Clock,
    commands: WorkflowCommands,
) -> Report:
    """Mode ``run``: classify the event, handle it, and follow the session."""
    # Same payload shape as pull_request; it runs the base repository's workflow.
    name = "pull_request" if event.name == "pull_request_target" else event.name
    trigger = classify(name, event.payload, bot_login=deps.bot_login, prompt=inputs.prompt)
    if isinstance(trigger, Ignored):
        commands.info(f"Nothing to do: {trigger.reason}")
        return Report(0, blank_outputs(skipped=True, reason=trigger.reason), "")
    outcome = _handle(trigger, deps, clock)
    if not (inputs.wait and outcome.action in ("created", "followed_up")):
        outcome = _comment_written(outcome, deps, clock)
    session = outcome.session
    if session is None or outcome.skipped:
        return _without_session(outcome)
    if outcome.action == "failed":
        message = outcome.reason or "the session could not be followed"
        outputs = session_outputs(
            session, state=session.state(), comment_id=outcome.comment_id, reason=message
        )
        outputs["skipped"] = "true"  # nothing was created or messaged
        summary = _summary(session, outcome.track, deps, inputs, error=message)
        return Report(_failed_exit(outcome), outputs, summary, message)
    commands.info(f"Devin session {session.session_id}: {outcome.action} ({session.url})")
    waited: Waited | None = None
    if inputs.wait and outcome.track is not None and outcome.action in ("created", "followed_up"):
        commands.info(f"Waiting up to {inputs.timeout_minutes:g} min for the session to settle")
        with commands.group(f"Devin session {session.session_id}: progress"):
            waited = wait_for(
                outcome.track,
                deps,
                inputs,
                clock,
                followed_up=outcome.action == "followed_up",
                progress=Progress(commands.info, clock),
            )
        session = waited.session or session
    track = waited.track if waited else outcome.track
    stopped = outcome.action == "stopped" or bool(track and track.stopped)
    timed_out = bool(waited and (waited.timed_out or waited.cancelled))
    state = output_state(session, stopped=stopped, timed_out=timed_out)
    warnings: list[str] = [waited.error] if waited and waited.error else []
    attachments: tuple[Attachment, ...] = ()
    if waited is not None or inputs.attachments_dir:
        attachments, problem = _list_attachments(deps.devin, session)
        warnings += [problem] if problem else []
    if inputs.attachments_dir and attachments:
        warnings += _download(deps.devin, attachments, Path(inputs.attachments_dir))
    reason = ""
    if waited is not None and waited.cancelled:
        reason = "the run was cancelled while waiting; the session goes on"
    elif state == STATE_STILL_RUNNING:
        reason = f"stopped waiting after {inputs.timeout_minutes:g} min; the session goes on"
    comment_id = (track.comment_id if track else None) or outcome.comment_id
    outputs = session_outputs(session, state=state, comment_id=comment_id, reason=reason)
    summary = _summary(session, track, deps, inputs, attachments=attachments, timed_out=timed_out)
    code = 1 if waited is not None and waited.cancelled else 0
    return Report(code, outputs, summary, _config_problem(outcome, inputs), tuple(warnings))


def _config_problem(outcome: Outcome, inputs: ActionInputs) -> str | None:
    """The repository config's problem, which the handler notes on the status comment
    (the session still ran, with the defaults)."""
    note = outcome.track.note if outcome.track is not None else None
    if note and note.startswith(f"{inputs.config_path} has problems"):
        return note
    return None


def _handle(trigger: Trigger, deps: Deps, clock: Clock) -> Outcome:
    """``handle``, tried again after a short wait when Devin or GitHub is briefly away."""
    for attempt in range(1, HANDLE_ATTEMPTS + 1):
        try:
            return handle(trigger, deps)
        except (DevinError, GitHubError) as err:
            retry = retry_for(err, attempt)
            if retry is None or attempt == HANDLE_ATTEMPTS or retry.delay > MAX_RETRY_WAIT_S:
                raise
            deps.log.warning("%s; trying again in %.0f s", retry.reason, retry.delay)
            clock.sleep(retry.delay)
    raise AssertionError("unreachable")


def _comment_written(outcome: Outcome, deps: Deps, clock: Clock) -> Outcome:
    """A run that does not wait still leaves the status comment showing the state: a
    write the budget or GitHub put off is tried again here (bounded)."""
    track = outcome.track
    deadline = clock.monotonic() + MAX_COMMENT_WAIT_S
    while track is not None and track.write_failures and clock.monotonic() < deadline:
        try:
            result = tick(track, deps)
        except (DevinError, GitHubError) as err:
            deps.log.warning("could not bring the status comment up to date: %s", err)
            break
        track = result.state
        if result.write_retry_in is None:
            return replace(outcome, track=track, session=result.session)
        clock.sleep(min(result.write_retry_in, max(0.0, deadline - clock.monotonic())))
    return outcome if track is None else replace(outcome, track=track)


def _without_session(outcome: Outcome) -> Report:
    # No session was created or messaged: skipped, whatever the reason.
    reason = outcome.reason or outcome.action
    failed = outcome.action == "failed"
    outputs = blank_outputs(skipped=True, reason=reason)
    if outcome.comment_id:
        outputs["comment-id"] = str(outcome.comment_id)
    if failed:
        return Report(_failed_exit(outcome), outputs, error_summary(reason), reason)
    return Report(0, outputs, f"## Devin: no session started\n\n{escape_text(reason)}\n")


def _failed_exit(outcome: Outcome) -> int:
    return explain(outcome.error)[1] if outcome.error is not None else 0


# --- attachments ----------------------------------------------------------------------


def _list_attachments(
    devin: DevinClient, session: Session
) -> tuple[tuple[Attachment, ...], str | None]:
    try:
        found = devin.session_attachments(session.session_id)
    except DevinError as err:
        return (), f"could not list the session's attachments: {explain(err)[0]}"
    return tuple(a for a in found if a.source != "user"), None


def _download(devin: DevinClient, attachments: tuple[Attachment, ...], dest: Path) -> list[str]:
    try:
        saved = save_attachments(devin, attachments, dest)
    except OSError as err:
        return [f"attachments-dir {dest}: {err.strerror or type(err).__name__}"]
    return [f"attachment {s.name!r} was not saved: {s.skipped}" for s in saved if s.skipped]


# --- job summary ----------------------------------------------------------------------


def _summary(
    session: Session,
    track: TrackState | None,
    deps: Deps,
    inputs: ActionInputs,
    *,
    attachments: tuple[Attachment, ...] = (),
    timed_out: bool = False,
    error: str | None = None,
) -> str:
    view = StatusView(
        session=session,
        requested_by=track.requested_by if track else "",
        trigger_url=track.trigger_url if track else None,
        started_at=track.started_at if track else None,
        now=deps.clock(),
        latest_message=track.latest_message if track else None,
        attachments=tuple(AttachmentView(a.name or a.attachment_id, a.url) for a in attachments),
        stopped=bool(track and track.stopped),
        timed_out=timed_out,
        error=error,
        note=track.note if track else None,
        trigger=track.trigger if track else inputs.trigger,
    )
    return comments.job_summary(view)
