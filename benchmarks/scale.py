"""Scale: one worker holding 10,000 live sessions, with change lag under twice the interval.

N sessions live in the Devin emulator ("long" scenario: running/working until changed),
each with a status comment in the GitHub fake and a store row written through the
service's store API, all carrying the deployment's tag. The store starts in the steady
state of a worker that has been running: the change feed's cursor is current and each
session's own safety read is spread over its period (the one-off first read of a new
deployment hands out every session once; that warm-up is not what this measures).

One `devin-bridge worker` process (SQLite store in a temp dir, change feed on) then holds
the fleet while a driver changes a share of the sessions each minute (an ACU figure the
comment shows) and records when each change reaches its comment.

Target: change lag (change at Devin -> comment edited) under 2 x the interval for every
change, with 10,000 live sessions.

    python benchmarks/scale.py [--sessions 10000] [--interval 10] [--duration 60] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import random
import threading
import time
from collections import Counter
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
from benchmarks.fleet import changes_this_second, devin_requests, seed_fleet

TARGET_SESSIONS = 10_000
DEPLOYMENT = "bench"


@dataclass(frozen=True)
class ScaleConfig:
    sessions: int
    interval: float
    warmup: float
    duration: float
    change_share: float = 0.01  # of the fleet per minute
    # The worker to measure; default `python -m bot worker` (override for experiments).
    worker_command: tuple[str, ...] = ()


@dataclass
class Outcome:
    sessions: int
    lag: Spread
    changes: int
    unseen: int  # changes whose comment did not show them by the end
    requests: dict[str, int]  # Devin requests in the window, by kind
    window_s: float
    seed_s: float
    passed: bool


def run_once(cfg: ScaleConfig) -> Outcome:
    from bot.emulator.config import EmulatorConfig
    from tests.support.stack import running_stack

    config = EmulatorConfig(request_log_limit=10)
    with workspace("scale") as (tmp, procs), running_stack(config) as stack:
        stack.use_scenario("long")
        db_url = f"sqlite:///{tmp / 'devin-bridge.db'}"
        started = time.time()
        comments = seed(stack, db_url, cfg)
        seed_s = time.time() - started
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
            "DEVIN_BRIDGE_DEPLOYMENT": DEPLOYMENT,
            "DEVIN_BRIDGE_GITHUB_WRITE_SPACING": "0",
            # One token here, but a fleet this size is spread over many installations:
            # the write budget per identity has its own benchmark.
            "DEVIN_BRIDGE_GITHUB_WRITES_PER_MINUTE": "1000000",
            "DEVIN_BRIDGE_GITHUB_WRITES_PER_HOUR": "10000000",
        }
        command = list(cfg.worker_command) or [PYTHON, "-m", "bot", "worker"]
        worker = procs.start("worker", command, env=env)
        watcher = Watcher(stack, comments)
        watcher.start()
        rng = random.Random(cfg.sessions)
        ids = list(comments)
        window_start = time.time() + cfg.warmup
        window_end = window_start + cfg.duration
        base: Counter[str] | None = None
        changes = 0
        try:
            while time.time() < window_end:
                if worker.poll() is not None:
                    raise RuntimeError(
                        f"the worker exited with {worker.returncode}:\n" + procs.log_tail(worker)
                    )
                now = time.time()
                if now >= window_start:
                    if base is None:
                        base = devin_requests(stack)
                    for sid in rng.sample(
                        ids, changes_this_second(rng, len(ids), cfg.change_share)
                    ):
                        changes += 1
                        acus = 10.0 + changes
                        stack.emulator.patch_session(sid, {"acus_consumed": acus})
                        watcher.expect(sid, f"{acus:.1f}", now)
                time.sleep(max(0.0, 1.0 - (time.time() - now)))
            # Changes made near the end get the same chance as the others.
            deadline = time.time() + 2 * cfg.interval
            while watcher.pending() and time.time() < deadline:
                time.sleep(0.1)
        finally:
            watcher.stop()
        end = devin_requests(stack)
        procs.stop(worker)
    lags = watcher.lags
    requests = {k: end[k] - (base or Counter()).get(k, 0) for k in end}
    lag = Spread.of(lags)
    unseen = changes - len(lags)
    passed = bool(lags) and lag.max < 2 * cfg.interval and unseen == 0
    return Outcome(cfg.sessions, lag, changes, unseen, requests, cfg.duration, seed_s, passed)


class Watcher:
    """Notices when each change shows in its comment (checks the pending ones, 10x/s)."""

    def __init__(self, stack: Any, comments: dict[str, int]) -> None:
        self.stack = stack
        self.comments = comments
        self.lags: list[float] = []
        self._pending: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def expect(self, sid: str, shown: str, at: float) -> None:
        with self._lock:
            self._pending[sid] = (shown, at)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            with self._lock:
                pending = dict(self._pending)
            now = time.time()
            for sid, (shown, at) in pending.items():
                history = self.stack.github.comment_history(self.comments[sid])
                if history and shown in history[-1]:
                    with self._lock:
                        if self._pending.get(sid) == (shown, at):
                            del self._pending[sid]
                            self.lags.append(now - at)


def seed(stack: Any, db_url: str, cfg: ScaleConfig) -> dict[str, int]:
    """N live sessions in the steady state of a running worker; returns their comment ids."""
    from bot.service.feed import deployment_tag
    from bot.service.feed_status import SAFETY_READS_PER_HOUR, cursor_key, ok_key
    from bot.service.settings import DEFAULT_SAFETY_POLL_S
    from bot.store.facade import Store

    tag = deployment_tag(DEPLOYMENT)
    period = max(DEFAULT_SAFETY_POLL_S, cfg.sessions * 3600.0 / SAFETY_READS_PER_HOUR)
    store = Store(db_url)
    store.migrate()
    rng = random.Random(cfg.sessions)
    now = time.time()
    try:
        # Each session's own safety read is due some time in its period, which the
        # safety budget stretches for a large fleet (bot/service/feed_status.py); Devin
        # last changed them a while ago, before the feed's cursor (below).
        comments = seed_fleet(
            stack,
            store,
            cfg.sessions,
            tag=tag,
            started_at=now,
            due=lambda _i: now + rng.uniform(cfg.interval, period),
            updated_at=int(now) - 600,
        )
        # The feed has been reading: its cursor is current and it counts as working.
        store.set_meta(cursor_key(tag), str(int(time.time())))
        store.set_meta(ok_key(tag), repr(time.time()))
        store.meta_setdefault("deployment_id", DEPLOYMENT)
    finally:
        store.dispose()
    return comments


def run(cfg: ScaleConfig) -> Report:
    logging_quiet()
    report = Report(f"scale (one worker, change feed, interval {cfg.interval:g} s)")
    o = run_once(cfg)
    per_hour = {k: round(v * 3600 / o.window_s) for k, v in sorted(o.requests.items())}
    total_per_hour = sum(per_hour.values())
    fixed = cfg.sessions * 3600 / cfg.interval
    report.add(f"{o.sessions} live sessions", f"seeded in {o.seed_s:.0f} s")
    report.add(
        "change lag",
        f"p50 {secs(o.lag.p50)} p99 {secs(o.lag.p99)} max {secs(o.lag.max)} over "
        f"{o.lag.count} of {o.changes} changes; not shown {o.unseen}",
    )
    report.add(
        "Devin requests",
        f"{total_per_hour} /h ({', '.join(f'{k} {v}' for k, v in per_hour.items())}); the "
        f"fixed {cfg.interval:g} s loop: {fixed:.0f} GETs/h",
    )
    report.check(
        "change lag with the fleet",
        secs(o.lag.max),
        f"< {2 * cfg.interval:g} s for {TARGET_SESSIONS} sessions",
        o.passed if cfg.sessions >= TARGET_SESSIONS else None,
    )
    report.figures = {
        "config": asdict(cfg),
        "sessions": o.sessions,
        "changes": o.changes,
        "unseen": o.unseen,
        "lag_s": o.lag.as_dict(3),
        "devin_requests_per_hour": per_hour,
        "fixed_loop_gets_per_hour": round(fixed),
        "seed_s": round(o.seed_s, 1),
        "passed": o.passed,
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=TARGET_SESSIONS, help="live sessions")
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval, s")
    parser.add_argument("--duration", type=float, default=60.0, help="measured window, s")
    parser.add_argument("--share", type=float, default=0.01, help="changing per minute (0.01)")
    parser.add_argument("--warmup", type=float, help="s before the window (default 1.5 x interval)")
    args = parser.parse_args(argv)
    if args.logs:
        keep_logs_in(args.logs)
    if args.quick:
        cfg = ScaleConfig(sessions=50, interval=1.0, warmup=2.0, duration=4.0, change_share=0.5)
    else:
        cfg = ScaleConfig(
            sessions=args.sessions,
            interval=args.interval,
            warmup=args.warmup if args.warmup is not None else 1.5 * args.interval,
            duration=args.duration,
            change_share=args.share,
        )
    return finish(run(cfg), as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
