"""Scale: how many live sessions one worker keeps polled with poll lag under 2x the interval.

For each N: N sessions in the Devin emulator ("long" scenario: running/working forever,
so every one stays young and due every interval, the most demanding case), each with a
status comment in the GitHub fake and a store row written through the service's store
API (a trigger job finished with its session, as the webhook path leaves it). Their
first polls are spread over one interval, as in a steady state. One `devin-bridge worker`
process (DEVIN_BRIDGE_POLL_INTERVAL, default 10 s; SQLite store in a temp dir) then polls
them. After a warm-up (the first pass, which also edits each comment once) the poll lag,
actual GET time - due time, is read from the emulator's request log for every poll made
in the measurement window (whenever it fell due), plus the lag of every poll still
overdue when the window closes.

N = 1000, 500, 250 are tried largest first (or the --sessions given); the first N that
keeps up ends the sweep, and a run that saturates the worker skips the sizes clearly
above its measured capacity.

Target: 1,000 sessions with max lag < 2 x interval.

    python benchmarks/scale.py [--sessions N] [--duration 20] [--interval 10] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import math
import random
import shlex
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.common import (
    PYTHON,
    WEBHOOK_SECRET,
    Report,
    Spread,
    base_parser,
    finish,
    keep_logs_in,
    logging_quiet,
    secs,
    workspace,
)

DEFAULT_SWEEP = (1000, 500, 250)
TARGET_SESSIONS = 1000
SESSION_ROUTE = "/v3/organizations/<org_id>/sessions/<devin_id>"
KEEP_UP_SHARE = 0.95


@dataclass(frozen=True)
class ScaleConfig:
    sessions: tuple[int, ...]
    interval: float
    warmup: float
    duration: float
    # The worker to measure; default `python -m bot worker` (override for experiments).
    worker_command: tuple[str, ...] = ()


@dataclass
class Outcome:
    sessions: int
    lag: Spread  # seconds, polls due in the window (and still-open overdue ones)
    polls: int  # GETs of sessions in the window
    needed_rate: float  # polls/s the sessions need
    achieved_rate: float  # polls/s seen in the window
    never_polled: int  # sessions without a single GET by the end
    store_lag_max: float  # the store's own oldest-overdue figure, sampled each second
    seed_s: float
    passed: bool


def run_one(n: int, cfg: ScaleConfig) -> Outcome:
    from bot.emulator.config import EmulatorConfig
    from tests.support.stack import running_stack

    per_session = (cfg.warmup + cfg.duration) / cfg.interval + 8
    config = EmulatorConfig(request_log_limit=max(10_000, int(n * per_session * 1.5)))
    with workspace("scale") as (tmp, procs), running_stack(config) as stack:
        stack.use_scenario("long")
        db_url = f"sqlite:///{tmp / 'devin-bridge.db'}"
        started = time.time()
        seeded_due = seed(stack, db_url, n, cfg.interval)
        seed_s = time.time() - started
        stack.emulator.log.reset()
        env = {
            "DEVIN_API_KEY": stack.devin_key,
            "DEVIN_ORG_ID": stack.org_id,
            "DEVIN_API_URL": stack.devin_url,
            "GITHUB_TOKEN": stack.github_token,
            "GITHUB_API_URL": stack.github_url,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "DEVIN_BRIDGE_BOT_LOGIN": stack.bot_login,
            "DATABASE_URL": db_url,
            "DEVIN_BRIDGE_POLL_INTERVAL": f"{cfg.interval:g}",
            # Only the first tick of each session edits its comment; GitHub's 1 s spacing
            # between writes would turn that warm-up pass into N seconds.
            "DEVIN_BRIDGE_GITHUB_WRITE_SPACING": "0",
        }
        # The sessions' first polls are due from now on, spread over one interval.
        shift = time.time() - min(seeded_due.values())
        _shift_due(db_url, shift)
        due0 = {sid: t + shift for sid, t in seeded_due.items()}
        command = list(cfg.worker_command) or [PYTHON, "-m", "bot", "worker"]
        worker = procs.start("worker", command, env=env)
        # The warm-up counts from the worker's first poll, not from its start: a loaded
        # machine may take seconds to boot it (a fixed wait left the window empty).
        first_poll = wait_first_poll(stack, worker, procs, timeout=60.0)
        window_start = first_poll + cfg.warmup
        window_end = window_start + cfg.duration
        sampler = StoreSampler(db_url, window_start)
        sampler.start()
        try:
            while time.time() < window_end:
                if worker.poll() is not None:
                    raise RuntimeError(
                        f"the worker exited with {worker.returncode}:\n" + procs.log_tail(worker)
                    )
                time.sleep(0.2)
        finally:
            sampler.stop()
        entries = stack.emulator.requests()
        procs.stop(worker)
        worker_log = procs.log_tail(worker, 12)
    outcome = measure(n, cfg, entries, due0, window_start, window_end, sampler.max_lag, seed_s)
    if outcome.never_polled == n:  # nothing worked: show why
        print(f"the worker polled nothing; the end of its log:\n{worker_log}", file=sys.stderr)
    return outcome


def wait_first_poll(stack: Any, worker: Any, procs: Any, *, timeout: float) -> float:
    """When the worker made its first Devin request (now, if it made none in `timeout`)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if stack.emulator.log.stats()["total"] > 0:
            return time.time()
        if worker.poll() is not None:
            raise RuntimeError(
                f"the worker exited with {worker.returncode}:\n" + procs.log_tail(worker)
            )
        time.sleep(0.05)
    return time.time()


