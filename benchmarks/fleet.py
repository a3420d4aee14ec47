"""A fleet of live sessions for the benchmarks: each one in the emulator (tagged as the
bridge tags them), with its status comment in the GitHub fake and its row in the store,
written through the store's own API as the webhook path leaves it."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any


class SimClock:
    """A simulated wall clock shared by the emulator, the store and the service parts."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def seed_fleet(
    stack: Any,
    store: Any,
    count: int,
    *,
    tag: str,
    started_at: float,
    due: Callable[[int], float],
    updated_at: int | None = None,
) -> dict[str, int]:
    """`count` running sessions ("long" scenario, past its first step); returns the
    comment id of each. `due(i)` is session i's first poll time; `updated_at`, if given,
    is when Devin last changed them."""
    from bot.core.comment_markers import marker
    from bot.emulator import NewSession
    from bot.engine.tracker import TrackState
    from bot.service.codec import dump
    from bot.store.facade import NewJob, SessionRecord

    comments: dict[str, int] = {}
    records: list[tuple[NewJob, SessionRecord]] = []
    for i in range(1, count + 1):
        thread = f"{stack.repo}#{i}"
        stack.github.add_issue(stack.repo, i, title=f"Issue {i}")
        created = stack.emulator.create_session(
            NewSession(
                prompt=f"Work on issue {i}",
                tags=("devin-bridge", f"repo:{stack.repo}", f"thread:{thread}", tag),
                repos=(stack.repo,),
                scenario="long",
            )
        )
        sid = str(created["session_id"])
        stack.emulator.advance(sid, steps=1)  # running/working from the start
        if updated_at is not None:
            stack.emulator.patch_session(sid, {"updated_at": updated_at})
        body = f"{marker(sid)}\nDevin is working…"
        comments[sid] = stack.github.add_comment(stack.repo, i, body, user=stack.bot_login).id
        track = TrackState(sid, stack.repo, i, comments[sid], "octocat", None, started_at)
        record = SessionRecord(
            sid, thread, stack.repo, i, None, comments[sid], dump(track), "running",
            "working", "working", due(i),
        )  # fmt: skip
        records.append((NewJob(f"bench:{sid}", "trigger", thread, "{}"), record))
    by_key = {job.dedupe_key: rec for job, rec in records}
    for job, _ in records:
        store.enqueue_job(job)
    while claims := store.claim_jobs("benchmark-seed", 600.0, 500):
        for claim in claims:
            store.finish_job(claim, result="created", session=by_key[claim.dedupe_key])
    return comments


def changes_this_second(rng: random.Random, fleet: int, share_per_min: float) -> int:
    """How many sessions of the fleet change in one second, `share_per_min` a minute."""
    expected = fleet * share_per_min / 60.0
    whole = int(expected)
    return min(fleet, whole + (1 if rng.random() < expected - whole else 0))


def devin_requests(stack: Any) -> Counter[str]:
    """The emulator's request counts so far, by kind (list, get, messages, attachments...)."""
    counts: Counter[str] = Counter()
    for route, n in stack.emulator.log.stats()["by_route"].items():
        path = route.split(" ", 1)[-1]
        if path.endswith("/sessions"):
            kind = "list"
        elif path.endswith("/sessions/<devin_id>"):
            kind = "get"
        else:
            kind = path.rsplit("/", 1)[-1]
        counts[kind] += n
    return counts
