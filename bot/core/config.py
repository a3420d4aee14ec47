"""The repository configuration ``.github/devin.yml`` (DESIGN.md §1.5).

Pure: the caller fetches the file from the default branch and passes its text.
How bad input is handled (decided here, documented in examples/devin.yml):

* no file, an empty file or a file of comments: the defaults, no errors;
* unparsable YAML or a top level that is not a mapping: the defaults plus one
  error;
* an invalid ``labels``/``commands`` entry is dropped (it will not start
  sessions with half its settings: a typo in ``max_acu_limit`` must not mean
  "no cost cap"); the other entries are kept;
* an invalid value elsewhere (``trigger``, ``defaults.*``, ``permissions.*``)
  falls back to its default;
* unknown keys are reported (with a "did you mean") and otherwise ignored.

Every error names the key at fault, e.g.
``labels.devin:review.max_acu_limit must be a positive integer, got 'ten'``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from bot.core.commands import DEFAULT_TRIGGER, RESERVED_NAMES

CONFIG_PATH = ".github/devin.yml"
DEFAULT_LABEL = "devin"
MAX_CONFIG_CHARS = 100_000

ROLE_ORDER = ("none", "read", "triage", "write", "maintain", "admin")
ALLOWED_MIN_ROLES = ("write", "maintain", "admin")

# The bridge tags its sessions with these (DESIGN.md §1.6); a config tag that
# looked like one could make a session look like another thread's.
RESERVED_TAG_PREFIXES = ("devin-bridge", "repo:", "thread:")

_MAX_SCHEMA_BYTES = 64 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_BOT_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_MACRO = re.compile(r"^!?[A-Za-z0-9_-]+$")
_MODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class SessionRule:
    """Session settings for one label or one ``/devin <name>`` command."""

    playbook_id: str | None = None
    playbook_macro: str | None = None
    prompt: str | None = None
    max_acu_limit: int | None = None
    knowledge_ids: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    description: str | None = None
    structured_output_schema: Mapping[str, Any] | None = None
    devin_mode: str | None = None


LabelRule = SessionRule
CommandRule = SessionRule


@dataclass(frozen=True)
class SessionDefaults:
    max_acu_limit: int | None = None
    knowledge_ids: tuple[str, ...] | None = None  # None: Devin's default (all)
    tags: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()  # empty: this repository
    playbook_id: str | None = None
    devin_mode: str | None = None


@dataclass(frozen=True)
class PermissionRule:
    min: str = "write"
    allow_bots: tuple[str, ...] = ()
    reply_to_refused: bool = True


def _default_labels() -> Mapping[str, SessionRule]:
    return {DEFAULT_LABEL: SessionRule()}


@dataclass(frozen=True)
class RepoConfig:
    trigger: str = DEFAULT_TRIGGER
    labels: Mapping[str, SessionRule] = field(default_factory=_default_labels)
    commands: Mapping[str, SessionRule] = field(default_factory=dict)  # keys lower-case
    defaults: SessionDefaults = field(default_factory=SessionDefaults)
    permissions: PermissionRule = field(default_factory=PermissionRule)


@dataclass(frozen=True)
class ConfigResult:
    config: RepoConfig
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class SessionSettings:
    """A rule merged over the repository defaults: what a new session gets."""

    playbook_id: str | None = None
    playbook_macro: str | None = None
    prompt: str | None = None
    max_acu_limit: int | None = None
    knowledge_ids: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()
    structured_output_schema: Mapping[str, Any] | None = None
    devin_mode: str | None = None


# --- lookups ------------------------------------------------------------------


def allowed(role: str | None, min_role: str = "write") -> bool:
    """Whether a repository ``role`` reaches ``min_role`` (unknown roles: no)."""
    r = (role or "").strip().lower()
    m = (min_role or "").strip().lower()
    if r not in ROLE_ORDER or m not in ROLE_ORDER:
        return False
    return ROLE_ORDER.index(r) >= ROLE_ORDER.index(m)


def bot_allowed(permissions: PermissionRule, login: str) -> bool:
    """Whether a bot account is on the allow-list (``x`` and ``x[bot]`` match)."""
    name = _bot_base(login)
    return bool(name) and any(_bot_base(b) == name for b in permissions.allow_bots)


def _bot_base(login: str) -> str:
    login = login.strip().lower()
    return login[: -len("[bot]")] if login.endswith("[bot]") else login


def label_rule_for(config: RepoConfig, label_name: str) -> SessionRule | None:
    """The rule for an added label, or None when the label does not start Devin.

    A configured label matches case-insensitively. ``<label>:<command>`` (for
    example ``devin:fix``), where ``<label>`` is a configured label and
    ``<command>`` a configured command, uses that command's rule.
    """
    name = label_name.strip().lower()
    for key, rule in config.labels.items():
        if key.lower() == name:
            return rule
    base, sep, command = name.partition(":")
    if sep and command in config.commands and any(k.lower() == base for k in config.labels):
        return config.commands[command]
    return None


def command_rule_for(config: RepoConfig, name: str) -> SessionRule | None:
    return config.commands.get(name.strip().lower())


def effective_settings(config: RepoConfig, rule: SessionRule | None = None) -> SessionSettings:
    """The rule's values where set, the repository defaults otherwise; tags add up."""
    rule = rule or SessionRule()
    d = config.defaults
    tags = tuple(dict.fromkeys((*d.tags, *rule.tags)))
    return SessionSettings(
        playbook_id=rule.playbook_id or d.playbook_id,
        playbook_macro=rule.playbook_macro,
        prompt=rule.prompt,
        max_acu_limit=rule.max_acu_limit if rule.max_acu_limit is not None else d.max_acu_limit,
        knowledge_ids=rule.knowledge_ids if rule.knowledge_ids is not None else d.knowledge_ids,
        tags=tags,
        repos=d.repos,
        structured_output_schema=rule.structured_output_schema,
        devin_mode=rule.devin_mode or d.devin_mode,
    )


