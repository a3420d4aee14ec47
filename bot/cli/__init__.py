"""The console script `devin-bridge` (also `python -m bot`): see `bot.cli.console`."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """The console script's entry point (`bot.cli:main`); imports nothing until called."""
    from bot.cli.console import main as run

    return run(argv)
