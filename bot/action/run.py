"""One run of the GitHub Action: react to the event (mode ``run``) or refresh the status
comments of the repository's live sessions (mode ``refresh``), then write the outputs
and the job summary.

Exit codes: 1 only when the user must act (a bad input, a rejected key or token, a
missing permission, a wrong id); Devin or GitHub being down is reported with
``::error::`` but exits 0, as does a refused sender (``skipped=true``).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType

from bot.action.event import ActionEvent, EventError
from bot.action.inputs import ActionInputs
from bot.action.report import Report, blank_outputs, error_summary, publish
from bot.action.workflow_commands import WorkflowCommands
from bot.core import comments, polling
from bot.core.comments import STOPPED_MARKER, AttachmentView, StatusView
from bot.core.devin_models import (
    STATE_FAILED,
    STATE_QUEUED,
    STATE_STILL_RUNNING,
    STATE_STOPPED,
    STATE_WORKING,
    Attachment,
    Session,
)
from bot.core.events import Ignored, Trigger, classify
from bot.core.markdown import code_span, escape_text, link, table_cell
from bot.devin.attachments import save_attachments
from bot.devin.client import DevinClient
from bot.devin.errors import (
    DevinAuthError,
    DevinConfigError,
    DevinError,
    DevinForbidden,
    DevinNotFound,
    DevinValidationError,
)
from bot.engine.handlers import Deps, Outcome, RunOptions, handle
from bot.engine.threads import (
    BRIDGE_TAG,
    find_status_comment,
    repo_tag,
    requester_in,
    trigger_url_in,
)
from bot.engine.tracker import TickResult, TrackState, tick
from bot.engine.transient import retry_for
from bot.github.client import GitHubClient
from bot.github.errors import GitHubAuthError, GitHubError, GitHubForbidden, GitHubRateLimited

# The default Actions token posts comments as this account.
ACTIONS_BOT_LOGIN = "github-actions[bot]"
THREAD_TAG_PREFIX = "thread:"
# Attempts of the whole trigger when Devin or GitHub is briefly down or rate limiting
# (safe: the handler finds what an earlier attempt created).
HANDLE_ATTEMPTS = 3
MAX_RETRY_WAIT_S = 60.0
# Right after a follow-up the session may still show its previous, settled state.
FOLLOW_UP_GRACE_POLLS = 6

# The user has to change something (a key, a token, a permission, an id) for these.
_USER_MUST_ACT: tuple[type[Exception], ...] = (
    DevinAuthError,
    DevinForbidden,
    DevinConfigError,
    DevinNotFound,
    DevinValidationError,
    GitHubAuthError,
)


class ActionCancelled(Exception):
    """The runner asked the container to stop (the job was cancelled or timed out)."""


@dataclass(frozen=True)
class Clock:
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Waited:
    track: TrackState
    session: Session | None
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None


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


def session_outputs(
    session: Session, *, state: str, comment_id: int | None, reason: str = ""
) -> dict[str, str]:
    outputs = blank_outputs(skipped=False, reason=reason)
    structured = session.structured_output
    outputs.update(
        {
            "session-id": session.session_id,
            "session-url": session.url,
            "status": session.status,
            "status-detail": session.status_detail or "",
            "state": state,
            "pull-request-urls": "\n".join(pr.url for pr in session.pull_requests),
            "acus-consumed": f"{session.acus_consumed:g}",
            "structured-output": json.dumps(structured, sort_keys=True) if structured else "",
            "comment-id": str(comment_id) if comment_id else "",
        }
    )
    return outputs


def explain(err: BaseException) -> tuple[str, int]:
    """A one-line message that says what to fix, and the exit code."""
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    message = " ".join(str(message).split())
    if isinstance(err, _USER_MUST_ACT):
        return message, 1
    if isinstance(err, GitHubForbidden) and not isinstance(err, GitHubRateLimited):
        return (
            f"{message}. The job needs `permissions:` issues: write and pull-requests: write "
            "(or a github-token that has them)",
            1,
        )
    return message, 0


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
        bot_login=bot_login(environ, github),
        log=logging.getLogger("devin_bridge"),
        poll_interval=inputs.poll_interval,
    )
    with _cancellable():
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
        waited = wait_for(
            outcome.track, deps, inputs, clock, followed_up=outcome.action == "followed_up"
        )
        session = waited.session or session
    track = waited.track if waited else outcome.track
    stopped = outcome.action == "stopped" or bool(track and track.stopped)
    timed_out = bool(waited and (waited.timed_out or waited.cancelled))
    state = _state(session, stopped=stopped, timed_out=timed_out)
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


def wait_for(
    track: TrackState,
    deps: Deps,
    inputs: ActionInputs,
    clock: Clock,
    *,
    followed_up: bool = False,
) -> Waited:
    """Tick until the session settles or ``timeout-minutes`` pass. The tick after the
    deadline (or a cancellation) finalises the comment as still running."""
    deadline = clock.monotonic() + inputs.timeout_seconds
    session: Session | None = None
    polls, failures = 0, 0
    seen_active = not followed_up
    while True:
        timed_out = clock.monotonic() >= deadline
        try:
            result: TickResult = tick(track, deps, timed_out=timed_out)
        except ActionCancelled:
            return _finalise(track, deps, session)
        except (DevinError, GitHubError) as err:
            failures += 1
            retry = retry_for(err, failures, base=inputs.poll_interval)
            if retry is None:
                raise
            if timed_out:
                return Waited(track, session, timed_out=True, error=explain(err)[0])
            deps.log.warning("%s; polling again in %.1f s", retry.reason, retry.delay)
            if not _nap(clock, min(retry.delay, _left(deadline, clock))):
                return _finalise(track, deps, session)
            continue
        failures = 0
        polls += 1
        track, session = result.state, result.session
        if result.done or timed_out:
            return Waited(track, session, timed_out=timed_out and not result.settled)
        # After a follow-up the session may still show its old settled state for a poll
        # or two; a usage-limit suspension, though, no message can lift.
        grace = (
            result.settled
            and not seen_active
            and polls <= FOLLOW_UP_GRACE_POLLS
            and not result.session.blocked_by_usage
        )
        if result.settled and not grace:
            return Waited(track, session)
        seen_active = seen_active or not result.settled
        delay = inputs.poll_interval if grace else wait_delay(result, deps, inputs)
        if not _nap(clock, min(delay, _left(deadline, clock))):
            return _finalise(track, deps, session)


def wait_delay(result: TickResult, deps: Deps, inputs: ActionInputs) -> float:
    """The polling policy, scaled so that ``poll-interval`` may be under a second."""
    base = max(inputs.poll_interval, 1.0)
    age = max(0.0, deps.clock() - result.state.started_at)
    delay = polling.next_delay(result.session, result.state.unchanged_polls, age, base=base)
    return delay * (inputs.poll_interval / base)


def _nap(clock: Clock, seconds: float) -> bool:
    """Sleep; False when the runner cancelled the run meanwhile."""
    try:
        clock.sleep(max(0.0, seconds))
    except ActionCancelled:
        return False
    return True


def _finalise(track: TrackState, deps: Deps, session: Session | None) -> Waited:
    try:
        result = tick(track, deps, timed_out=True)
    except (DevinError, GitHubError, ActionCancelled):
        return Waited(track, session, cancelled=True)
    return Waited(result.state, result.session, cancelled=True)


def _left(deadline: float, clock: Clock) -> float:
    return max(0.0, deadline - clock.monotonic())


def _state(session: Session, *, stopped: bool, timed_out: bool) -> str:
    state = session.state(stopped=stopped)
    # Right after a stop Devin may still report running: the comment already says
    # stopped, so must the output.
    if stopped and state != STATE_FAILED:
        return STATE_STOPPED
    if timed_out and state in (STATE_WORKING, STATE_QUEUED):
        return STATE_STILL_RUNNING
    return state


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


# --- mode refresh ---------------------------------------------------------------------


# How long after it ended a session's comment is still brought up to date by refresh.
RECENTLY_ENDED_S = 3 * 24 * 3600.0


def refresh(inputs: ActionInputs, repo: str, deps: Deps, commands: WorkflowCommands) -> Report:
    """Poll each live session of the repository once and update its status comment when
    the session changed since the comment was last written."""
    if "/" not in repo:
        raise EventError("GITHUB_REPOSITORY is not set; mode refresh needs owner/name")
    rows: list[tuple[str, Session, str]] = []
    warnings: list[str] = []
    wanted = {repo_tag(repo), BRIDGE_TAG}
    for session in deps.devin.iter_sessions(tags=sorted(wanted)):
        if session.tags and not wanted <= set(session.tags):
            continue  # the API's tag filter semantics are undocumented
        number = thread_number(session, repo)
        if number is None:
            continue
        # Ended sessions too, while recent: their comment must show how they ended.
        if not session.is_live and deps.clock() - _epoch(session.updated_at) > RECENTLY_ENDED_S:
            continue
        try:
            found = find_status_comment(
                deps.github, repo, number, session.session_id, deps.bot_login
            )
            if found is None or not _changed_since(session, found.updated_at):
                continue
            track = TrackState(
                session_id=session.session_id,
                repo=repo,
                number=number,
                comment_id=found.id,
                requested_by=requester_in(found.body) or "",
                trigger_url=trigger_url_in(found.body),
                started_at=_epoch(session.created_at) or deps.clock(),
                stopped=STOPPED_MARKER in found.body,
                trigger=inputs.trigger,
            )
            result = tick(track, deps, session=session)
        except (DevinError, GitHubError) as err:
            message, code = explain(err)
            if code:
                raise
            warnings.append(f"session {session.session_id} on #{number}: {message}")
            continue
        state = _state(result.session, stopped=track.stopped, timed_out=False)
        rows.append((f"#{number}", result.session, state))
        commands.info(f"#{number}: session {session.session_id} is {state}")
    reason = f"refreshed {len(rows)} status comment(s)"
    lines = ["## Devin: status comments refreshed", ""]
    if rows:
        lines += ["| Thread | Session | State | ACUs |", "|---|---|---|---|"]
        lines += [
            f"| {table_cell(where)} | {link(s.session_id, s.url)} | {code_span(state)} | "
            f"{s.acus_consumed:g} |"
            for where, s, state in rows
        ]
    else:
        lines.append("No live session changed since its status comment was written.")
    summary = "\n".join(lines) + "\n"
    return Report(0, blank_outputs(skipped=False, reason=reason), summary, None, tuple(warnings))


def thread_number(session: Session, repo: str) -> int | None:
    """The issue or PR number from the session's ``thread:<repo>#<n>`` tag."""
    prefix = f"{THREAD_TAG_PREFIX}{repo}#".lower()
    for tag in session.tags:
        if tag.lower().startswith(prefix) and tag[len(prefix) :].isdigit():
            return int(tag[len(prefix) :])
    return None


def _epoch(value: float) -> float:
    return float(value) / 1000.0 if value > 1e12 else float(value)


def _changed_since(session: Session, written: datetime) -> bool:
    updated = _epoch(session.updated_at)
    return not updated or updated >= written.timestamp() - 1.0


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


# --- process edge ---------------------------------------------------------------------


class _RunnerLogHandler(logging.Handler):
    """Log records go to the runner log with secrets redacted; a line that would read as
    a workflow command is defused."""

    def __init__(self, commands: WorkflowCommands) -> None:
        super().__init__(logging.INFO)
        self._commands = commands

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a malformed log call must not end the run
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
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # PyGithub and urllib3 log at INFO about retries; their lines add nothing here.
    for noisy in ("github", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def _cancellable() -> Iterator[None]:
    """Turn SIGTERM (the runner stopping the container) into ActionCancelled so the
    status comment is finalised. Python is PID 1 in the container, and PID 1 ignores
    signals it has no handler for."""
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
