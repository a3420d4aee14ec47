"""The write budget seen from the tracker, over real HTTP (emulator + GitHub fake):
final states overtake queued progress edits, pending edits of one comment coalesce,
and starting a session never waits for the budget."""

from __future__ import annotations

import logging

from bot.core.write_budget import BudgetLimits, Priority, token_identity
from bot.engine.handlers import Deps, Outcome, handle
from bot.engine.tracker import TrackState, tick
from bot.github.budget import MemoryBudget
from bot.github.client import GitHubClient
from tests.support.stack import BOT_LOGIN, Stack


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _deps(stack: Stack, budget: MemoryBudget) -> Deps:
    github = GitHubClient.from_token(stack.github_token, base_url=stack.github_url, budget=budget)
    return Deps(
        devin=stack.devin_client(),
        github=github,
        bot_login=BOT_LOGIN,
        log=logging.getLogger("devin_bridge.tests"),
    )


def _start(stack: Stack, deps: Deps, number: int) -> Outcome:
    stack.github.add_issue(stack.repo, number, title=f"Task {number}")
    c = stack.github.add_comment(stack.repo, number, f"/devin task {number}", user="alice")
    return handle(stack.comment_trigger(c), deps)


def _spend_progress_share(budget: MemoryBudget, identity: str) -> None:
    """Other threads' progress edits use up all that progress may use of the window."""
    while budget.acquire(identity, Priority.PROGRESS, max_wait=0).granted:
        pass


def test_a_final_state_overtakes_queued_progress_edits(stack: Stack) -> None:
    stack.use_scenario("long")
    stack.allow("alice")
    clock = Clock()
    budget = MemoryBudget(BudgetLimits(per_minute=20, per_hour=500, spacing=0.0), clock)
    deps = _deps(stack, budget)
    tracks: list[TrackState] = []
    for n in range(1, 6):
        outcome = _start(stack, deps, n)
        assert outcome.action == "created" and outcome.track is not None
        tracks.append(outcome.track)
    assert all(len(stack.bot_comments(n)) == 1 for n in range(1, 6))
    _spend_progress_share(budget, token_identity(stack.github_token))
    # Every session shows progress (ACUs), but the budget keeps the rest for final states.
    for track in tracks:
        stack.emulator.patch_session(track.session_id, {"acus_consumed": 2.5})
    queued = [tick(track, deps) for track in tracks]
    assert all(r.write_retry_in is not None and r.write_retry_in > 30 for r in queued)
    assert all(not r.edited for r in queued)
    assert all("2.5" not in stack.bot_comments(n)[0]["body"] for n in range(1, 6))
    # Session 5 finishes: its edit goes out at once, ahead of the four queued ones.
    stack.emulator.patch_session(tracks[4].session_id, {"status_detail": "finished"})
    final = tick(queued[4].state, deps)
    assert final.edited and final.write_retry_in is None
    assert "Devin finished" in stack.bot_comments(5)[0]["body"]
    assert all("2.5" not in stack.bot_comments(n)[0]["body"] for n in range(1, 5))
    assert stack.github.write_stats() and not any(
        s["secondary_limited"] for s in stack.github.write_stats().values()
    )


def test_pending_edits_of_one_comment_coalesce_into_one_write(stack: Stack) -> None:
    stack.use_scenario("long")
    stack.allow("alice")
    clock = Clock()
    budget = MemoryBudget(BudgetLimits(per_minute=10, per_hour=500, spacing=0.0), clock)
    deps = _deps(stack, budget)
    outcome = _start(stack, deps, 1)
    assert outcome.track is not None and outcome.comment_id is not None
    first = tick(outcome.track, deps)
    versions = len(stack.github.comment_history(outcome.comment_id))
    _spend_progress_share(budget, token_identity(stack.github_token))
    state = first.state
    for acus in (2.5, 3.5, 4.5):  # three visible changes while the budget is spent
        stack.emulator.patch_session(state.session_id, {"acus_consumed": acus})
        result = tick(state, deps)
        assert not result.edited and result.write_retry_in is not None
        state = result.state
    assert len(stack.github.comment_history(outcome.comment_id)) == versions
    clock.now += 63  # the window has room again
    result = tick(state, deps)
    assert result.edited and result.write_retry_in is None
    history = stack.github.comment_history(outcome.comment_id)
    assert len(history) == versions + 1  # one write, of the latest view
    assert "4.5" in history[-1] and "3.5" not in history[-1]


def test_the_session_starts_when_the_budget_is_spent(stack: Stack) -> None:
    stack.use_scenario("long")
    stack.allow("alice")
    clock = Clock()
    budget = MemoryBudget(BudgetLimits(per_minute=10, per_hour=500, spacing=0.0), clock)
    deps = _deps(stack, budget)
    identity = token_identity(stack.github_token)
    while budget.acquire(identity, Priority.FINAL, max_wait=0).granted:
        pass
    outcome = _start(stack, deps, 1)
    assert outcome.action == "created" and outcome.session is not None
    assert len(stack.sessions()) == 1  # Devin is at work...
    assert stack.bot_comments(1) == []  # ...while GitHub waits for the budget
    assert stack.github.reactions(stack.github.thread_comments(stack.repo, 1)[0]["id"]) == []
    assert outcome.track is not None and outcome.track.write_failures == 1
    clock.now += 63
    later = tick(outcome.track, deps)  # the session's next tick posts the comment
    assert later.edited and len(stack.bot_comments(1)) == 1
    assert "<!-- devin-bridge:session=" in stack.bot_comments(1)[0]["body"]
