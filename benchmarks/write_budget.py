"""Benchmark 4(c) of issue 8: many `/devin` comments across many App installations, under
GitHub's secondary limits, embedded (SQLite) and scaled out (Postgres + RQ).

200 signed `/devin` comments (10 on each of 20 repositories, one App installation each)
are delivered to `devin-bridge serve` as fast as 8 client threads can. Reported per run
and setup:

- sessions: seconds from the first delivery until Devin (the emulator) holds every session;
- comments: until every session has its status comment on GitHub (the fake);
- final: until every status comment shows the finished state (the emulator's "finish"
  scenario, a few polls long);
- the most content writes (POST/PATCH/PUT/DELETE) one installation made within any 60 s
  and any hour, and the secondary-limit 403s the fake answered: the fake refuses writes
  above 80 a minute or 500 an hour per identity, as GitHub documents.

Setups: "sqlite" = `serve --workers 2`, SQLite file, in-process worker (the default);
"postgres" = `serve --workers 2` + one `devin-bridge worker` (RQ, default concurrency),
Postgres store (a fresh schema) and Redis (db 14). Each setup runs `--runs` times,
alternating, so a noisy neighbour weighs on both alike.

    python benchmarks/write_budget.py [--runs 2] [--comments 200] [--installations 20]
        [--setup sqlite --setup postgres] [--interval 10] [--timeout 300] [--json]

Target: no 403 and no identity above the limits; every session's final state reaches its
comment; scale-out never slower than embedded for the same work.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import requests

from benchmarks.common import (
    PYTHON,
    WEBHOOK_SECRET,
    Processes,
    Report,
    _readline,
    base_parser,
    finish,
    free_port,
    keep_logs_in,
    logging_quiet,
    secs,
    wait_http,
    workspace,
)

POSTGRES_URL = os.environ.get(
    "DEVIN_BRIDGE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("DEVIN_BRIDGE_BENCH_REDIS", "redis://127.0.0.1:6379/14")
APP_ID = 90210
PER_MINUTE, PER_HOUR = 80, 500  # GitHub's documented secondary limits


@dataclass
class Outcome:
    setup: str
    run: int
    sessions_s: float | None
    comments_s: float | None
    final_s: float | None
    max_per_minute: int
    max_per_hour: int
    limited: int  # secondary-limit 403s
    writes: int
    deliver_s: float


# --- the stack child: emulator, GitHub fake as an App, a progress endpoint -----------------


def _serve_stack(spec: dict[str, Any]) -> None:
    logging_quiet()
    from flask import Flask, jsonify

    from bot.emulator.config import EmulatorConfig
    from tests.fakes.fake_github import make_rsa_keypair
    from tests.support.servers import ServerThread
    from tests.support.stack import running_stack

    private, public = make_rsa_keypair()
    config = EmulatorConfig(request_log_limit=2_000)
    with running_stack(config) as stack:
        fake = stack.github
        fake.configure_app(APP_ID, public, slug="devin-bridge")
        fake.set_secondary_limits(PER_MINUTE, PER_HOUR, retry_after=60)
        bot = "devin-bridge[bot]"
        payloads = []
        per_repo = spec["comments"] // spec["installations"]
        for i in range(spec["installations"]):
            repo = f"org{i}/repo"
            fake.add_repo(repo)
            fake.add_installation(1000 + i, account=f"org{i}", repos=[repo])
            fake.set_permission(repo, "alice", "write")
            for n in range(1, per_repo + 1):
                fake.add_issue(repo, n, title=f"Task {n} of {repo}")
                c = fake.add_comment(repo, n, f"/devin fix task {n}", user="alice")
                payload = stack.comment_payload(c)
                payload["installation"] = {"id": 1000 + i}
                payloads.append(payload)
        Path(spec["payloads"]).write_text(json.dumps(payloads))
        marker = "<!-- devin-bridge:session="

        def progress() -> Any:
            with fake.lock:
                ours = [c for c in fake.comments.values() if c.user == bot and marker in c.body]
                final = sum(1 for c in ours if "Devin finished" in c.body)
            stats = fake.write_stats()
            installs = [v for k, v in stats.items() if k.startswith("installation:")]
            return jsonify(
                sessions=stack.emulator.stats()["sessions"],
                comments=len(ours),
                final=final,
                max_per_minute=max((s["max_per_minute"] for s in installs), default=0),
                max_per_hour=max((s["max_per_hour"] for s in installs), default=0),
                limited=sum(s["secondary_limited"] for s in stats.values()),
                writes=sum(s["writes"] for s in installs),
            )

        app = Flask("bench-progress")
        app.add_url_rule("/progress", view_func=progress)
        server = ServerThread(app).start()
        info = {
            "devin_url": stack.devin_url,
            "github_url": stack.github_url,
            "devin_key": stack.devin_key,
            "org_id": stack.org_id,
            "private_key": private,
            "progress_url": server.url + "/progress",
        }
        print(json.dumps(info), flush=True)
        sys.stdin.read()
        server.stop()


def _start_stack(procs: Processes, workdir: Path, comments: int, installations: int) -> Any:
    spec = {
        "comments": comments,
        "installations": installations,
        "payloads": str(workdir / "payloads.json"),
    }
    proc = procs.start(
        "stack",
        [PYTHON, "-m", "benchmarks.write_budget", "stack", json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = _readline(proc.stdout, 60)
    if not line:
        raise RuntimeError("the stack process did not start:\n" + procs.log_tail(proc))
    return json.loads(line), json.loads((workdir / "payloads.json").read_text())


# --- one measured run --------------------------------------------------------------------


def _service_env(info: dict[str, Any], interval: float, concurrency: int) -> dict[str, str]:
    return {
        "DEVIN_BRIDGE_WORKER_CONCURRENCY": str(concurrency),
        "DEVIN_API_KEY": info["devin_key"],
        "DEVIN_ORG_ID": info["org_id"],
        "DEVIN_API_URL": info["devin_url"],
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_APP_PRIVATE_KEY": info["private_key"],
        "GITHUB_API_URL": info["github_url"],
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DEVIN_BRIDGE_POLL_INTERVAL": str(interval),
    }


def _postgres_schema() -> tuple[str, Any]:
    import sqlalchemy as sa

    schema = f"bench_write_budget_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", drop


def _clear_redis(database_url: str) -> None:
    import redis

    from bot.service.rq_queue import queue_namespace

    conn = redis.Redis.from_url(REDIS_URL)
    for key in conn.scan_iter(f"*{queue_namespace(database_url)}*"):
        conn.delete(key)


def _deliver(url: str, payloads: list[dict[str, Any]]) -> float:
    started = time.monotonic()
    session = threading.local()

    def post(payload: dict[str, Any]) -> int:
        http = getattr(session, "http", None) or requests.Session()
        session.http = http
        body = json.dumps(payload).encode()
        digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "issue_comment",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "4242",
            "X-Hub-Signature-256": f"sha256={digest}",
        }
        return http.post(url + "/webhook", data=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, payloads))
    bad = [c for c in codes if c != 202]
    if bad:
        raise RuntimeError(f"{len(bad)} deliveries were not accepted: {sorted(set(bad))}")
    return time.monotonic() - started


def measure(setup: str, run: int, args: Any) -> Outcome:
    with workspace(f"write-budget-{setup}") as (tmp, procs):
        info, payloads = _start_stack(procs, tmp, args.comments, args.installations)
        env = _service_env(info, args.interval, args.concurrency)
        drop = None
        if setup == "postgres":
            env["DATABASE_URL"], drop = _postgres_schema()
            env["REDIS_URL"] = REDIS_URL
        else:
            env["DATABASE_URL"] = f"sqlite:///{tmp / 'state.db'}"
        try:
            port = free_port()
            serve = procs.start(
                "serve",
                [PYTHON, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
            )
            url = f"http://127.0.0.1:{port}"
            wait_http(url + "/healthz", procs, serve)
            if setup == "postgres":
                worker = procs.start(
                    "worker", [PYTHON, "-m", "bot", "worker", *args.worker_args], env=env
                )
                _wait_ready(procs, worker, tmp / "worker.log")
            return _run(setup, run, args, url, info["progress_url"], payloads)
        finally:
            procs.close()
            if drop is not None:
                _clear_redis(env["DATABASE_URL"])
                drop()


def _wait_ready(procs: Processes, proc: Any, log: Path, timeout: float = 60.0) -> None:
    """Until the worker says it takes messages (as `serve` answering /healthz does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the worker exited:\n" + procs.log_tail(proc))
        if log.exists() and "worker ready" in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError("the worker did not get ready:\n" + procs.log_tail(proc))


def _run(
    setup: str, run: int, args: Any, url: str, progress_url: str, payloads: list[Any]
) -> Outcome:
    total = len(payloads)
    started = time.monotonic()
    deliver_s = _deliver(url, payloads)
    marks: dict[str, float | None] = {"sessions": None, "comments": None, "final": None}
    state: dict[str, Any] = {}
    while time.monotonic() - started < args.timeout:
        state = requests.get(progress_url, timeout=10).json()
        now = time.monotonic() - started
        for key in marks:
            if marks[key] is None and state[key] >= total:
                marks[key] = now
        if marks["final"] is not None:
            break
        time.sleep(0.25)
    return Outcome(
        setup,
        run,
        marks["sessions"],
        marks["comments"],
        marks["final"],
        int(state.get("max_per_minute", 0)),
        int(state.get("max_per_hour", 0)),
        int(state.get("limited", 0)),
        int(state.get("writes", 0)),
        deliver_s,
    )


# --- report ------------------------------------------------------------------------------


def _t(value: float | None) -> str:
    return secs(value) if value is not None else "not reached"


def report(outcomes: list[Outcome], args: Any) -> Report:
    rep = Report("write budget: /devin comments across App installations (issue 8, 4c)")
    rep.add(
        "work",
        f"{args.comments} /devin comments on {args.installations} installations, "
        f"poll interval {args.interval:g} s, limits {PER_MINUTE}/min {PER_HOUR}/h per identity, "
        f"worker concurrency {args.concurrency}",
    )
    for o in outcomes:
        rep.add(
            f"{o.setup} run {o.run}",
            f"sessions {_t(o.sessions_s)}, comments {_t(o.comments_s)}, final {_t(o.final_s)}; "
            f"delivered in {secs(o.deliver_s)}; max/installation {o.max_per_minute}/min "
            f"{o.max_per_hour}/h; {o.writes} writes; {o.limited} secondary-limit 403s",
        )
    rep.figures["runs"] = [asdict(o) for o in outcomes]
    most = max((o.max_per_minute for o in outcomes), default=0)
    limited = sum(o.limited for o in outcomes)
    rep.check("secondary-limit 403s", str(limited), "0", limited == 0)
    rep.check("max writes/installation/min", str(most), f"<= {PER_MINUTE}", most <= PER_MINUTE)
    finals = all(o.final_s is not None for o in outcomes)
    rep.check("every final state on its comment", "yes" if finals else "no", "yes", finals)
    for key in ("sessions_s", "comments_s", "final_s"):
        embedded = [getattr(o, key) for o in outcomes if o.setup == "sqlite"]
        scaled = [getattr(o, key) for o in outcomes if o.setup == "postgres"]
        if embedded and scaled and None not in embedded + scaled:
            worst, best = max(scaled), min(embedded)
            rep.check(
                f"scale-out {key[:-2]} (worst) vs embedded (best)",
                f"{secs(worst)} vs {secs(best)}",
                "not slower",
                worst <= best * 1.05,
            )
    return rep


def _parser() -> Any:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--comments", type=int, default=200)
    parser.add_argument("--installations", type=int, default=20)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--setup", action="append", choices=("sqlite", "postgres"))
    parser.add_argument(
        "--concurrency", type=int, default=8, help="DEVIN_BRIDGE_WORKER_CONCURRENCY of both setups"
    )
    parser.add_argument(
        "--worker-arg",
        dest="worker_args",
        action="append",
        default=[],
        help="extra argument for `devin-bridge worker` (e.g. --worker-arg=--concurrency=4)",
    )
    return parser


def run(argv: list[str]) -> Report:
    """The benchmark with these command-line arguments (`run_all.py` calls it too)."""
    args = _parser().parse_args(argv)
    if args.quick:
        args.runs, args.comments, args.installations, args.interval = 1, 12, 3, 1.0
    if args.logs:
        keep_logs_in(args.logs)
    setups = args.setup or ["sqlite", "postgres"]
    outcomes = [measure(s, r + 1, args) for r in range(args.runs) for s in setups]
    return report(outcomes, args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["stack"]:
        _serve_stack(json.loads(argv[1]))
        return 0
    return finish(run(argv), as_json="--json" in argv)


if __name__ == "__main__":
    sys.exit(main())
