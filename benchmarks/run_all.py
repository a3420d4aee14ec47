"""The service benchmarks of issue 8 and before, one summary table at the end: intake
(4a), polling economy of one session, the change feed's economy (4b), scale (4d) and the
GitHub write budget (4c).

    python benchmarks/run_all.py            # about fifteen minutes on 2 cores
    python benchmarks/run_all.py --quick    # smoke-sized, about a minute

Each benchmark also runs alone with its own options (see benchmarks/README.md).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import json
from collections.abc import Callable

from benchmarks import feed_economy, intake, polling_economy, scale, write_budget
from benchmarks.common import Check, Report, base_parser, keep_logs_in, machine, print_checks


def plan(quick: bool) -> list[tuple[str, Callable[[], Report]]]:
    intake_cfg = intake.IntakeConfig(
        duration=1.5 if quick else 6.0,
        rounds=1 if quick else 2,
        max_requests=300 if quick else 50_000,
        concurrency=4 if quick else 8,
        rate=None,
        workers=2,
        trigger_share=0.1,
        warmup=20 if quick else 200,
        drain=0.5 if quick else 2.0,
    )
    scale_cfg = (
        scale.ScaleConfig(sessions=50, interval=1.0, warmup=2.0, duration=4.0, change_share=0.5)
        if quick
        else scale.ScaleConfig(sessions=10_000, interval=10.0, warmup=15.0, duration=60.0)
    )
    hours = 0.5 if quick else 1.0
    fleet, minutes = (20, 3.0) if quick else (1000, 62.0)
    return [
        ("intake", lambda: intake.run(intake_cfg)),
        ("polling-economy", lambda: polling_economy.run(hours=hours)),
        ("feed-economy", lambda: feed_economy.run(sessions=fleet, minutes=minutes, quick=quick)),
        ("scale", lambda: scale.run(scale_cfg)),
        ("write-budget", lambda: write_budget.run(["--quick"] if quick else ["--runs", "1"])),
    ]


NAMES = ("intake", "polling-economy", "feed-economy", "scale", "write-budget")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=NAMES, action="append", help="run just this one")
    args = parser.parse_args(argv)
    if args.logs:
        keep_logs_in(args.logs)
    reports: list[Report] = []
    failures: list[str] = []
    started = time.monotonic()
    for name, run in plan(args.quick):
        if args.only and name not in args.only:
            continue
        try:
            report = run()
        except Exception as err:  # report the others anyway
            failures.append(f"{name}: {type(err).__name__}: {err}")
            print(f"== {name} == could not run: {err}", file=sys.stderr, flush=True)
            continue
        report.print()
        print(flush=True)
        reports.append(report)
    checks: list[Check] = [c for r in reports for c in r.checks]
    print(f"== summary ({time.monotonic() - started:.0f} s; {machine()}) ==")
    print_checks(checks)
    for failure in failures:
        print(f"  not run: {failure}")
    if args.json:
        combined = {"reports": [r.as_json() for r in reports], "failures": failures}
        print("RESULT " + json.dumps(combined, sort_keys=True), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
