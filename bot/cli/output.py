"""Output of the console script: aligned tables, JSON, relative times, one-line errors.

Standard library only, so that ``devin-bridge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_WAITING = 3
EXIT_FAILED = 4
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130

CLIP = 50


class CliUsageError(Exception):
    """Bad input found before anything was sent (exit code 2); the message is one line."""


def out(line: str = "") -> None:
    print(line, file=sys.stdout, flush=True)


def err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    out(json.dumps(_plain(data), indent=2, ensure_ascii=False, default=str))


def print_json_line(data: Any) -> None:
    out(json.dumps(_plain(data), ensure_ascii=False, default=str))


def raw_of(obj: Any) -> dict[str, Any]:
    """The API object's own fields (the dataclass ``raw``), so nothing is lost."""
    raw = getattr(obj, "raw", None)
    return dict(raw) if isinstance(raw, Mapping) else {}


def _plain(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    return data


def cell(value: Any, width: int = 0) -> str:
    """One line of text; clipped to ``width`` characters when that is given."""
    text = "" if value is None else str(value)
    text = " ".join(text.split())  # one line per row, whatever the API sent
    return text if not width or len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str) -> None:
    """Print rows as columns aligned on the widest cell; ``empty`` when there are none.

    Free text (titles, names) should be passed through ``clip`` by the caller; ids and
    URLs are never shortened.
    """
    cells = [[cell(v) for v in row] for row in rows]
    if not cells:
        out(empty)
        return
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for row in [list(headers), *cells]:
        out("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def clip(value: Any) -> str:
    return cell(value, CLIP)


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """Print ``label  value`` lines, skipping empty values."""
    shown = [(k, v) for k, v in pairs if v not in (None, "", (), [])]
    width = max((len(k) for k, _ in shown), default=0)
    for key, value in shown:
        out(f"{key.ljust(width)}  {value}")


def ago(timestamp: int | float | None, now: float | None = None) -> str:
    """``5m ago`` for an epoch timestamp (seconds, or milliseconds when that large)."""
    if not timestamp:
        return ""
    ts = float(timestamp)
    if ts > 1e12:
        ts /= 1000.0
    delta = int((time.time() if now is None else now) - ts)
    if delta < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{delta // size}{unit} ago"
    return f"{delta}s ago"


def acus(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise CliUsageError(f"cannot read {what} {path!r}: {reason}") from None


def read_json_schema(path: str) -> dict[str, Any]:
    """Load and check a structured-output schema file before anything is sent."""
    from bot.core.validation import json_schema_error

    text = read_text(path, "schema file")
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise CliUsageError(f"schema file {path!r} is not valid JSON: {exc}") from None
    problem = json_schema_error(schema)
    if problem:
        raise CliUsageError(f"schema file {path!r}: {problem}")
    assert isinstance(schema, dict)
    return schema


# -- parser and output helpers shared by the resource command groups ---------------


def crud(sub: Any, name: str, help_text: str) -> Any:
    parser = sub.add_parser(name, help=help_text)
    return parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)


def with_id(cmds: Any, action: str, common: argparse.ArgumentParser, help_text: str) -> Any:
    p = cmds.add_parser(action, parents=[common], help=help_text)
    p.add_argument("id", metavar="ID")
    return p


def emit(args: argparse.Namespace, obj: Any, verb: str, ident: str) -> int:
    if args.json:
        print_json(raw_of(obj) if obj is not None else {"id": ident})
    else:
        out(f"{verb} {ident}")
    return 0
