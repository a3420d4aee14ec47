"""`./.env` for the service commands (serve, worker, refresh, doctor), as
`devin-bridge app create` and docker compose use it. Variables already in the
environment win; other commands never read it (a project's own .env is not ours)."""

from __future__ import annotations

from pathlib import Path

ENV_FILE = ".env"


def load_env_file(path: str = ENV_FILE) -> bool:
    """Load the file when it exists and python-dotenv is installed; True when loaded."""
    file = Path(path)
    if not file.is_file():
        return False
    try:
        from dotenv import load_dotenv
    except ImportError:  # a core-only install: the environment alone applies
        return False
    return bool(load_dotenv(file, override=False))
