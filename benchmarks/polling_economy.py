"""Polling economy: Devin GETs and GitHub writes per session-hour for a scripted session.

The session works for about ten minutes with a few visible changes, then waits (for an
answer, or finished) for the rest of the hour. A simulated clock drives the service's
own tick (`tracker.tick`) and its delay policy (`poller.scaled_delay`, i.e.
`polling.next_delay` at DEVIN_BRIDGE_POLL_INTERVAL=10) against the Devin emulator and
the GitHub fake over real loopback HTTP, so nothing waits in real time. The same script
is replayed with the fixed 10-second loop of the docs for comparison (360 GETs/hour).

Targets: at most a quarter of the fixed loop while idle (<= 90 GETs/hour), and exactly
one GitHub write per visible change.

    python benchmarks/polling_economy.py [--hours 1] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import Report, base_parser, finish, keep_logs_in, logging_quiet
from benchmarks.fleet import SimClock

INTERVAL = 10.0  # DEVIN_BRIDGE_POLL_INTERVAL, the service default
FIXED_LOOP_PER_HOUR = 3600.0 / INTERVAL  # the docs' "poll every 10 seconds" loop
IDLE_TARGET_PER_HOUR = FIXED_LOOP_PER_HOUR / 4
SESSION_GET = re.compile(r"^GET /v3(beta1)?/organizations/[^/]+/sessions/<[^>]+>$")
COMMENT_WRITES = (("POST", r"/issues/\d+/comments$"), ("PATCH", r"/issues/comments/\d+$"))

_PR = {"pr_url": "https://github.com/{repo}/pull/{pr_number}", "pr_state": "open"}
WORKING: list[tuple[float, dict[str, Any]]] = [
    (20, {"status": "running", "status_detail": "working", "acus": 0.2}),
    (150, {"message": "I'm on it: reading the failing test in {repo}.", "acus": 1.1}),
    (330, {"pull_request": _PR, "acus": 2.0}),
]
ENDINGS: dict[str, tuple[float, dict[str, Any]]] = {
    "waiting-for-input": (
        570,
        {
            "message": "I opened {pr_url}. Should I also update the changelog?",
            "status": "running",
            "status_detail": "waiting_for_user",
            "acus": 2.4,
            "wait_for_message": True,
        },
    ),
    "finished": (
        570,
        {
            "message": "Done: I opened {pr_url}.",
            "status": "running",
            "status_detail": "finished",
            "acus": 2.4,
        },
    ),
}
# Devin's own activity bumps `updated_at` without anything a reader would see: the
# bridge may re-read messages then, but must not edit the comment.
TOUCHES = tuple(range(60, 570, 60))
NEVER = 10**9  # after_polls: only the script (admin "advance") moves the session


@dataclass
class Run:
    """One replay of the script under one polling policy."""

    policy: str
    ending: str
    hours: float
    settle_at: float  # seconds after the start when the session stops changing
    ticks: list[tuple[float, int, int]] = field(default_factory=list)  # (t, session GETs, all)
    writes: int = 0
    creates: int = 0
    edits: int = 0
    states_seen: int = 0  # distinct consecutive visible states at poll times
    repeated_bodies: int = 0  # consecutive comment versions that show the same thing

    def gets(self, start: float = 0.0, end: float = math.inf, *, session_only: bool = True) -> int:
        return sum(
            (gets if session_only else requests)
            for t, gets, requests in self.ticks
            if start <= t < end
        )

    def per_hour(self, start: float, end: float, *, session_only: bool = True) -> float:
        span = (end - start) / 3600.0
        return self.gets(start, end, session_only=session_only) / span if span > 0 else math.nan


def replay(
    ending: str,
    policy: str,
    *,
    hours: float,
    delay_for: Callable[[Any, Any, float], float] | None = None,
) -> Run:
    """Play the script once against a fresh emulator and fake, polling by `policy`."""
    from bot.emulator import NewSession
    from bot.emulator.config import EmulatorConfig
    from bot.engine import tracker
    from bot.service import poller
    from tests.support.stack import running_stack

    start = float(int(time.time()))
    clock = SimClock(start)
    horizon = hours * 3600.0
    events = [*WORKING, ENDINGS[ending]]
    run = Run(policy=policy, ending=ending, hours=hours, settle_at=events[-1][0])
    steps = [{**spec, "after_polls": NEVER} for _, spec in events]
    with running_stack(EmulatorConfig(clock=clock)) as stack:
        emu, fake = stack.emulator, stack.github
        number = 7
        fake.add_issue(stack.repo, number, title="Flaky test: test_poll_backoff")
        emu.register_scenario({"name": "economy", "steps": steps})
        thread = f"{stack.repo}#{number}"
        created = emu.create_session(
            NewSession(
                prompt="Fix the flaky test",
                tags=("devin-bridge", f"repo:{stack.repo}", f"thread:{thread}"),
                repos=(stack.repo,),
                scenario="economy",
            )
        )
        session_id = str(created["session_id"])
        deps = stack.deps(clock=clock)
        state = tracker.TrackState(
            session_id=session_id,
            repo=stack.repo,
            number=number,
            comment_id=None,
            requested_by="octocat",
            trigger_url=None,
            started_at=start,
        )
        emu.log.reset()
        fake.clear_log()
        pending: list[tuple[float, dict[str, Any] | None]] = sorted(
            [*events, *((t, None) for t in TOUCHES)], key=lambda e: e[0]
        )
        last_visible: tuple[Any, ...] | None = None
        while clock.now - start < horizon:
            elapsed = clock.now - start
            while pending and pending[0][0] <= elapsed:
                _, step = pending.pop(0)
                if step is None:
                    emu.patch_session(session_id, {"updated_at": int(clock())})
                else:
                    emu.advance(session_id, steps=1)
            visible = _visible(emu, session_id)
            if visible != last_visible:
                run.states_seen += 1
                last_visible = visible
            before = _session_gets(emu), emu.log.stats()["total"]
            result = tracker.tick(state, deps)
            after = _session_gets(emu), emu.log.stats()["total"]
            run.ticks.append((elapsed, after[0] - before[0], after[1] - before[1]))
            state = result.state
            if result.done:
                break
            if delay_for is None:
                delay = poller.scaled_delay(
                    result.session, state.unchanged_polls, clock.now - start, INTERVAL
                )
            else:
                delay = delay_for(result.session, state, clock.now - start)
            clock.now += delay
        run.creates = len(fake.requests("POST", COMMENT_WRITES[0][1]))
        run.edits = len(fake.requests("PATCH", COMMENT_WRITES[1][1]))
        run.writes = run.creates + run.edits
        if state.comment_id is not None:
            history = fake.comment_history(state.comment_id)
            shown = [_without_elapsed(body) for body in history]
            run.repeated_bodies = sum(1 for a, b in itertools.pairwise(shown) if a == b)
    return run


def _session_gets(emu: Any) -> int:
    by_route: dict[str, int] = emu.log.stats()["by_route"]
    return sum(n for route, n in by_route.items() if SESSION_GET.match(route))


def _visible(emu: Any, session_id: str) -> tuple[Any, ...]:
    """What a reader of the status comment could tell apart (no timestamps)."""
    from bot.emulator.pagination import PageRequest

    debug = emu.session_debug(session_id)
    messages = emu.list_messages(session_id, PageRequest(first=200))["items"]
    prs = tuple((p.get("pr_url"), p.get("pr_state")) for p in debug.get("pull_requests") or [])
    return (
        debug.get("status"),
        debug.get("status_detail"),
        prs,
        round(float(debug.get("acus_consumed") or 0.0), 2),
        len(messages),
    )


_ELAPSED = re.compile(r"\b\d+\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\b")


def _without_elapsed(body: str) -> str:
    return _ELAPSED.sub("#", body)


def fixed_loop(_session: Any, _state: Any, _age: float) -> float:
    return INTERVAL


def run(hours: float = 1.0, endings: Sequence[str] = tuple(ENDINGS)) -> Report:
    logging_quiet()
    report = Report("polling economy (simulated clock, one session)")
    figures: dict[str, Any] = {"interval_s": INTERVAL, "hours": hours, "scripts": {}}
    for ending in endings:
        smart = replay(ending, "service", hours=hours)
        fixed = replay(ending, "fixed-10s", hours=hours, delay_for=fixed_loop)
        horizon = hours * 3600.0
        idle_from = smart.settle_at
        idle_rate = smart.per_hour(idle_from, horizon)
        total_rate = smart.gets() / hours
        all_requests = smart.gets(session_only=False) / hours
        fixed_rate = fixed.gets() / hours
        label = f"{ending}:"
        report.add(
            f"{label} service policy",
            f"{total_rate:.0f} Devin session GETs/h ({all_requests:.0f} Devin requests/h "
            f"with messages and attachments); idle {idle_rate:.1f} GETs/h after "
            f"{idle_from / 60:.1f} min",
        )
        report.add(
            f"{label} fixed 10 s loop",
            f"{fixed_rate:.0f} Devin session GETs/h ({fixed.gets(session_only=False) / hours:.0f} "
            f"requests/h), {fixed.writes} GitHub writes",
        )
        report.add(
            f"{label} GitHub writes",
            f"{smart.writes} ({smart.creates} create + {smart.edits} edits) for "
            f"{smart.states_seen} distinct visible states; consecutive repeats "
            f"{smart.repeated_bodies}",
        )
        report.check(
            f"idle GETs/h ({ending})",
            f"{idle_rate:.1f}",
            f"<= {IDLE_TARGET_PER_HOUR:.0f} (1/4 of {FIXED_LOOP_PER_HOUR:.0f})",
            idle_rate <= IDLE_TARGET_PER_HOUR,
        )
        report.check(
            f"writes per visible change ({ending})",
            f"{smart.writes}/{smart.states_seen}",
            "exactly 1",
            smart.writes == smart.states_seen and smart.repeated_bodies == 0,
        )
        figures["scripts"][ending] = {
            "service": {
                "session_gets_per_hour": round(total_rate, 1),
                "devin_requests_per_hour": round(all_requests, 1),
                "idle_session_gets_per_hour": round(idle_rate, 1),
                "idle_from_s": idle_from,
                "github_writes": smart.writes,
                "comment_creates": smart.creates,
                "comment_edits": smart.edits,
                "visible_states": smart.states_seen,
                "repeated_bodies": smart.repeated_bodies,
                "ticks": len(smart.ticks),
            },
            "fixed_10s": {
                "session_gets_per_hour": round(fixed_rate, 1),
                "devin_requests_per_hour": round(fixed.gets(session_only=False) / hours, 1),
                "github_writes": fixed.writes,
                "ticks": len(fixed.ticks),
            },
        }
    report.figures = figures
    return report


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=1.0, help="simulated length (default 1)")
    parser.add_argument(
        "--ending", choices=tuple(ENDINGS), action="append", help="only this script (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.logs:
        keep_logs_in(args.logs)
    endings = tuple(args.ending or ENDINGS)
    if args.quick:
        report = run(hours=0.5, endings=endings[:1])
    else:
        report = run(hours=args.hours, endings=endings)
    return finish(report, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