def seed(stack: Any, db_url: str, n: int, interval: float) -> dict[str, float]:
    """N live sessions: emulator state, a status comment, and a store row each.

    Returns each session's first due time (before the shift to the worker's start)."""
    from bot.core.comment_markers import marker
    from bot.emulator import NewSession
    from bot.engine.tracker import TrackState
    from bot.service.codec import dump
    from bot.store.facade import NewJob, SessionRecord, Store

    store = Store(db_url)
    store.migrate()
    rng = random.Random(n)
    now = time.time()
    due: dict[str, float] = {}
    try:
        records: list[tuple[NewJob, SessionRecord]] = []
        for i in range(1, n + 1):
            thread = f"{stack.repo}#{i}"
            stack.github.add_issue(stack.repo, i, title=f"Scale issue {i}")
            created = stack.emulator.create_session(
                NewSession(
                    prompt=f"Work on issue {i}",
                    tags=("devin-bridge", f"repo:{stack.repo}", f"thread:{thread}"),
                    repos=(stack.repo,),
                    scenario="long",
                )
            )
            sid = str(created["session_id"])
            comment = stack.github.add_comment(
                stack.repo, i, f"{marker(sid)}\nDevin is starting…", user=stack.bot_login
            )
            track = TrackState(
                session_id=sid,
                repo=stack.repo,
                number=i,
                comment_id=comment.id,
                requested_by="octocat",
                trigger_url=None,
                started_at=now,
            )
            due[sid] = now + rng.uniform(0.0, interval)
            records.append(
                (
                    NewJob(
                        dedupe_key=f"benchmark:{sid}",
                        kind="trigger",
                        thread_key=thread,
                        payload="{}",
                    ),
                    SessionRecord(
                        session_id=sid,
                        thread_key=thread,
                        repo=stack.repo,
                        number=i,
                        installation_id=None,
                        comment_id=comment.id,
                        track=dump(track),
                        status="new",
                        status_detail=None,
                        state="queued",
                        next_poll_at=due[sid],
                    ),
                )
            )
        owner = "benchmark-seed"
        by_key = {job.dedupe_key: rec for job, rec in records}
        for job, _ in records:
            store.enqueue_job(job)
        while True:
            claims = store.claim_jobs(owner, 600.0, 500)
            if not claims:
                break
            for claim in claims:
                store.finish_job(claim, result="created", session=by_key[claim.dedupe_key])
    finally:
        store.dispose()
    return due


