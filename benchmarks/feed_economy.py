"""Change-feed economy: Devin requests per hour for a fleet of live sessions, and the delay
from a change to its comment edit at several session ages, on a simulated clock.

The service's own parts run against the Devin emulator and the GitHub fake over real
loopback HTTP: the store (SQLite in a temp dir), the change feed (`ChangeFeed` +
`FeedRunner`), the poller and its schedule (`Poller`, `FeedStatus`). Only the clock is
simulated (one-second steps), so an hour of a 1,000-session fleet takes a minute or so.

Compared in the same run:
- the change feed (the default),
- per-session polling (`DEVIN_BRIDGE_CHANGE_FEED=off`: each session on its own adaptive
  schedule; measured on a tenth of the fleet and scaled, since its cost is per session),
- the fixed 10-second loop of the docs (one GET per session and interval; computed).

Three fleets: idle (nothing changes after the start), sparse (20 sessions change at each
of the ages 1, 15 and 60 minutes: the delay from a change to its comment edit, by age)
and busy (10 % of the sessions change visibly each minute: what a busy fleet costs). A
change is an ACU figure the comment shows; its delay runs from the change at the emulator
until the comment shows the new figure. GitHub's rate limits are lifted in these runs
(the clock is simulated; the busy fleet's 100 edits a minute would exceed one
identity's write budget, which `budget` measures): this benchmark counts Devin's side.

Targets: an idle fleet of 1,000 costs <= 400 Devin requests an hour in all; every change
reaches its comment within 2 x the interval, at any session age.

    python benchmarks/feed_economy.py [--sessions 1000] [--minutes 62] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import Report, Spread, base_parser, finish, logging_quiet, secs
from benchmarks.fleet import SimClock, changes_this_second, devin_requests, seed_fleet

INTERVAL = 10.0
IDLE_TARGET = 400.0
AGES_MIN = (1, 15, 60)  # report the change delay of sessions about this old
AGE_WINDOW_MIN = 3.0
FIXED_LOOP_PER_SESSION_HOUR = 3600.0 / INTERVAL


@dataclass
class Sim:
    mode: str  # "feed" | "per-session"
    sessions: int
    minutes: float
    change_share: float  # of the fleet, per minute
    requests: Counter[str] = field(default_factory=Counter)
    delays: list[tuple[float, float]] = field(default_factory=list)  # (age s, delay s)
    unseen: int = 0  # changes whose comment never showed them

    def per_hour(self, scale: float = 1.0) -> float:
        return sum(self.requests.values()) * scale * 60.0 / self.minutes

    def delays_at(self, age_min: float) -> Spread:
        low, high = (age_min - AGE_WINDOW_MIN / 2) * 60, (age_min + AGE_WINDOW_MIN / 2) * 60
        return Spread.of([d for age, d in self.delays if low <= age < high])


SPARSE_PER_AGE = 20


def simulate(
    mode: str,
    sessions: int,
    minutes: float,
    change_share: float,
    seed: int,
    at_ages: tuple[float, ...] = (),
) -> Sim:
    from bot.emulator.config import EmulatorConfig
    from bot.service.deps import DepsFactory
    from bot.service.feed import ChangeFeed, FeedRunner, deployment_tag
    from bot.service.feed_status import FeedStatus
    from bot.service.poller import Poller
    from bot.service.settings import Settings
    from bot.store.facade import Store
    from tests.support.stack import running_stack

    sim = Sim(mode, sessions, minutes, change_share)
    rng = random.Random(seed)
    start = 1_800_000_000.0
    clock = SimClock(start)
    tag = deployment_tag("bench")
    config = EmulatorConfig(clock=clock, request_log_limit=10)
    with tempfile.TemporaryDirectory() as tmp, running_stack(config) as stack:
        stack.use_scenario("long")
        stack.github.set_rate_limit(limit=10**9, remaining=10**9)
        store = Store(f"sqlite:///{tmp}/bench.db", clock=clock)
        store.migrate()
        settings = Settings(
            devin_api_key=stack.devin_key,
            devin_org_id=stack.org_id,
            devin_api_url=stack.devin_url,
            github_token=stack.github_token,
            github_api_url=stack.github_url,
            github_webhook_secret="bench",
            database_url=store.url,
            poll_interval=INTERVAL,
            bot_login=stack.bot_login,
            github_write_spacing=0.0,
            # Devin's side is measured here; the write budget has its own benchmark.
            github_writes_per_minute=10**6,
            github_writes_per_hour=10**7,
            deployment="bench",
        )
        factory = DepsFactory(settings)
        comments = seed_fleet(
            stack,
            store,
            sessions,
            tag=tag,
            started_at=start,
            due=lambda _i: start + rng.uniform(0, INTERVAL),
        )
        status = FeedStatus(store, tag, INTERVAL, clock) if mode == "feed" else None
        poller = Poller(
            store,
            factory,
            owner="bench",
            lease_s=60.0,
            poll_interval=INTERVAL,
            clock=clock,
            feed=status,
        )
        runner = None
        if mode == "feed":
            feed = ChangeFeed(store, factory, tag=tag, interval=INTERVAL, clock=clock)
            runner = FeedRunner(feed, poller, store, owner="bench", lease_s=60.0)
        ids = list(comments)
        planned: dict[int, list[str]] = {}
        for age in at_ages:  # spread over an interval: reads and changes do not line up
            for sid in rng.sample(ids, min(SPARSE_PER_AGE, len(ids))):
                planned.setdefault(int(age * 60) + rng.randrange(int(INTERVAL)), []).append(sid)
        pending: dict[str, tuple[float, str]] = {}
        changes = 0
        warm = 30.0  # the first reads hand out every session once: not counted
        stack.emulator.log.reset()
        counted_from = None
        while clock.now - start < (minutes * 60.0 + warm):
            elapsed = clock.now - start
            if elapsed >= warm and counted_from is None:
                counted_from = devin_requests(stack)
            changing = planned.pop(int(elapsed), [])
            if elapsed >= warm and change_share > 0:
                changing += rng.sample(ids, changes_this_second(rng, len(ids), change_share))
            for sid in changing:
                changes += 1
                acus = 10.0 + changes
                stack.emulator.patch_session(sid, {"acus_consumed": acus})
                pending[sid] = (clock.now, f"{acus:.1f}")
            if runner is not None and runner.feed.due():
                runner.run_once()
            while poller.run_due(200):
                pass
            for sid, (changed_at, shown) in list(pending.items()):
                history = stack.github.comment_history(comments[sid])
                if history and shown in history[-1]:
                    sim.delays.append((changed_at - start, clock.now - changed_at))
                    del pending[sid]
            clock.now += 1.0
        sim.unseen = len(pending)
        end = devin_requests(stack)
        base = counted_from or Counter()
        sim.requests = Counter({k: end[k] - base.get(k, 0) for k in end})
        store.dispose()
    return sim


def run(sessions: int = 1000, minutes: float = 62.0, quick: bool = False) -> Report:
    logging_quiet()
    report = Report(f"change feed economy ({sessions} live sessions, simulated clock)")
    sample = max(10, sessions // 10)
    scale = sessions / sample
    ages = tuple(a for a in AGES_MIN if a * 60 + AGE_WINDOW_MIN * 30 < minutes * 60)
    fixed = sessions * FIXED_LOOP_PER_SESSION_HOUR
    figures: dict[str, Any] = {
        "sessions": sessions,
        "minutes": minutes,
        "interval_s": INTERVAL,
        "fixed_loop_gets_per_hour": round(fixed),
    }
    report.add("fixed 10 s loop", f"{fixed:.0f} session GETs/h (computed), delay up to 10 s")
    for fleet, share in (("idle", 0.0), ("busy", 0.10)):
        feed = simulate("feed", sessions, minutes, share, seed=1)
        old = simulate("per-session", sample, minutes, share, seed=1)
        feed_rate, old_rate = feed.per_hour(), old.per_hour(scale)
        detail = ", ".join(f"{k} {v * 60 / minutes:.0f}" for k, v in sorted(feed.requests.items()))
        report.add(f"{fleet}: change feed", f"{feed_rate:.0f} Devin requests/h ({detail})")
        report.add(
            f"{fleet}: per-session polling",
            f"{old_rate:.0f} Devin requests/h (measured on {sample} sessions x {scale:g})",
        )
        figures[fleet] = {
            "feed_requests_per_hour": round(feed_rate),
            "feed_requests_by_kind_per_hour": {
                k: round(v * 60 / minutes) for k, v in feed.requests.items()
            },
            "per_session_requests_per_hour": round(old_rate),
        }
        if fleet == "idle":
            report.check(
                "idle fleet, Devin requests/h",
                f"{feed_rate:.0f}",
                f"<= {IDLE_TARGET:.0f} for 1,000 sessions",
                feed_rate <= IDLE_TARGET if sessions >= 1000 else None,
            )
    feed = simulate("feed", sessions, minutes, 0.0, seed=2, at_ages=ages)
    old = simulate("per-session", sessions, minutes, 0.0, seed=2, at_ages=ages)
    by_age: dict[str, Any] = {}
    worst = 0.0
    for age in ages:
        f_age, o_age = feed.delays_at(age), old.delays_at(age)
        worst = max(worst, f_age.max)
        report.add(
            f"change at age ~{age} min",
            f"feed p50 {secs(f_age.p50)} max {secs(f_age.max)}; per-session p50 "
            f"{secs(o_age.p50)} max {secs(o_age.max)} ({f_age.count} changes each)",
        )
        by_age[f"{age}min"] = {"feed": f_age.as_dict(), "per_session": o_age.as_dict()}
    figures["delays_by_age"] = by_age
    figures["unseen_changes"] = {"feed": feed.unseen, "per_session": old.unseen}
    report.check(
        "change -> comment (feed)",
        secs(worst),
        f"< {2 * INTERVAL:g} s at any age",
        None if quick else worst < 2 * INTERVAL and feed.unseen == 0,
    )
    report.figures = figures
    return report


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000, help="live sessions (1000)")
    parser.add_argument("--minutes", type=float, default=62.0, help="simulated minutes (62)")
    args = parser.parse_args(argv)
    if args.quick:
        return finish(run(sessions=20, minutes=3.0, quick=True), as_json=args.json)
    return finish(run(sessions=args.sessions, minutes=args.minutes), as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
