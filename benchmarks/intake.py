"""Intake: acknowledgement latency and throughput of signed webhook deliveries.

`devin-bridge serve` (real gunicorn with the production worker settings, SQLite store in
a temp dir, its background process running against the Devin emulator and the GitHub
fake) is compared with a bare Flask endpoint that only reads the body and answers 202,
served by gunicorn with the same options as serve's web workers. The load is a mix of
signed deliveries from tests/fixtures/github: by default 10 % triggering `/devin`
comments (fresh comment ids, so each one queues real background work) and 90 % ignored
events, each with its own X-GitHub-Delivery, sent on loopback by keep-alive client
threads.

Two phases per server, in alternating slices (a noisy neighbour weighs on both alike):
  saturation  closed loop at --concurrency: the most the server answers (throughput)
  paced       open loop at --rate (default: half the service's saturated throughput):
              the acknowledgement latency under a steady load, queueing included

Targets (ratios within one run): service throughput >= 0.8 x bare, service p99 <= 2 x
bare. Also printed: the CPU time the servers' processes used per request (from /proc),
which depends much less on what else runs on the machine than throughput does.

    python benchmarks/intake.py [--duration 10] [--concurrency 8] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import itertools
import json
import math
import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import requests

from benchmarks.common import (
    PYTHON,
    WEBHOOK_SECRET,
    LoadResult,
    Processes,
    Report,
    RequestMaker,
    Spread,
    StackInfo,
    base_parser,
    finish,
    free_port,
    keep_logs_in,
    ms,
    run_load,
    start_stack,
    wait_http,
    workspace,
)

RATIO_TARGET = 0.80  # service throughput >= 0.8 x the bare endpoint's
P99_FACTOR_TARGET = 2.0  # service p99 <= 2 x the bare endpoint's, same phase and rate
ISSUES = tuple(range(1, 251))  # triggers rotate over 250 threads (jobs of one thread queue up)
COMMENTS_PER_ISSUE = 20  # 5,000 existing trigger comments; more triggers reuse them
COMMENT_ID_BASE = 5_000_000_000  # ids of the ignored comments (never looked up)
_ID_SENTINEL = "918273645501"
_NUMBER_SENTINEL = "8765431"


# --- the deliveries -----------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    kind: str  # "trigger" | "ignored"
    event: str
    text: str  # JSON with sentinels for the comment id and the issue number

    def body(self, comment_id: int, number: int) -> bytes:
        text = self.text.replace(_ID_SENTINEL, str(comment_id), 1)
        return text.replace(_NUMBER_SENTINEL, str(number), 1).encode()


def templates() -> tuple[Template, list[Template]]:
    """One triggering comment and the ignored events the mix rotates through."""
    from tests.support.payloads import load_payload

    def comment(body: str) -> str:
        payload = load_payload("issue_comment.created")
        payload["comment"]["id"] = int(_ID_SENTINEL)
        payload["comment"]["body"] = body
        payload["issue"]["number"] = int(_NUMBER_SENTINEL)
        return json.dumps(payload)

    trigger = Template("trigger", "issue_comment", comment("/devin fix the flaky test"))
    ignored = [
        Template("ignored", "issue_comment", comment("Thanks, this looks good to me.")),
        Template("ignored", "issues", json.dumps(load_payload("issues.opened"))),
        Template("ignored", "issue_comment", comment("I can reproduce it on main as well.")),
    ]
    for t in (trigger, *ignored):
        if t.event == "issue_comment":
            assert t.text.count(_ID_SENTINEL) == 1 and t.text.count(_NUMBER_SENTINEL) == 1
    return trigger, ignored


def delivery_maker(
    trigger_share: float, comments: Sequence[tuple[int, int]]
) -> Callable[[int], tuple[bytes, Mapping[str, str]]]:
    """Request i of the mix: signed body and GitHub's headers, a fresh delivery id each.

    Triggers name the seeded `comments` (id, issue) in turn; ignored events get ids of
    their own."""
    from bot.service.intake import signature

    trigger, ignored = templates()
    lock = threading.Lock()
    taken = itertools.count()

    def make(i: int) -> tuple[bytes, Mapping[str, str]]:
        is_trigger = math.floor((i + 1) * trigger_share) > math.floor(i * trigger_share)
        if is_trigger and comments:
            with lock:
                comment_id, number = comments[next(taken) % len(comments)]
            t = trigger
        else:
            t = trigger if is_trigger else ignored[i % len(ignored)]
            comment_id, number = COMMENT_ID_BASE + i, ISSUES[i % len(ISSUES)]
        body = t.body(comment_id, number)
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/benchmark",
            "X-GitHub-Event": t.event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "424242",
            "X-Hub-Signature-256": signature(WEBHOOK_SECRET, body),
        }

    return make


# --- the bare endpoint ----------------------------------------------------------------------


def create_bare_app() -> Any:
    """The floor: read the whole body, answer 202 (what any webhook endpoint must do)."""
    from flask import Flask, request

    app = Flask("bare")

    @app.post("/webhook")
    def webhook() -> tuple[str, int]:
        request.get_data(cache=False)
        return "", 202

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    return app


def serve_plain(kind: str, host: str, port: int, workers: int) -> None:
    """gunicorn with the options of `serve`'s web workers (bot.service.gunicorn_app:
    gunicorn_options, web_only), serving the bare endpoint ("bare") or the service's app
    alone ("app-only": intake without any background process)."""
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    from bot.service.gunicorn_app import gunicorn_options, web_only

    options = web_only(gunicorn_options(host, port, workers))  # as under `serve`
    options["proc_name"] = f"benchmark-{kind}"

    class Plain(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            if kind == "bare":
                return create_bare_app()
            from bot.service.app import create_app

            return create_app()  # settings from this process's environment

    Plain().run()


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeConfig:
    duration: float  # per phase and server, split into `rounds` slices
    rounds: int
    max_requests: int  # per slice
    concurrency: int
    rate: float | None
    workers: int
    trigger_share: float
    warmup: int
    drain: float
    background: bool = True  # False: the app alone, no in-process worker (diagnosis)

    @property
    def slice_s(self) -> float:
        return self.duration / self.rounds


def start_servers(
    tmp: Path, procs: Processes, cfg: IntakeConfig
) -> tuple[str, str, StackInfo, str]:
    stack, _ = start_stack(
        procs,
        issues=ISSUES,
        comments_per_issue=COMMENTS_PER_ISSUE,
        writers=("octocat",),
        scenario="finish",
    )
    db_url = f"sqlite:///{tmp / 'devin-bridge.db'}"
    service_port, bare_port = free_port(), free_port()
    command = ["-m", "bot", "serve"] if cfg.background else ["-m", "benchmarks.intake", "app-only"]
    service = procs.start(
        "service",
        [
            PYTHON,
            *command,
            "--host",
            "127.0.0.1",
            "--port",
            str(service_port),
            "--workers",
            str(cfg.workers),
        ],
        env={**stack.service_env(), "DATABASE_URL": db_url, "DEVIN_BRIDGE_POLL_INTERVAL": "10"},
    )
    bare = procs.start(
        "bare",
        [
            PYTHON,
            "-m",
            "benchmarks.intake",
            "bare",
            "--port",
            str(bare_port),
            "--workers",
            str(cfg.workers),
        ],
    )
    service_url = f"http://127.0.0.1:{service_port}"
    bare_url = f"http://127.0.0.1:{bare_port}"
    wait_http(service_url + "/healthz", procs, service)
    wait_http(bare_url + "/healthz", procs, bare)
    _PIDS.update({service_url: service.pid, bare_url: bare.pid})
    return service_url, bare_url, stack, db_url


_PIDS: dict[str, int] = {}  # server url -> the pid at the top of its process tree
_TICK_S = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


def tree_cpu_s(pid: int, *, background: bool = False) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by a process and its live descendants
    (Linux /proc; 0 elsewhere), as (web, background): with `background`, `pid` is serve's
    supervisor and its child without children of its own is the background process.
    Unlike throughput, this hardly depends on what else runs on the machine."""
    proc = Path("/proc")
    if not proc.is_dir():
        return 0.0, 0.0
    stats: dict[int, tuple[int, float]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK_S)
    children: dict[int, list[int]] = {}
    for child, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(child)

    def total(top: int) -> float:
        return stats.get(top, (0, 0.0))[1] + sum(total(c) for c in children.get(top, []))

    side = [c for c in children.get(pid, []) if background and not children.get(c)]
    spent = sum(total(c) for c in side)
    return total(pid) - spent, spent