def _shift_due(db_url: str, shift: float) -> None:
    """Move every first due time by `shift` seconds (seeding took a while)."""
    import sqlalchemy as sa

    from bot.store.facade import Store
    from bot.store.schema import sessions

    store = Store(db_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(sa.update(sessions).values(next_poll_at=sessions.c.next_poll_at + shift))
    finally:
        store.dispose()


class StoreSampler:
    """The store's own `poll_lag_seconds` (oldest overdue session), once a second."""

    def __init__(self, db_url: str, start: float) -> None:
        self.db_url = db_url
        self.start_at = start
        self.max_lag = math.nan
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        from bot.store.facade import Store

        store = Store(self.db_url)
        try:
            while not self._stop.wait(1.0):
                if time.time() < self.start_at:
                    continue
                try:
                    lag = float(store.counts()["poll_lag_seconds"])
                except Exception:  # busy database: skip this sample
                    continue
                self.max_lag = lag if math.isnan(self.max_lag) else max(self.max_lag, lag)
        finally:
            store.dispose()


def measure(
    n: int,
    cfg: ScaleConfig,
    entries: Sequence[dict[str, Any]],
    due0: dict[str, float],
    window_start: float,
    window_end: float,
    store_lag_max: float,
    seed_s: float,
) -> Outcome:
    from bot.emulator.ids import bare_session_id

    polls: dict[str, list[float]] = defaultdict(list)
    for e in entries:
        if e.get("method") == "GET" and e.get("route") == SESSION_ROUTE:
            polls[bare_session_id(e["path"].rsplit("/", 1)[-1])].append(float(e["ts"]))
    lags: list[float] = []
    in_window = 0
    for sid, first_due in due0.items():
        times = sorted(polls.get(bare_session_id(sid), []))
        due = first_due
        for t in times:
            if t >= window_start and due < window_end:
                lags.append(max(0.0, t - due))
            if window_start <= t < window_end:
                in_window += 1
            due = t + cfg.interval  # young sessions are due one interval after a poll
        if due < window_end:
            lags.append(window_end - due)  # still waiting when the window closed
    lag = Spread.of(lags)
    never = sum(1 for sid in due0 if not polls.get(bare_session_id(sid)))
    needed, achieved = n / cfg.interval, in_window / cfg.duration
    # A short window can hide a slowly growing backlog: keeping up also means polling
    # (nearly) as often as the sessions need.
    passed = (
        not math.isnan(lag.max)
        and lag.max < 2 * cfg.interval
        and never == 0
        and achieved >= KEEP_UP_SHARE * needed
    )
    return Outcome(
        sessions=n,
        lag=lag,
        polls=in_window,
        needed_rate=needed,
        achieved_rate=achieved,
        never_polled=never,
        store_lag_max=store_lag_max,
        seed_s=seed_s,
        passed=passed,
    )


def run(cfg: ScaleConfig) -> Report:
    logging_quiet()
    report = Report(f"scale (one worker, poll interval {cfg.interval:g} s)")
    outcomes: list[Outcome] = []
    skipped: list[int] = []
    # Largest first: the first N that keeps up answers the question. A saturated run
    # also tells the worker's capacity, so sizes clearly above it are not tried.
    capacity = math.inf
    for n in sorted(set(cfg.sessions), reverse=True):
        if n > 0.9 * capacity:
            skipped.append(n)
            continue
        outcome = run_one(n, cfg)
        outcomes.append(outcome)
        lag = outcome.lag
        report.add(
            f"{n} sessions",
            f"lag p50 {secs(lag.p50)} p99 {secs(lag.p99)} max {secs(lag.max)}; "
            f"{outcome.achieved_rate:.1f} polls/s of {outcome.needed_rate:.1f} needed; "
            f"never polled {outcome.never_polled}; store max overdue "
            f"{secs(outcome.store_lag_max)}; seeded in {outcome.seed_s:.0f} s"
            f"  -> {'ok' if outcome.passed else 'TOO SLOW'}",
        )
        if outcome.passed:
            break
        if outcome.achieved_rate < KEEP_UP_SHARE * outcome.needed_rate:
            capacity = min(capacity, outcome.achieved_rate * cfg.interval)
    if skipped:
        report.add(
            "not tried",
            f"{', '.join(map(str, sorted(skipped)))} sessions (above the measured capacity)",
        )
    passing = [o.sessions for o in outcomes if o.passed]
    best = max(passing) if passing else 0
    report.add(
        "largest N kept up",
        f"{best} sessions (max lag < {2 * cfg.interval:g} s, >= {KEEP_UP_SHARE:.0%} of the "
        f"polls needed); window {cfg.duration:g} s after {cfg.warmup:g} s warm-up",
    )
    saturated = [o for o in outcomes if o.achieved_rate < KEEP_UP_SHARE * o.needed_rate]
    if saturated:
        top = saturated[-1].achieved_rate
        report.add(
            "worker capacity",
            f"saturated at {top:.1f} polls/s, i.e. about {top * cfg.interval:.0f} young "
            f"sessions at a {cfg.interval:g} s interval",
        )
    report.check(
        "sessions per worker",
        str(best),
        f">= {TARGET_SESSIONS} at max lag < 2 x interval",
        best >= TARGET_SESSIONS if max(cfg.sessions) >= TARGET_SESSIONS else None,
    )
    report.figures = {
        "config": asdict(cfg),
        "largest_passing": best,
        "not_tried": sorted(skipped),
        "capacity_polls_per_s": round(saturated[-1].achieved_rate, 2) if saturated else None,
        "runs": [
            {
                "sessions": o.sessions,
                "lag_s": o.lag.as_dict(3),
                "polls_in_window": o.polls,
                "needed_polls_per_s": round(o.needed_rate, 2),
                "achieved_polls_per_s": round(o.achieved_rate, 2),
                "never_polled": o.never_polled,
                "store_max_overdue_s": None
                if math.isnan(o.store_lag_max)
                else round(o.store_lag_max, 3),
                "seed_s": round(o.seed_s, 2),
                "passed": o.passed,
            }
            for o in outcomes
        ],
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, action="append", help="N (repeatable)")
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval, s")
    parser.add_argument("--duration", type=float, default=20.0, help="measured window, s")
    parser.add_argument("--warmup", type=float, help="s before the window (default 1.2 x interval)")
    parser.add_argument(
        "--worker-command",
        metavar="CMD",
        help="measure this worker command instead of `python -m bot worker` (experiments)",
    )
    args = parser.parse_args(argv)
    if args.logs:
        keep_logs_in(args.logs)
    if args.quick:
        cfg = ScaleConfig(
            sessions=tuple(args.sessions or (20,)), interval=1.0, warmup=2.0, duration=3.0
        )
    else:
        cfg = ScaleConfig(
            sessions=tuple(args.sessions or DEFAULT_SWEEP),
            interval=args.interval,
            warmup=args.warmup if args.warmup is not None else 1.2 * args.interval,
            duration=args.duration,
            worker_command=tuple(shlex.split(args.worker_command or "")),
        )
    return finish(run(cfg), as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
