"""One poll of a session: read it, and edit its status comment when what it shows changed.

A tick costs one GET of the session. Messages and attachments are read only
when the session itself changed (updated_at, status, detail, PRs, ACUs...) and
on the poll right after such a change; the comment is written only when
`comments.fingerprint` of the view changes. A quiet session costs one request
per poll and no GitHub writes.

A comment write that did not happen (the write budget said not yet, GitHub was limited,
answered 5xx or timed out) keeps the old fingerprint and sets `write_failures`: the
tick says when to try again (`TickResult.write_retry_in`, seconds with back-off, well
before the next poll), and that tick writes the view current by then. Pending edits of
one comment therefore coalesce into one write of the latest view.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from bot.core import comments, polling
from bot.core.check_runs import check_run_fields
from bot.core.devin_models import Attachment, Session
from bot.core.status_view import AttachmentView, StatusView
from bot.core.write_budget import Priority
from bot.devin.download import read_capped
from bot.devin.errors import DevinError, DevinRateLimited, DevinServerError, DevinUnavailable
from bot.engine.checks import pulls_to_check, sync_check_runs
from bot.engine.deps import DEFAULT_TRIGGER, Deps
from bot.engine.threads import find_status_comment
from bot.engine.transient import backoff
from bot.github.errors import (
    GitHubError,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubServerError,
    GitHubUnavailable,
)

PREVIEW_MAX_BYTES = 8 * 1024
MAX_PREVIEWS = 5
MAX_MESSAGE_PAGES = 50
MESSAGES_PAGE = 100
TRANSIENT = (DevinRateLimited, DevinUnavailable, DevinServerError)
# A failed comment write is tried again after about 1, 2, 4 ... seconds, at most a minute.
WRITE_RETRY_BASE_S = 1.0
WRITE_RETRY_CAP_S = 60.0


@dataclass(frozen=True)
class TrackState:
    """Everything needed to resume following a session after a restart (stored as JSON)."""

    session_id: str
    repo: str
    number: int | None
    comment_id: int | None
    requested_by: str
    trigger_url: str | None
    started_at: float
    fingerprint: str | None = None
    updated_at: int = 0
    message_cursor: str | None = None
    latest_message: str | None = None
    unchanged_polls: int = 0
    stopped: bool = False
    # Additions to ENGINE_API.md:
    note: str | None = None  # shown under the headline, e.g. "Follow-up from @x"
    trigger: str = DEFAULT_TRIGGER  # the repo's command word, for the comment's hints
    seen: str | None = None  # signature of the session as last read (see _signature)
    write_failures: int = 0  # comment writes in a row that did not happen (see _publish)
    stopped_by: str | None = None  # who sent `/devin stop` (shown in the comment)
    # The "Devin" check run (engine/checks.py): on or off for this session, whether the
    # thread is a pull request, the runs written (number, head sha, id, completed) and
    # the fingerprint they show.
    checks: bool = False
    pull_request: bool = False
    check_runs: tuple[tuple[int, str, int, bool], ...] = ()
    checks_fingerprint: str | None = None


@dataclass(frozen=True)
class TickResult:
    state: TrackState
    session: Session
    edited: bool
    done: bool
    settled: bool
    next_delay: float
    # The comment does not show the current view yet: tick again in this many seconds.
    write_retry_in: float | None = None


def tick(
    state: TrackState,
    deps: Deps,
    *,
    timed_out: bool = False,
    session: Session | None = None,
) -> TickResult:
    """Poll once (or use `session` when the caller just got it) and update the comment."""
    s = session if session is not None else deps.devin.get_session(state.session_id)
    signature = _signature(s, state.stopped)
    changed = signature != state.seen
    new = replace(
        state,
        seen=signature,
        updated_at=s.updated_at,
        unchanged_polls=0 if changed else state.unchanged_polls + 1,
    )
    edited = False
    retry_in: float | None = None
    # updated_at has one-second resolution: a message posted in the second of the last
    # read leaves it unchanged, so the poll after a change reads once more.
    checks_behind = state.checks and state.checks_fingerprint != state.fingerprint
    if (
        changed
        or state.unchanged_polls == 0
        or timed_out
        or state.fingerprint is None
        or state.write_failures
        or checks_behind
    ):
        latest, cursor = _latest_message(deps, s, state)
        new = replace(new, latest_message=latest, message_cursor=cursor)
        view = status_view(new, s, deps, attachments=_attachments(deps, s), timed_out=timed_out)
        new, edited, retry_in = _publish(new, view, deps)
    done = s.is_terminal or s.is_archived
    age = max(0.0, deps.clock() - state.started_at)
    delay = polling.next_delay(s, new.unchanged_polls, age, base=deps.poll_interval)
    return TickResult(
        state=new,
        session=s,
        edited=edited,
        done=done,
        settled=done or s.is_settled,
        next_delay=delay if retry_in is None else min(delay, retry_in),
        write_retry_in=retry_in,
    )


def session_started_at(session: Session, now: float) -> float:
    """When the session started, in epoch seconds (``now`` when the API did not say)."""
    created = float(session.created_at or 0)
    if created > 1e12:  # milliseconds
        created /= 1000.0
    return created or now


def status_view(
    state: TrackState,
    session: Session | None,
    deps: Deps,
    *,
    attachments: tuple[AttachmentView, ...] = (),
    timed_out: bool = False,
    error: str | None = None,
) -> StatusView:
    return StatusView(
        session=session,
        requested_by=state.requested_by,
        trigger_url=state.trigger_url,
        started_at=state.started_at,
        now=deps.clock(),
        latest_message=state.latest_message,
        attachments=attachments,
        stopped=state.stopped,
        timed_out=timed_out,
        error=error,
        note=state.note,
        trigger=state.trigger,
        stopped_by=state.stopped_by,
    )


def write_comment(
    state: TrackState,
    body: str,
    deps: Deps,
    *,
    priority: Priority = Priority.FINAL,
    max_wait: float | None = None,
) -> int | None:
    """Edit the session's status comment, or create it (after looking for it by marker).

    `priority` is the write budget's: a progress edit leaves room for final states.
    """
    if state.number is None or not deps.options.comment:
        return None
    gh = deps.github
    wait = deps.comment_write_wait if max_wait is None else max_wait
    comment_id = state.comment_id
    if comment_id is None:
        found = find_status_comment(gh, state.repo, state.number, state.session_id, deps.bot_login)
        comment_id = found.id if found is not None else None
    if comment_id is not None:
        try:
            return gh.edit_comment(
                state.repo, comment_id, body, priority=priority, max_wait=wait
            ).id
        except GitHubNotFound:
            pass  # someone deleted it: post it again
    first = max(priority, Priority.NORMAL)  # a session's first comment: not a mere edit
    return gh.create_comment(state.repo, state.number, body, priority=first, max_wait=wait).id


def write_priority(view: StatusView) -> Priority:
    """Final states (finished, failed, stopped, waiting for someone) before progress."""
    s = view.session
    if s is None or view.error or view.stopped or view.timed_out or s.is_settled:
        return Priority.FINAL
    return Priority.PROGRESS


def write_status(
    state: TrackState, view: StatusView, deps: Deps, *, force: bool = False
) -> tuple[TrackState, bool]:
    """The one GitHub write path of a session's status: its comment, then its check runs.

    Each is written only when what it shows changed (`comments.fingerprint`), or always
    with `force` (a final word after an error). Returns the new state and whether the
    comment was edited. Errors writing the comment propagate; check-run errors are
    logged and retried on the next tick (see `engine/checks.py`).
    """
    fingerprint = comments.fingerprint(view)
    new, edited = state, False
    body: str | None = None
    if state.number is None or not deps.options.comment:
        new = replace(new, fingerprint=fingerprint)
    elif force or fingerprint != state.fingerprint or state.comment_id is None:
        body = comments.render(view)
        comment_id = write_comment(state, body, deps, priority=write_priority(view))
        new, edited = replace(new, fingerprint=fingerprint, comment_id=comment_id), True
    if new.checks and (force or fingerprint != new.checks_fingerprint):
        numbers = pulls_to_check(new.repo, new.number if new.pull_request else None, view.session)
        if numbers or new.check_runs:
            fields = check_run_fields(view, body if body is not None else comments.render(view))
            done = sync_check_runs(deps, new.repo, new.session_id, numbers, fields, new.check_runs)
            new = replace(
                new,
                check_runs=done.runs,
                checks=not done.refused,
                checks_fingerprint=fingerprint if done.ok else new.checks_fingerprint,
            )
        else:
            new = replace(new, checks_fingerprint=fingerprint)
    return new, edited


# --- pieces -------------------------------------------------------------------------------


def _signature(s: Session, stopped: bool) -> str:
    """What about the session can change what the comment shows."""
    shown = [
        s.updated_at,
        s.status,
        s.status_detail,
        [(p.url, p.state) for p in s.pull_requests],
        round(s.acus_consumed, 2),
        s.is_archived,
        s.structured_output,
        stopped,
    ]
    text = json.dumps(shown, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _publish(
    state: TrackState, view: StatusView, deps: Deps
) -> tuple[TrackState, bool, float | None]:
    """Write the view where it differs from what GitHub shows (`write_status`): (state,
    edited, retry in seconds when the write has to be tried again)."""
    try:
        new, edited = write_status(state, view, deps)
    except GitHubError as err:
        # Keep the old fingerprint, so that the next try writes the view of its time.
        failures = state.write_failures + 1
        retry = _write_retry(err, failures)
        if retry is None:  # e.g. 403/422: the next visible change tries again
            deps.log.warning("could not write the status comment of %s: %s", state.session_id, err)
            return replace(state, write_failures=0), False, None
        deps.log.info(
            "status comment of %s not written yet (%s); trying again in %.1f s",
            state.session_id,
            err,
            retry,
        )
        return replace(state, write_failures=failures), False, retry
    return replace(new, write_failures=0), edited, None


def _write_retry(err: GitHubError, failures: int) -> float | None:
    """Seconds until a failed comment write is worth another try (None: not soon)."""
    if isinstance(err, GitHubRateLimited):
        return max(err.retry_after, 0.1)
    if isinstance(err, GitHubServerError | GitHubUnavailable):
        return backoff(failures, WRITE_RETRY_BASE_S, WRITE_RETRY_CAP_S)
    return None


def _latest_message(deps: Deps, s: Session, state: TrackState) -> tuple[str | None, str | None]:
    """Devin's newest message, reading on from the stored cursor.

    The API gives a null `end_cursor` on the last page, so the cursor kept is the
    last non-null one: the next read re-reads at most that last page.
    """
    latest, cursor = state.latest_message, state.message_cursor
    after = cursor
    try:
        for _ in range(MAX_MESSAGE_PAGES):
            page = deps.devin.list_messages(s.session_id, first=MESSAGES_PAGE, after=after)
            for m in page.items:
                if m.from_devin and m.message.strip():
                    latest = m.message
            if not page.end_cursor or page.end_cursor == after:
                break
            after = cursor = page.end_cursor
            if not page.has_next_page:
                break
    except TRANSIENT:
        raise
    except DevinError as err:
        deps.log.warning("could not read the messages of %s: %s", s.session_id, err)
    return latest, cursor


def _attachments(deps: Deps, s: Session) -> tuple[AttachmentView, ...]:
    try:
        found = deps.devin.session_attachments(s.session_id)
    except TRANSIENT:
        raise
    except DevinError as err:
        deps.log.warning("could not list the attachments of %s: %s", s.session_id, err)
        return ()
    views: list[AttachmentView] = []
    previews = 0
    for a in found:
        if a.source == "user":
            continue  # the requester's own uploads are not news
        preview = None
        if s.is_settled and previews < MAX_PREVIEWS and _is_text(a):
            preview = _preview(deps, a)
            previews += 1 if preview is not None else 0
        views.append(
            AttachmentView(name=a.name or a.attachment_id, url=a.url, text_preview=preview)
        )
    return tuple(views)


def _is_text(a: Attachment) -> bool:
    return (a.content_type or "").lower().startswith("text/")


def _preview(deps: Deps, a: Attachment) -> str | None:
    try:
        resp = deps.devin.open_attachment(a.url)
        try:
            kind = resp.headers.get("Content-Type") or a.content_type or ""
            if not kind.lower().startswith("text/"):
                return None
            data = read_capped(resp, PREVIEW_MAX_BYTES)
        finally:
            resp.close()
    except DevinError as err:  # too large, unsafe URL, gone: just link it
        deps.log.info("no preview for attachment %s: %s", a.name, err)
        return None
    return data.decode("utf-8", errors="replace")