def load(
    url: str, make: RequestMaker, cfg: IntakeConfig, *, rate: float | None, first: int
) -> LoadResult:
    return run_load(
        url + "/webhook",
        make,
        concurrency=cfg.concurrency,
        max_requests=cfg.max_requests,
        duration=cfg.slice_s,
        rate=rate,
        first_index=first,
    )


def describe(result: LoadResult) -> str:
    s = result.spread
    return (
        f"p50 {ms(s.p50)}  p99 {ms(s.p99)}  max {ms(s.max)}  "
        f"{result.throughput:7.0f} req/s  ({result.completed} answered, "
        f"{result.failed} failed)"
    )


def run(cfg: IntakeConfig) -> Report:
    title = "intake (signed deliveries, loopback, gunicorn)"
    if not cfg.background:
        title += " - app only, NO background worker"
    report = Report(title)
    figures: dict[str, Any] = {"config": asdict(cfg)}
    with workspace("intake") as (tmp, procs):
        service_url, bare_url, stack, db_url = start_servers(tmp, procs, cfg)
        urls = (bare_url, service_url)
        offset = 0
        # One maker per server: each walks the seeded trigger comments on its own.
        makers = {url: delivery_maker(cfg.trigger_share, stack.comments) for url in urls}

        # url -> web CPU s, background CPU s, requests
        cpu: dict[str, list[float]] = {url: [0.0, 0.0, 0.0] for url in urls}

        def phase(url: str, rate: float | None) -> LoadResult:
            nonlocal offset
            split = cfg.background and url == service_url
            web0, side0 = tree_cpu_s(_PIDS[url], background=split)
            result = load(url, makers[url], cfg, rate=rate, first=offset)
            web1, side1 = tree_cpu_s(_PIDS[url], background=split)
            cpu[url][0] += web1 - web0
            cpu[url][1] += side1 - side0
            cpu[url][2] += result.completed
            offset += sum(result.statuses.values()) + 1
            return result

        def interleaved(rate: float | None) -> tuple[LoadResult, LoadResult]:
            # Alternate short slices (bare, service, bare, ...) so that a noisy neighbour
            # on the machine weighs on both servers alike.
            bare: list[LoadResult] = []
            service: list[LoadResult] = []
            for _ in range(cfg.rounds):
                bare.append(phase(bare_url, rate))
                service.append(phase(service_url, rate))
            return LoadResult.merge(bare), LoadResult.merge(service)

        for n, url in enumerate(urls):  # warm-up: imports, connections, caches
            run_load(
                url + "/webhook",
                makers[url],
                concurrency=cfg.concurrency,
                max_requests=cfg.warmup,
                duration=cfg.slice_s,
                first_index=10**8 + n * 10**7,
            )
        bare_sat, service_sat = interleaved(None)
        rate = cfg.rate or max(10.0, round(service_sat.throughput / 2.0))
        bare_paced, service_paced = interleaved(rate)
        background = _background_state(stack, db_url, cfg.drain)
        statuses = Counter(service_sat.statuses) + Counter(service_paced.statuses)
        in_app = _in_app_times(tmp / "service.log")

    ratio = service_sat.throughput / bare_sat.throughput if bare_sat.throughput else math.nan
    p99_paced = _factor(service_paced.spread.p99, bare_paced.spread.p99)
    p99_sat = _factor(service_sat.spread.p99, bare_sat.spread.p99)
    sp = service_paced.spread
    report.add(
        "intake",
        f"throughput {service_sat.throughput:.0f} req/s vs bare {bare_sat.throughput:.0f} "
        f"(ratio {ratio:.2f}); paced p50 {ms(sp.p50)} p99 {ms(sp.p99)} at {rate:.0f} req/s "
        f"(p99 {p99_paced:.2f} x bare); saturated p99 {p99_sat:.2f} x bare",
    )
    report.add(f"service saturated ({cfg.concurrency} clients)", describe(service_sat))
    report.add(f"bare    saturated ({cfg.concurrency} clients)", describe(bare_sat))
    report.add(f"service paced {rate:.0f} req/s", describe(service_paced))
    report.add(f"bare    paced {rate:.0f} req/s", describe(bare_paced))
    if in_app.count:
        report.add(
            "service in-app handling",
            f"p50 {ms(in_app.p50)}  p99 {ms(in_app.p99)}  max {ms(in_app.max)}  "
            f"(verify, classify, record: from its log, {in_app.count} triggers)",
        )
    per_request = {url: max(1.0, n) for url, (_, _, n) in cpu.items()}
    cpu_ms = {
        "service_web": 1000.0 * cpu[service_url][0] / per_request[service_url],
        "service_background": 1000.0 * cpu[service_url][1] / per_request[service_url],
        "bare": 1000.0 * cpu[bare_url][0] / per_request[bare_url],
    }
    report.add(
        "server CPU per request",
        f"service web {cpu_ms['service_web']:.2f} ms + background "
        f"{cpu_ms['service_background']:.2f} ms vs bare {cpu_ms['bare']:.2f} ms",
    )
    report.add("service answers", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    report.add("background work", background["summary"])
    report.check(
        "throughput vs bare",
        f"{ratio:.2f}",
        f">= {RATIO_TARGET:.2f}",
        None if math.isnan(ratio) else ratio >= RATIO_TARGET,
    )
    for name, factor in (("paced", p99_paced), ("saturated", p99_sat)):
        report.check(
            f"{name} p99 vs bare",
            f"{factor:.2f} x",
            f"<= {P99_FACTOR_TARGET:.1f} x",
            None if math.isnan(factor) else factor <= P99_FACTOR_TARGET,
        )
    unexpected = sum(n for code, n in statuses.items() if code not in (200, 202, 204))
    if unexpected:
        report.notes.append(f"{unexpected} service answers were not 200/202/204")
    figures.update(
        {
            "rate": rate,
            "ratio": round(ratio, 3) if not math.isnan(ratio) else None,
            "p99_factor_paced": None if math.isnan(p99_paced) else round(p99_paced, 3),
            "p99_factor_saturated": None if math.isnan(p99_sat) else round(p99_sat, 3),
            "service_saturated": _figures(service_sat),
            "bare_saturated": _figures(bare_sat),
            "service_paced": _figures(service_paced),
            "bare_paced": _figures(bare_paced),
            "cpu_ms_per_request": {k: round(v, 3) for k, v in cpu_ms.items()},
            "service_statuses": {str(k): v for k, v in sorted(statuses.items())},
            "service_in_app_ms": in_app.as_dict(),
            "background": background,
        }
    )
    report.figures = figures
    return report


def _factor(service: float, bare: float) -> float:
    return service / bare if bare > 0 else math.nan


def _figures(result: LoadResult) -> dict[str, Any]:
    return {
        "latency_ms": result.spread.as_dict(),
        "throughput": round(result.throughput, 1),
        "answered": result.completed,
        "failed": result.failed,
        "elapsed_s": round(result.elapsed_s, 2),
    }


_ACCEPT_LINE = re.compile(r"devin_bridge\.webhook: delivery=\S+ .* ms=(\d+(?:\.\d+)?)\s*$")


def _in_app_times(log: Path) -> Spread:
    """The time the service itself reports per trigger (its INFO line; ignored events
    are logged at DEBUG only)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return Spread.of([])
    found = (_ACCEPT_LINE.search(line) for line in text.splitlines())
    return Spread.of([float(m.group(1)) for m in found if m])


def _background_state(stack: StackInfo, db_url: str, drain: float) -> dict[str, Any]:
    """What the service's background worker did meanwhile (jobs run, sessions created)."""
    import time

    from bot.store.facade import Store

    time.sleep(drain)
    store = Store(db_url)
    try:
        counts = store.counts()
    finally:
        store.dispose()
    try:
        emu = requests.get(stack.emulator_url + "/_emulator/stats", timeout=10).json()
    except (requests.RequestException, ValueError):
        emu = {}
    jobs = counts.get("jobs", {})
    summary = (
        f"deliveries recorded {sum(counts.get('deliveries', {}).values())}, jobs "
        + ", ".join(f"{k} {v}" for k, v in sorted(jobs.items()))
        + f"; Devin sessions created {emu.get('sessions', '?')}, "
        f"Devin requests {emu.get('total', '?')}"
    )
    return {"summary": summary, "store": counts, "emulator": emu}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices per phase")
    parser.add_argument("--requests", type=int, default=50_000, help="most requests per slice")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--rate", type=float, help="paced phase req/s (default: half the max)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (serve default)")
    parser.add_argument(
        "--trigger-share", type=float, default=0.1, help="share of /devin comments (0..1)"
    )
    parser.add_argument(
        "--no-background",
        action="store_true",
        help="serve the app without its in-process worker (to see what background work costs)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] in (["bare"], ["app-only"]):
        plain = argparse.ArgumentParser(prog=f"intake.py {args_list[0]}")
        plain.add_argument("--host", default="127.0.0.1")
        plain.add_argument("--port", type=int, required=True)
        plain.add_argument("--workers", type=int, default=2)
        b = plain.parse_args(args_list[1:])
        serve_plain(args_list[0], b.host, b.port, b.workers)
        return 0
    args = parse(args_list)
    if args.logs:
        keep_logs_in(args.logs)
    cfg = IntakeConfig(
        duration=1.5 if args.quick else args.duration,
        rounds=1 if args.quick else max(1, args.rounds),
        max_requests=300 if args.quick else args.requests,
        concurrency=min(args.concurrency, 4) if args.quick else args.concurrency,
        rate=args.rate,
        workers=args.workers,
        trigger_share=min(1.0, max(0.0, args.trigger_share)),
        warmup=20 if args.quick else 300,
        drain=0.5 if args.quick else 2.0,
        background=not args.no_background,
    )
    return finish(run(cfg), as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
