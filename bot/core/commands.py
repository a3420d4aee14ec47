"""Parse ``/devin ...`` comments (DESIGN.md §1.2) and write the help text.

Grammar, decided here once for the Action and the service:

* Only the first non-blank line of the *visible* comment can trigger: hidden
  HTML comments and invisible characters are removed first, so
  ``<!-- /devin ... -->`` never triggers and a comment that merely starts with
  a hidden comment still does.
* The line may be indented by up to three spaces. A quote (``>``), a code
  fence (``` or ~~~) or an indented code block (four spaces or a tab) never
  triggers.
* The trigger is matched case-insensitively as a whole word: ``/devin``,
  ``/devin:`` and ``/devin,`` trigger; ``/devinfoo`` and ``/devin-bot`` do not.
* ``status``, ``stop`` and ``help`` are commands only when they are the only
  word on the first line (``please``/``now`` and punctuation are tolerated):
  ``/devin help me fix the login bug`` is an instruction, not a help request.
  Lines after them are kept in ``text``.
* ``new`` always means a fresh session (contract) and needs instructions.
* ``<name>`` matching a configured command (case-insensitive) selects it; its
  text may be empty (the command's prompt template supplies the task).
* Anything else is ``run``: the rest of the first line plus all following
  lines, untouched (``!macro`` tokens included). A lone word one typo away
  from a built-in (``/devin stpo``) is ``invalid`` with a "did you mean" hint.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from bot.core.markdown import code_span, one_line, table_cell
from bot.core.sanitize import sanitize

DEFAULT_TRIGGER = "/devin"

CommandKind = Literal["run", "new", "status", "stop", "help", "named", "invalid"]

RUN: CommandKind = "run"
NEW: CommandKind = "new"
STATUS: CommandKind = "status"
STOP: CommandKind = "stop"
HELP: CommandKind = "help"
NAMED: CommandKind = "named"
INVALID: CommandKind = "invalid"

# Words a configured command may not use: they are built-ins.
RESERVED_NAMES = frozenset({"new", "status", "stop", "help"})

_BARE_KEYWORDS: dict[str, CommandKind] = {"status": STATUS, "stop": STOP, "help": HELP}
_COURTESY = frozenset({"please", "pls", "now", "thanks", "thx"})
_FENCE_START = re.compile(r"(?:```|~~~)")
_LEADING_BLANK_LINES = re.compile(r"^(?:[ \t]*\n)+")


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    text: str
    name: str | None = None
    error: str | None = None


def parse_command(
    body: str, trigger: str = DEFAULT_TRIGGER, configured: Collection[str] = ()
) -> Command | None:
    """The command in a comment ``body``, or None when the comment is not one."""
    if not isinstance(body, str) or not body.strip():
        return None
    trigger = (trigger or "").strip() or DEFAULT_TRIGGER
    lines = sanitize(body).split("\n")
    first_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first_index is None:
        return None
    first = lines[first_index]
    stripped = first.lstrip(" \t")
    indent = first[: len(first) - len(stripped)]
    if "\t" in indent or len(indent) >= 4:
        return None  # indented code block
    if stripped.startswith(">") or _FENCE_START.match(stripped):
        return None
    m = re.match(re.escape(trigger) + r"(?=$|[\s:,])[:,]?", stripped, re.IGNORECASE)
    if not m:
        return None

    rest = stripped[m.end() :].strip()
    more = "\n".join(lines[first_index + 1 :]).rstrip()
    words = rest.split(None, 1)
    head = words[0] if words else ""
    after = words[1] if len(words) > 1 else ""
    keyword = head.lower().rstrip(":,.!?")

    if keyword in _BARE_KEYWORDS and _only_courtesy(after):
        return Command(_BARE_KEYWORDS[keyword], _join("", more))
    if keyword == "new":
        text = _join(after, more)
        if not text:
            return Command(
                INVALID,
                "",
                error=(
                    f"`{trigger} new` needs instructions, "
                    f"e.g. `{trigger} new fix the failing test`."
                ),
            )
        return Command(NEW, text)
    names = {name.lower(): name for name in configured}
    if keyword and keyword in names and keyword not in RESERVED_NAMES:
        return Command(NAMED, _join(after, more), name=names[keyword])

    text = _join(rest, more)
    if not text:
        return Command(
            INVALID,
            "",
            error=f"Tell Devin what to do: `{trigger} <instructions>`.",
        )
    if not after and not more:
        guess = _near_miss(keyword, [*_BARE_KEYWORDS, *names])
        if guess:
            shown = names.get(guess, guess)
            return Command(
                INVALID,
                text,
                error=f"Unknown command `{head}`. Did you mean `{trigger} {shown}`?",
            )
    return Command(RUN, text)


def _join(first: str, more: str) -> str:
    """The first line's text plus the following lines, blank lines inside kept."""
    first = first.strip()
    if not more.strip():
        return first
    if first:
        return f"{first}\n{more}"
    return _LEADING_BLANK_LINES.sub("", more)


def _only_courtesy(after: str) -> bool:
    words = [w.strip(".,!?:;").lower() for w in after.split()]
    return all(not w or w in _COURTESY for w in words)


def _near_miss(word: str, candidates: Iterable[str]) -> str | None:
    if len(word) < 4:
        return None
    for cand in candidates:
        if len(cand) >= 4 and cand != word and _edit_distance_at_most_one(word, cand):
            return cand
    return None


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance ≤ 1 (one insert, delete, change or swap)."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) <= 1:
            return True
        i, j = diff[0], diff[-1]
        return len(diff) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


# --- help ---------------------------------------------------------------------


def help_text(
    trigger: str = DEFAULT_TRIGGER,
    configured_commands: Mapping[str, str | None] | Iterable[str] = (),
    labels: Mapping[str, str | None] | Iterable[str] = (),
) -> str:
    """Markdown listing the built-in commands, the repo's commands and labels."""
    trigger = (trigger or "").strip() or DEFAULT_TRIGGER
    rows = [
        (
            f"{trigger} <instructions>",
            "Start a Devin session, or send a message to the session "
            "already running on this issue or pull request",
        ),
        (f"{trigger} new <instructions>", "Always start a fresh session"),
        (f"{trigger} status", "Refresh the status comment now"),
        (f"{trigger} stop", "Stop the running session"),
        (f"{trigger} help", "Show this help"),
    ]
    commands = _described(configured_commands)
    for name, description in commands:
        rows.append((f"{trigger} {name} <instructions>", description or "Repository command"))
    lines = [
        f"**Devin commands.** Start a comment with {code_span(trigger)} on an issue or "
        "pull request:",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    lines += [f"| {code_span(cmd)} | {table_cell(desc)} |" for cmd, desc in rows]
    label_rows = _described(labels)
    if label_rows:
        lines += ["", "**Labels** that start a session when added:", ""]
        for name, description in label_rows:
            suffix = f": {one_line(description)}" if description else ""
            lines.append(f"- {code_span(name)}{suffix}")
    lines += [
        "",
        "Your text goes to Devin as it is, so `!macro` playbook references work. "
        "Only people with write access to the repository can start or steer Devin.",
    ]
    return "\n".join(lines)


def _described(items: Mapping[str, str | None] | Iterable[str]) -> list[tuple[str, str | None]]:
    if isinstance(items, Mapping):
        return [(str(k), v if isinstance(v, str) else None) for k, v in items.items()]
    return [(str(k), None) for k in items]
