"""Checks for single values of ``.github/devin.yml``.

Each ``check_*`` takes a raw YAML value and the key it sits at, and returns
the cleaned value or raises ``InvalidValue`` with a message that names that
key. Deciding what to do with a bad value (drop the entry, fall back to a
default) is the parser's job in ``bot.core.config``, not this module's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from bot.core.commands import RESERVED_NAMES
from bot.core.config_model import RESERVED_TAG_PREFIXES, ROLE_ORDER

ALLOWED_MIN_ROLES = ("write", "maintain", "admin")

_MAX_SCHEMA_BYTES = 64 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_BOT_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_MACRO = re.compile(r"^!?[A-Za-z0-9_-]+$")
_MODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class InvalidValue(Exception):
    """One value is wrong; the message names its key."""


Check = Callable[[Any, str], Any]


def is_bot_login(login: str) -> bool:
    """Whether ``login`` looks like a GitHub (bot) account name, e.g. ``renovate[bot]``."""
    return bool(_BOT_LOGIN.match(login))


def check_trigger(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise InvalidValue(f"{where} must be a word such as '/devin', got {show(v)}")
    word: str = v.strip()
    if any(ch.isspace() for ch in word) or len(word) > 32 or word[0] in ">`~#-*+":
        raise InvalidValue(
            f"{where} must be a single word of at most 32 characters that does not start "
            f"with Markdown syntax, got {show(word)}"
        )
    return word


def check_rule_name(v: Any, where: str, *, is_label: bool) -> str:
    if not isinstance(v, str) or not v.strip():
        raise InvalidValue(f"{where} must be named by a string, got {show(v)}")
    name = v.strip()
    if is_label:
        if len(name) > 50:
            raise InvalidValue(f"{where} is too long for a GitHub label (50 characters at most)")
        return name
    if name.lower() in RESERVED_NAMES:
        raise InvalidValue(f"{where} cannot be used: '{name}' is a built-in command")
    if not _NAME.match(name):
        raise InvalidValue(
            f"{where} must be a single word of letters, digits, '-' or '_' "
            f"(32 characters at most), got {show(name)}"
        )
    return name


def check_positive_int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise InvalidValue(f"{where} must be a positive integer, got {show(v)}")
    return v


def check_bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise InvalidValue(f"{where} must be true or false, got {show(v)}")
    return v


def text_check(limit: int) -> Check:
    """A check for optional text of at most ``limit`` characters (blank means unset)."""

    def check(v: Any, where: str) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str):
            raise InvalidValue(f"{where} must be text, got {show(v)}")
        if len(v) > limit:
            raise InvalidValue(f"{where} is too long ({len(v)} characters, at most {limit})")
        return v.strip() or None

    return check


_PLAYBOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_playbook_id(v: Any, where: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip() or any(ch.isspace() for ch in v.strip()):
        raise InvalidValue(f"{where} must be a playbook id like 'playbook-…', got {show(v)}")
    if v.strip().startswith("!"):
        raise InvalidValue(
            f"{where} must be a playbook id like 'playbook-…', got the macro {show(v)} "
            "(use playbook_macro for macros)"
        )
    return v.strip()


def check_playbook_name(v: Any, where: str) -> str | None:
    """A ``.devin/playbooks/<name>.md`` name (resolved to an id when a session starts)."""
    if v is None:
        return None
    if not isinstance(v, str) or not _PLAYBOOK_NAME.match(v.strip()):
        raise InvalidValue(
            f"{where} must be the name of a .devin/playbooks/<name>.md file such as 'fix-bug', "
            f"got {show(v)}"
        )
    name: str = v.strip()
    if name.startswith("playbook-"):
        raise InvalidValue(f"{where} looks like a playbook id; use playbook_id: {name}")
    return name


def check_macro(v: Any, where: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not _MACRO.match(v.strip()):
        raise InvalidValue(f"{where} must be a playbook macro like '!fix_bug', got {show(v)}")
    macro: str = v.strip()
    return macro if macro.startswith("!") else "!" + macro


def check_mode(v: Any, where: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not _MODE.match(v.strip()):
        raise InvalidValue(
            f"{where} must be a Devin mode such as 'normal' or 'fast', got {show(v)}"
        )
    return v.strip()


def _str_list(v: Any, where: str, what: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise InvalidValue(f"{where} must be a list of {what}, got {show(v)}")
    out: list[str] = []
    for i, item in enumerate(v):
        if not isinstance(item, str) or not item.strip():
            raise InvalidValue(f"{where}[{i}] must be a non-empty string, got {show(item)}")
        out.append(item.strip())
    return tuple(out)


def check_id_list(v: Any, where: str) -> tuple[str, ...] | None:
    if v is None:
        return None
    return _str_list(v, where, "ids")


def check_tags(v: Any, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    tags = _str_list(v, where, "tags")
    if len(tags) > 40:
        raise InvalidValue(
            f"{where} has {len(tags)} tags; at most 40 (Devin allows 50 per session)"
        )
    for i, tag in enumerate(tags):
        if tag.lower().startswith(RESERVED_TAG_PREFIXES):
            raise InvalidValue(
                f"{where}[{i}] {show(tag)} uses a prefix reserved for the bridge's own tags "
                f"({', '.join(RESERVED_TAG_PREFIXES)})"
            )
        if len(tag) > 100:
            raise InvalidValue(f"{where}[{i}] is too long (100 characters at most)")
    return tags


def check_repos(v: Any, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    repos = _str_list(v, where, "repositories")
    for i, repo in enumerate(repos):
        if not _REPO.match(repo):
            raise InvalidValue(f"{where}[{i}] must look like 'owner/repo', got {show(repo)}")
    return repos


def check_schema(v: Any, where: str) -> Mapping[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise InvalidValue(f"{where} must be a JSON Schema object (a mapping), got {show(v)}")
    try:
        encoded = json.dumps(v)
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{where} must contain only JSON values ({exc})") from None
    if len(encoded.encode()) > _MAX_SCHEMA_BYTES:
        raise InvalidValue(f"{where} is larger than Devin's 64 KB limit")
    if any(not ref.startswith("#") for ref in _refs(v)):
        raise InvalidValue(f"{where} must be self-contained: only '#/…' $ref values are allowed")
    try:
        Draft7Validator.check_schema(v)
    except SchemaError as exc:
        location = "/".join(str(p) for p in exc.path)
        at = f" at {location}" if location else ""
        raise InvalidValue(f"{where} is not a valid JSON Schema{at}: {exc.message}") from None
    return v


def _refs(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, val in cur.items():
                if k == "$ref" and isinstance(val, str):
                    found.append(val)
                else:
                    stack.append(val)
        elif isinstance(cur, list):
            stack.extend(cur)
    return found


def check_min_role(v: Any, where: str) -> str:
    if not isinstance(v, str) or v.strip().lower() not in ROLE_ORDER:
        raise InvalidValue(
            f"{where} must be one of {', '.join(ALLOWED_MIN_ROLES)}, got {show(v)}; using 'write'"
        )
    role = v.strip().lower()
    if role not in ALLOWED_MIN_ROLES:
        raise InvalidValue(
            f"{where} {show(role)} is not allowed: sessions spend money and change the "
            "repository, so at least 'write' is required; using 'write'"
        )
    return role


# --- message pieces -----------------------------------------------------------


def join_key(prefix: str, key: Any) -> str:
    """The dotted path of ``key`` under ``prefix``; odd keys are bracketed and quoted."""
    text = str(key)
    if not text or any(ch in text for ch in ". \t\n[]"):
        text = f"[{json.dumps(text)}]"
        return f"{prefix}{text}" if prefix else text
    return f"{prefix}.{text}" if prefix else text


def show(v: Any) -> str:
    """A short description of a bad value for an error message."""
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        shown = v if len(v) <= 60 else v[:57] + "..."
        return repr(shown)
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return f"a {type(v).__name__}"
