"""`python -m bot` is the same as the `devin-bridge` console script."""

from bot.cli.console import main

if __name__ == "__main__":
    raise SystemExit(main())