# --- parsing ------------------------------------------------------------------


class _Invalid(Exception):
    """One value is wrong; the message names its key."""


_Check = Callable[[Any, str], Any]


_TOP_KEYS = ("trigger", "labels", "commands", "defaults", "permissions")
_RULE_KEYS = (
    "playbook_id",
    "playbook_macro",
    "prompt",
    "max_acu_limit",
    "knowledge_ids",
    "tags",
    "description",
    "structured_output_schema",
    "devin_mode",
)
_DEFAULT_KEYS = ("max_acu_limit", "knowledge_ids", "tags", "repos", "playbook_id", "devin_mode")
_PERMISSION_KEYS = ("min", "allow_bots", "reply_to_refused")


def parse_repo_config(text: str | None, *, path: str = CONFIG_PATH) -> ConfigResult:
    """Parse the text of ``.github/devin.yml``; never raises."""
    if text is None or not text.strip():
        return ConfigResult(RepoConfig())
    if len(text) > MAX_CONFIG_CHARS:
        return ConfigResult(
            RepoConfig(),
            (f"{path} is too large ({len(text)} characters, the limit is {MAX_CONFIG_CHARS})",),
        )
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        where = ""
        if exc.problem_mark is not None:
            where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})"
        problem = exc.problem or exc.context or "syntax error"
        return ConfigResult(RepoConfig(), (f"{path} is not valid YAML: {problem}{where}",))
    except Exception as exc:  # any other parser failure also means "use the defaults"
        return ConfigResult(RepoConfig(), (f"{path} is not valid YAML: {type(exc).__name__}",))
    if data is None:
        return ConfigResult(RepoConfig())
    if not isinstance(data, dict):
        return ConfigResult(
            RepoConfig(),
            (f"{path} must be a mapping of settings ({', '.join(_TOP_KEYS)}), got {_show(data)}",),
        )
    return _Parser().parse(data)


