"""The Action's process edge: log records routed to the runner log, and the runner's
SIGTERM turned into ``ActionCancelled`` so a cancelled job still finalises its comment.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from bot.action.workflow_commands import WorkflowCommands


class ActionCancelled(Exception):
    """The runner asked the container to stop (the job was cancelled or timed out)."""


class _RunnerLogHandler(logging.Handler):
    """Log records go to the runner log with secrets redacted; a line that would read as
    a workflow command is defused."""

    def __init__(self, commands: WorkflowCommands) -> None:
        super().__init__(logging.INFO)
        self._commands = commands

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a malformed log call must not end the run
            text = str(record.msg)
        for line in text.splitlines() or [""]:
            if line.lstrip().startswith(("::", "##[")):
                line = "› " + line
            self._commands.info(line)


def configure_logging(commands: WorkflowCommands) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = _RunnerLogHandler(commands)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # PyGithub and urllib3 log at INFO about retries; their lines add nothing here.
    for noisy in ("github", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def cancellable() -> Iterator[None]:
    """Turn SIGTERM (the runner stopping the container) into ActionCancelled so the
    status comment is finalised. Python is PID 1 in the container, and PID 1 ignores
    signals it has no handler for."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise ActionCancelled()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
