"""Mode ``refresh``: bring the status comment of each session of the repository that
changed (live, or ended recently) up to date, then summarise what was refreshed.

It reads the same change feed as the service (`bot.engine.feed`): one list call, paged,
for the sessions tagged with this repository and updated in the last three days, and
ticks each from its list item, without a GET per session. When the API is seen to ignore
the time filter it falls back to listing every session of the repository.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.action.event import EventError
from bot.action.inputs import ActionInputs
from bot.action.outputs import explain, output_state
from bot.action.report import Report, blank_outputs
from bot.action.workflow_commands import WorkflowCommands
from bot.core.comment_markers import STOPPED_MARKER
from bot.core.devin_models import Session
from bot.core.markdown import code_span, link, table_cell
from bot.devin.errors import DevinError
from bot.engine.feed import read_changes
from bot.engine.handlers import Deps
from bot.engine.threads import (
    BRIDGE_TAG,
    find_status_comment,
    repo_tag,
    requester_in,
    stopper_in,
    trigger_url_in,
)
from bot.engine.tracker import TrackState, tick
from bot.github.context import load_config
from bot.github.errors import GitHubError

THREAD_TAG_PREFIX = "thread:"
# How long after it ended a session's comment is still brought up to date by refresh.
RECENTLY_ENDED_S = 3 * 24 * 3600.0


def refresh(inputs: ActionInputs, repo: str, deps: Deps, commands: WorkflowCommands) -> Report:
    """Poll each live session of the repository once and update its status comment when
    the session changed since the comment was last written."""
    if "/" not in repo:
        raise EventError("GITHUB_REPOSITORY is not set; mode refresh needs owner/name")
    rows: list[tuple[str, Session, str]] = []
    warnings: list[str] = []
    checks: bool | None = None  # read from the repo config once, when first needed
    wanted = {repo_tag(repo), BRIDGE_TAG}
    for session in _recently_updated(repo, deps, commands):
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
            if checks is None:
                chosen = load_config(deps.github, repo, inputs.config_path, deps.log).config.checks
                checks = deps.options.checks if chosen is None else chosen
            trigger_url = trigger_url_in(found.body)
            track = TrackState(
                session_id=session.session_id,
                repo=repo,
                number=number,
                comment_id=found.id,
                requested_by=requester_in(found.body) or "",
                trigger_url=trigger_url,
                started_at=_epoch(session.created_at) or deps.clock(),
                stopped=STOPPED_MARKER in found.body,
                trigger=inputs.trigger,
                stopped_by=stopper_in(found.body),
                checks=checks,
                # The first trigger's link says whether the thread is a pull request.
                pull_request="/pull/" in (trigger_url or ""),
            )
            result = tick(track, deps, session=session)
        except (DevinError, GitHubError) as err:
            message, code = explain(err)
            if code:
                raise
            warnings.append(f"session {session.session_id} on #{number}: {message}")
            continue
        state = output_state(result.session, stopped=track.stopped, timed_out=False)
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


def _recently_updated(repo: str, deps: Deps, commands: WorkflowCommands) -> Iterable[Session]:
    """The repository's sessions updated within RECENTLY_ENDED_S, from the change feed."""
    since = int(deps.clock() - RECENTLY_ENDED_S)
    found = read_changes(deps.devin, repo_tag(repo), since, overlap_s=0)
    if found.ignored_filter is None:
        return found.changed
    commands.info(
        f"the Devin API ignored the {found.ignored_filter!r} filter of the session list; "
        "reading every session of the repository instead"
    )
    return deps.devin.iter_sessions(tags=[repo_tag(repo)])


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
