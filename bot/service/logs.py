"""Logging for the service processes: one stderr format, and secrets scrubbed from
every record (message and traceback) before any handler writes it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
_formatter = logging.Formatter(FORMAT)


class SecretFilter(logging.Filter):
    """Replaces known secret values with *** in a record's text and traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's error path
            return True
        scrubbed = self._scrub(safe_text(message))
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        return True

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def safe_text(text: str) -> str:
    """A log message that cannot forge lines or break the handler: line breaks and other
    control characters escaped, lone surrogates (from `\\udfff` in a payload) too."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() or ch == "\t" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def configure(secrets: Iterable[str], level: int = logging.INFO) -> None:
    """Log to stderr (once per process) and scrub secrets on every root handler."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_formatter)
        root.addHandler(handler)
    root.setLevel(level)
    install_filter(secrets)


def install_filter(secrets: Iterable[str]) -> None:
    values = tuple(secrets)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter(values))
