"""GitHub Actions workflow commands, step outputs and the job summary.

Everything the Action prints to the runner goes through here, so that data is
escaped, echoed untrusted text cannot issue commands (``::stop-commands::``
with a random token) and multi-line outputs use random heredoc delimiters.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

TokenFactory = Callable[[], str]


def _random_token() -> str:
    return secrets.token_hex(16)


def escape_data(text: str) -> str:
    """Escape a command's message the way the runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property (``title=...``): also ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def redact(text: str, secret_values: Iterable[str]) -> str:
    """Replace every secret (and each line of a multi-line one) with ``***``."""
    pieces: set[str] = set()
    for value in secret_values:
        if not value:
            continue
        pieces.add(value)
        pieces.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 4)
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


class WorkflowCommands:
    """Writes workflow commands to the runner's log (stdout by default)."""

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        token_factory: TokenFactory = _random_token,
        secret_values: Iterable[str] = (),
    ) -> None:
        self._out = out
        self._token = token_factory
        self._secrets: list[str] = [s for s in secret_values if s]

    def _write(self, line: str) -> None:
        out = self._out or sys.stdout
        out.write(line + "\n")
        out.flush()

    def _clean(self, text: str) -> str:
        return redact(text, self._secrets)

    def mask(self, value: str) -> None:
        """Register a secret with the runner (each line separately) before anything prints it."""
        if not value or not value.strip():
            return
        self._secrets.append(value)
        lines = [line for line in value.splitlines() if line.strip()]
        for part in dict.fromkeys([value.strip(), *lines]):
            if "\n" in part or "\r" in part:
                continue  # the runner masks a multi-line value only line by line
            self._write(f"::add-mask::{escape_data(part)}")

    def _command(self, name: str, message: str, title: str | None) -> None:
        props = f" title={escape_property(self._clean(title))}" if title else ""
        self._write(f"::{name}{props}::{escape_data(self._clean(message))}")

    def error(self, message: str, *, title: str | None = None) -> None:
        self._command("error", message, title)

    def warning(self, message: str, *, title: str | None = None) -> None:
        self._command("warning", message, title)

    def notice(self, message: str, *, title: str | None = None) -> None:
        self._command("notice", message, title)

    def info(self, message: str) -> None:
        """A plain log line of our own text (it must not start with ``::``)."""
        self._write(self._clean(message))

    def echo(self, text: str) -> None:
        """Print untrusted text (Devin's messages, user comments) without letting it
        issue workflow commands: command parsing is off between the two markers."""
        token = self._token()
        while token in text:
            token = self._token()
        self._write(f"::stop-commands::{token}")
        self._write(self._clean(text))
        self._write(f"::{token}::")

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self._write(f"::group::{escape_data(self._clean(title))}")
        try:
            yield
        finally:
            self._write("::endgroup::")


def _delimiter(value: str, token_factory: TokenFactory) -> str:
    while True:
        delimiter = f"ghadelimiter_{token_factory()}"
        if delimiter not in value:
            return delimiter


def format_outputs(
    outputs: Mapping[str, str], *, token_factory: TokenFactory = _random_token
) -> str:
    """``name<<DELIM`` heredocs: safe for any value, multi-line included."""
    chunks = []
    for name, value in outputs.items():
        if not name or any(c in name for c in "\r\n=<"):
            raise ValueError(f"invalid output name {name!r}")
        delimiter = _delimiter(value, token_factory)
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(chunks)


def write_outputs(
    path: str | Path | None,
    outputs: Mapping[str, str],
    *,
    token_factory: TokenFactory = _random_token,
) -> bool:
    """Append outputs to ``$GITHUB_OUTPUT``; False when there is no such file to write."""
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(format_outputs(outputs, token_factory=token_factory))
    return True


def parse_outputs(text: str) -> dict[str, str]:
    """Read a ``$GITHUB_OUTPUT`` file back (heredoc and ``name=value`` lines), as the
    runner does; used by tests and the self-test."""
    result: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"output {name!r}: delimiter {delimiter!r} never closes")
            i += 1
            result[name] = "\n".join(body)
        else:
            name, _, value = line.partition("=")
            result[name] = value
    return result


MAX_SUMMARY_BYTES = 1024 * 1024


def append_summary(path: str | Path | None, markdown: str) -> bool:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY`` (GitHub shows at most 1 MiB per step)."""
    if not path or not markdown:
        return False
    data = markdown if markdown.endswith("\n") else markdown + "\n"
    encoded = data.encode("utf-8")
    if len(encoded) > MAX_SUMMARY_BYTES:
        data = encoded[: MAX_SUMMARY_BYTES - 64].decode("utf-8", errors="ignore")
        data += "\n\n*(summary trimmed)*\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(data)
    return True