class _Parser:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def parse(self, data: dict[Any, Any]) -> ConfigResult:
        self._unknown_keys(data, _TOP_KEYS, "")
        base = RepoConfig()
        trigger = self._field(data, "trigger", "trigger", _trigger, base.trigger)
        labels = base.labels
        if "labels" in data:
            labels = self._rules(data["labels"], "labels", is_label=True, fallback=base.labels)
        commands: Mapping[str, SessionRule] = {}
        if "commands" in data:
            commands = self._rules(data["commands"], "commands", is_label=False, fallback={})
        defaults = self._defaults(data.get("defaults"), "defaults" in data)
        permissions = self._permissions(data.get("permissions"), "permissions" in data)
        config = RepoConfig(
            trigger=trigger,
            labels=labels,
            commands=commands,
            defaults=defaults,
            permissions=permissions,
        )
        return ConfigResult(config, tuple(self.errors))

    # -- helpers --

    def _field(
        self, data: Mapping[Any, Any], key: str, where: str, check: _Check, default: Any
    ) -> Any:
        if key not in data:
            return default
        try:
            return check(data[key], where)
        except _Invalid as exc:
            self.errors.append(str(exc))
            return default

    def _unknown_keys(self, data: Mapping[Any, Any], known: tuple[str, ...], prefix: str) -> None:
        self.errors.extend(self._unknown_key_errors(data, known, prefix))

    @staticmethod
    def _unknown_key_errors(
        data: Mapping[Any, Any], known: tuple[str, ...], prefix: str
    ) -> list[str]:
        errors = []
        for key in data:
            if key in known:
                continue
            where = _join_key(prefix, key)
            hint = difflib.get_close_matches(str(key), known, n=1)
            did_you_mean = f" (did you mean {hint[0]}?)" if hint else ""
            errors.append(f"{where} is not a known setting{did_you_mean}")
        return errors

    def _rules(
        self, value: Any, where: str, *, is_label: bool, fallback: Mapping[str, SessionRule]
    ) -> Mapping[str, SessionRule]:
        if value is None:
            return {}
        if isinstance(value, list):  # `labels: [devin, "devin:review"]`
            items: list[tuple[Any, Any]] = [(v, None) for v in value]
        elif isinstance(value, dict):
            items = list(value.items())
        else:
            self.errors.append(
                f"{where} must be a mapping of names to settings, got {_show(value)}"
            )
            return fallback
        rules: dict[str, SessionRule] = {}
        seen: set[str] = set()
        for raw_name, raw_rule in items:
            entry = _join_key(where, raw_name)
            try:
                name = _rule_name(raw_name, entry, is_label=is_label)
                if name.lower() in seen:
                    raise _Invalid(f"{entry} is listed twice (names are case-insensitive)")
                rule = self._rule(raw_rule, entry)
            except _Invalid as exc:
                self.errors.append(str(exc))
                continue
            seen.add(name.lower())
            rules[name if is_label else name.lower()] = rule
        return rules

    def _rule(self, value: Any, where: str) -> SessionRule:
        if value is None:
            return SessionRule()
        if not isinstance(value, dict):
            raise _Invalid(f"{where} must be a mapping of settings, got {_show(value)}")
        # An unknown key makes the entry invalid too: `max_acu_limt: 3` must not
        # quietly mean "no cost cap".
        problems = self._unknown_key_errors(value, _RULE_KEYS, where)
        values: dict[str, Any] = {}
        checks: dict[str, _Check] = {
            "playbook_id": _playbook_id,
            "playbook_macro": _macro,
            "prompt": _text(20_000),
            "max_acu_limit": _positive_int,
            "knowledge_ids": _id_list,
            "tags": _tags,
            "description": _text(500),
            "structured_output_schema": _schema,
            "devin_mode": _mode,
        }
        for key, check in checks.items():
            if key in value:
                try:
                    values[key] = check(value[key], f"{where}.{key}")
                except _Invalid as exc:
                    problems.append(str(exc))
        if problems:
            # Report every problem but raise once: the entry as a whole is dropped.
            self.errors.extend(problems[:-1])
            raise _Invalid(problems[-1])
        return SessionRule(**values)

    def _defaults(self, value: Any, present: bool) -> SessionDefaults:
        if not present or value is None:
            return SessionDefaults()
        if not isinstance(value, dict):
            self.errors.append(f"defaults must be a mapping of settings, got {_show(value)}")
            return SessionDefaults()
        self._unknown_keys(value, _DEFAULT_KEYS, "defaults")
        base = SessionDefaults()
        return SessionDefaults(
            max_acu_limit=self._field(
                value, "max_acu_limit", "defaults.max_acu_limit", _positive_int, None
            ),
            knowledge_ids=self._field(
                value, "knowledge_ids", "defaults.knowledge_ids", _id_list, None
            ),
            tags=self._field(value, "tags", "defaults.tags", _tags, base.tags),
            repos=self._field(value, "repos", "defaults.repos", _repos, base.repos),
            playbook_id=self._field(
                value, "playbook_id", "defaults.playbook_id", _playbook_id, None
            ),
            devin_mode=self._field(value, "devin_mode", "defaults.devin_mode", _mode, None),
        )

    def _permissions(self, value: Any, present: bool) -> PermissionRule:
        if not present or value is None:
            return PermissionRule()
        if not isinstance(value, dict):
            self.errors.append(f"permissions must be a mapping of settings, got {_show(value)}")
            return PermissionRule()
        self._unknown_keys(value, _PERMISSION_KEYS, "permissions")
        base = PermissionRule()
        bots: tuple[str, ...] = base.allow_bots
        if "allow_bots" in value:
            bots = self._bots(value["allow_bots"])
        return PermissionRule(
            min=self._field(value, "min", "permissions.min", _min_role, base.min),
            allow_bots=bots,
            reply_to_refused=self._field(
                value, "reply_to_refused", "permissions.reply_to_refused", _bool, True
            ),
        )

    def _bots(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.errors.append(
                f"permissions.allow_bots must be a list of logins, got {_show(value)}"
            )
            return ()
        bots: list[str] = []
        for i, item in enumerate(value):
            where = f"permissions.allow_bots[{i}]"
            if item == "*":
                self.errors.append(
                    f"{where} '*' is not allowed: any GitHub App could then start Devin "
                    "with a prompt it controls; list bots by name"
                )
            elif not isinstance(item, str) or not _BOT_LOGIN.match(item.strip()):
                self.errors.append(
                    f"{where} must be a bot login like 'renovate[bot]', got {_show(item)}"
                )
            else:
                bots.append(item.strip())
        return tuple(bots)


# --- value checks (each raises _Invalid naming the key) ----------------------


def _trigger(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _Invalid(f"{where} must be a word such as '/devin', got {_show(v)}")
    word: str = v.strip()
    if any(ch.isspace() for ch in word) or len(word) > 32 or word[0] in ">`~#-*+":
        raise _Invalid(
            f"{where} must be a single word of at most 32 characters that does not start "
            f"with Markdown syntax, got {_show(word)}"
        )
    return word


def _rule_name(v: Any, where: str, *, is_label: bool) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _Invalid(f"{where} must be named by a string, got {_show(v)}")
    name = v.strip()
    if is_label:
        if len(name) > 50:
            raise _Invalid(f"{where} is too long for a GitHub label (50 characters at most)")
        return name
    if name.lower() in RESERVED_NAMES:
        raise _Invalid(f"{where} cannot be used: '{name}' is a built-in command")
    if not _NAME.match(name):
        raise _Invalid(
            f"{where} must be a single word of letters, digits, '-' or '_' "
            f"(32 characters at most), got {_show(name)}"
        )
    return name


def _positive_int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise _Invalid(f"{where} must be a positive integer, got {_show(v)}")
    return v


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise _Invalid(f"{where} must be true or false, got {_show(v)}")
    return v


def _text(limit: int) -> _Check:
    def check(v: Any, where: str) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str):
            raise _Invalid(f"{where} must be text, got {_show(v)}")
        if len(v) > limit:
            raise _Invalid(f"{where} is too long ({len(v)} characters, at most {limit})")
        return v.strip() or None

    return check


def _playbook_id(v: Any, where: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip() or any(ch.isspace() for ch in v.strip()):
        raise _Invalid(f"{where} must be a playbook id like 'playbook-…', got {_show(v)}")
    if v.strip().startswith("!"):
        raise _Invalid(
            f"{where} must be a playbook id like 'playbook-…', got the macro {_show(v)} "
            "(use playbook_macro for macros)"
        )
    return v.strip()


def _macro(v: Any, where: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not _MACRO.match(v.strip()):
        raise _Invalid(f"{where} must be a playbook macro like '!fix_bug', got {_show(v)}")
    macro: str = v.strip()
    return macro if macro.startswith("!") else "!" + macro


def _mode(v: Any, where: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not _MODE.match(v.strip()):
        raise _Invalid(f"{where} must be a Devin mode such as 'normal' or 'fast', got {_show(v)}")
    return v.strip()


def _str_list(v: Any, where: str, what: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise _Invalid(f"{where} must be a list of {what}, got {_show(v)}")
    out: list[str] = []
    for i, item in enumerate(v):
        if not isinstance(item, str) or not item.strip():
            raise _Invalid(f"{where}[{i}] must be a non-empty string, got {_show(item)}")
        out.append(item.strip())
    return tuple(out)


def _id_list(v: Any, where: str) -> tuple[str, ...] | None:
    if v is None:
        return None
    return _str_list(v, where, "ids")


def _tags(v: Any, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    tags = _str_list(v, where, "tags")
    if len(tags) > 40:
        raise _Invalid(f"{where} has {len(tags)} tags; at most 40 (Devin allows 50 per session)")
    for i, tag in enumerate(tags):
        if tag.lower().startswith(RESERVED_TAG_PREFIXES):
            raise _Invalid(
                f"{where}[{i}] {_show(tag)} uses a prefix reserved for the bridge's own tags "
                f"({', '.join(RESERVED_TAG_PREFIXES)})"
            )
        if len(tag) > 100:
            raise _Invalid(f"{where}[{i}] is too long (100 characters at most)")
    return tags


def _repos(v: Any, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    repos = _str_list(v, where, "repositories")
    for i, repo in enumerate(repos):
        if not _REPO.match(repo):
            raise _Invalid(f"{where}[{i}] must look like 'owner/repo', got {_show(repo)}")
    return repos


def _schema(v: Any, where: str) -> Mapping[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise _Invalid(f"{where} must be a JSON Schema object (a mapping), got {_show(v)}")
    try:
        encoded = json.dumps(v)
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"{where} must contain only JSON values ({exc})") from None
    if len(encoded.encode()) > _MAX_SCHEMA_BYTES:
        raise _Invalid(f"{where} is larger than Devin's 64 KB limit")
    if any(not ref.startswith("#") for ref in _refs(v)):
        raise _Invalid(f"{where} must be self-contained: only '#/…' $ref values are allowed")
    try:
        Draft7Validator.check_schema(v)
    except SchemaError as exc:
        location = "/".join(str(p) for p in exc.path)
        at = f" at {location}" if location else ""
        raise _Invalid(f"{where} is not a valid JSON Schema{at}: {exc.message}") from None
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


def _min_role(v: Any, where: str) -> str:
    if not isinstance(v, str) or v.strip().lower() not in ROLE_ORDER:
        raise _Invalid(
            f"{where} must be one of {', '.join(ALLOWED_MIN_ROLES)}, got {_show(v)}; using 'write'"
        )
    role = v.strip().lower()
    if role not in ALLOWED_MIN_ROLES:
        raise _Invalid(
            f"{where} {_show(role)} is not allowed: sessions spend money and change the "
            "repository, so at least 'write' is required; using 'write'"
        )
    return role


def _join_key(prefix: str, key: Any) -> str:
    text = str(key)
    if not text or any(ch in text for ch in ". \t\n[]"):
        text = f"[{json.dumps(text)}]"
        return f"{prefix}{text}" if prefix else text
    return f"{prefix}.{text}" if prefix else text


def _show(v: Any) -> str:
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
