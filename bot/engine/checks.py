"""Keep the "Devin" check run of each pull request a session works on up to date.

The pull requests: the thread's own when the session was started from one, and each
pull request Devin opened in the same repository (at most `MAX_PULLS`). A check run
belongs to a commit, so each write reads the pull request's head first: after Devin
pushed, a new run goes on the new head and the old one, if still in progress, is
completed as neutral. A run that completed (e.g. waiting for input) is not re-opened:
when Devin works again a new run is created on the same commit, and GitHub shows the
newest. A run whose id was lost (a later Action run) is found again by its
`external_id`, the session id.

Called only from `tracker.write_status`, i.e. only when what the status comment shows
changed. It never raises for GitHub's errors: it reports what it could not write, and
whether GitHub refused check runs altogether (a personal token, or no `checks: write`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.check_runs import CHECK_NAME, CheckRunFields, pull_number_in
from bot.core.devin_models import Session
from bot.engine.deps import Deps
from bot.github.errors import GitHubError, GitHubForbidden, GitHubNotFound

MAX_PULLS = 5
# (pull request number, head sha, check run id, completed)
CheckRef = tuple[int, str, int, bool]


@dataclass(frozen=True)
class CheckSync:
    runs: tuple[CheckRef, ...]
    ok: bool  # everything was written; False: try again on the next tick
    refused: bool = False  # GitHub does not let this token write check runs


def pulls_to_check(repo: str, thread_pull: int | None, session: Session | None) -> list[int]:
    """The pull requests whose check run shows this session."""
    numbers: list[int] = [thread_pull] if thread_pull is not None else []
    for pr in session.pull_requests if session is not None else ():
        n = pull_number_in(repo, pr.url)
        if n is not None and n not in numbers:
            numbers.append(n)
    return numbers[:MAX_PULLS]


def load_refs(raw: Iterable[Any]) -> list[CheckRef]:
    """Stored refs (JSON gives lists) as tuples; anything malformed is dropped."""
    refs: list[CheckRef] = []
    for item in raw or ():
        try:
            number, sha, run_id, done = item
            refs.append((int(number), str(sha), int(run_id), bool(done)))
        except (TypeError, ValueError):
            continue
    return refs


def sync_check_runs(
    deps: Deps,
    repo: str,
    session_id: str,
    numbers: list[int],
    fields: CheckRunFields,
    stored: Iterable[Any],
) -> CheckSync:
    refs = load_refs(stored)
    kept = [r for r in refs if r[0] not in numbers]
    ok = True
    for number in numbers:
        mine = [r for r in refs if r[0] == number]
        try:
            ref = _sync_one(deps, repo, session_id, number, fields, mine)
        except GitHubForbidden as err:
            deps.log.warning(
                "check runs are off for session %s: GitHub refused them (a GitHub App token "
                "with checks: write is needed): %s",
                session_id,
                err,
            )
            return CheckSync(tuple(refs), ok=True, refused=True)
        except GitHubError as err:
            deps.log.warning(
                "could not write the check run of %s on PR #%d: %s", session_id, number, err
            )
            ok = False
            kept += mine
            continue
        kept += [ref] if ref is not None else mine
    return CheckSync(tuple(kept), ok=ok)


def _sync_one(
    deps: Deps,
    repo: str,
    session_id: str,
    number: int,
    fields: CheckRunFields,
    mine: list[CheckRef],
) -> CheckRef | None:
    gh = deps.github
    try:
        pull = gh.pull(repo, number)
    except GitHubNotFound:
        return None
    sha = pull.head_sha
    current = next((r for r in mine if r[1] == sha), None)
    if current is None and pull.state != "open":
        return None  # no new check runs on closed pull requests
    stamp = datetime.fromtimestamp(deps.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for old in mine:
        if old[1] != sha and not old[3]:
            gh.update_check_run(repo, old[2], _superseded(fields, stamp))
    if current is None and sha:
        found = gh.find_check_run(repo, sha, CHECK_NAME, session_id)
        if found is not None:
            current = (number, sha, found.id, found.status == "completed")
    if current is None or (current[3] and not fields.completed):
        run = gh.create_check_run(repo, sha, fields.body(stamp))
    else:
        run = gh.update_check_run(repo, current[2], fields.body(stamp))
    return (number, sha, run.id, fields.completed)


def _superseded(fields: CheckRunFields, stamp: str) -> dict[str, Any]:
    return {
        "conclusion": "neutral",
        "completed_at": stamp,
        "output": {
            "title": "Moved to the newest commit",
            "summary": "Devin pushed new commits: the check run on the pull request's "
            "newest commit shows the session.\n\n" + fields.summary,
        },
    }
