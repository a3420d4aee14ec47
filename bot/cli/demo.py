"""`devin-bridge demo` (§1.9 of the contract): runs bot.demo and turns its outcome into
an exit code. 0 once the session finished; 1 when the loop could not complete."""

from __future__ import annotations

import argparse
import sys

from bot.cli.output import EXIT_ERROR, err


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo", help="the whole loop offline on loopback: no account, no configuration"
    )
    demo.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="give up after S seconds"
    )
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bot.demo.run import DemoError, run_demo

    try:
        run_demo(sys.stdout, timeout=float(args.timeout), color=sys.stdout.isatty())
    except DemoError as exc:
        err(f"devin-bridge demo: {exc}")
        return EXIT_ERROR
    return 0
