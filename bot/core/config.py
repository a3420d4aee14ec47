"""Parse the repository configuration ``.github/devin.yml`` (DESIGN.md §1.5).

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
The parsed records live in ``bot.core.config_model``; the checks of single
values in ``bot.core.config_checks``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from bot.core.config_checks import (
    Check,
    InvalidValue,
    check_bool,
    check_id_list,
    check_macro,
    check_min_role,
    check_mode,
    check_playbook_id,
    check_playbook_name,
    check_positive_int,
    check_repos,
    check_rule_name,
    check_schema,
    check_tags,
    check_trigger,
    is_bot_login,
    join_key,
    show,
    text_check,
)
from bot.core.config_model import PermissionRule, RepoConfig, SessionDefaults, SessionRule

CONFIG_PATH = ".github/devin.yml"
MAX_CONFIG_CHARS = 100_000


@dataclass(frozen=True)
class ConfigResult:
    config: RepoConfig
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


_TOP_KEYS = ("trigger", "labels", "commands", "defaults", "permissions", "checks")
_RULE_KEYS = (
    "playbook_id",
    "playbook",
    "playbook_macro",
    "prompt",
    "max_acu_limit",
    "knowledge_ids",
    "tags",
    "description",
    "structured_output_schema",
    "devin_mode",
)
_DEFAULT_KEYS = (
    "max_acu_limit",
    "knowledge_ids",
    "tags",
    "repos",
    "playbook_id",
    "playbook",
    "devin_mode",
)
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
            (f"{path} must be a mapping of settings ({', '.join(_TOP_KEYS)}), got {show(data)}",),
        )
    return _Parser().parse(data)


class _Parser:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def parse(self, data: dict[Any, Any]) -> ConfigResult:
        self._unknown_keys(data, _TOP_KEYS, "")
        base = RepoConfig()
        trigger = self._field(data, "trigger", "trigger", check_trigger, base.trigger)
        labels = base.labels
        if "labels" in data:
            labels = self._rules(data["labels"], "labels", is_label=True, fallback=base.labels)
        commands: Mapping[str, SessionRule] = {}
        if "commands" in data:
            commands = self._rules(data["commands"], "commands", is_label=False, fallback={})
        defaults = self._defaults(data.get("defaults"), "defaults" in data)
        permissions = self._permissions(data.get("permissions"), "permissions" in data)
        checks = self._field(data, "checks", "checks", check_bool, None)
        config = RepoConfig(
            trigger=trigger,
            labels=labels,
            commands=commands,
            defaults=defaults,
            permissions=permissions,
            checks=checks,
        )
        return ConfigResult(config, tuple(self.errors))

    # -- helpers --

    def _field(
        self, data: Mapping[Any, Any], key: str, where: str, check: Check, default: Any
    ) -> Any:
        if key not in data:
            return default
        try:
            return check(data[key], where)
        except InvalidValue as exc:
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
            where = join_key(prefix, key)
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
            self.errors.append(f"{where} must be a mapping of names to settings, got {show(value)}")
            return fallback
        rules: dict[str, SessionRule] = {}
        seen: set[str] = set()
        for raw_name, raw_rule in items:
            entry = join_key(where, raw_name)
            try:
                name = check_rule_name(raw_name, entry, is_label=is_label)
                if name.lower() in seen:
                    raise InvalidValue(f"{entry} is listed twice (names are case-insensitive)")
                rule = self._rule(raw_rule, entry)
            except InvalidValue as exc:
                self.errors.append(str(exc))
                continue
            seen.add(name.lower())
            rules[name if is_label else name.lower()] = rule
        return rules

    def _rule(self, value: Any, where: str) -> SessionRule:
        if value is None:
            return SessionRule()
        if not isinstance(value, dict):
            raise InvalidValue(f"{where} must be a mapping of settings, got {show(value)}")
        # An unknown key makes the entry invalid too: `max_acu_limt: 3` must not
        # quietly mean "no cost cap".
        problems = self._unknown_key_errors(value, _RULE_KEYS, where)
        values: dict[str, Any] = {}
        checks: dict[str, Check] = {
            "playbook_id": check_playbook_id,
            "playbook": check_playbook_name,
            "playbook_macro": check_macro,
            "prompt": text_check(20_000),
            "max_acu_limit": check_positive_int,
            "knowledge_ids": check_id_list,
            "tags": check_tags,
            "description": text_check(500),
            "structured_output_schema": check_schema,
            "devin_mode": check_mode,
        }
        if "playbook" in value and "playbook_id" in value:
            problems.append(f"{where}: give playbook (a name) or playbook_id, not both")
        for key, check in checks.items():
            if key in value:
                try:
                    values["playbook_name" if key == "playbook" else key] = check(
                        value[key], f"{where}.{key}"
                    )
                except InvalidValue as exc:
                    problems.append(str(exc))
        if problems:
            # Report every problem but raise once: the entry as a whole is dropped.
            self.errors.extend(problems[:-1])
            raise InvalidValue(problems[-1])
        return SessionRule(**values)

    def _defaults(self, value: Any, present: bool) -> SessionDefaults:
        if not present or value is None:
            return SessionDefaults()
        if not isinstance(value, dict):
            self.errors.append(f"defaults must be a mapping of settings, got {show(value)}")
            return SessionDefaults()
        self._unknown_keys(value, _DEFAULT_KEYS, "defaults")
        base = SessionDefaults()
        return SessionDefaults(
            max_acu_limit=self._field(
                value, "max_acu_limit", "defaults.max_acu_limit", check_positive_int, None
            ),
            knowledge_ids=self._field(
                value, "knowledge_ids", "defaults.knowledge_ids", check_id_list, None
            ),
            tags=self._field(value, "tags", "defaults.tags", check_tags, base.tags),
            repos=self._field(value, "repos", "defaults.repos", check_repos, base.repos),
            playbook_id=self._field(
                value, "playbook_id", "defaults.playbook_id", check_playbook_id, None
            ),
            playbook_name=self._field(
                value, "playbook", "defaults.playbook", check_playbook_name, None
            ),
            devin_mode=self._field(value, "devin_mode", "defaults.devin_mode", check_mode, None),
        )

    def _permissions(self, value: Any, present: bool) -> PermissionRule:
        if not present or value is None:
            return PermissionRule()
        if not isinstance(value, dict):
            self.errors.append(f"permissions must be a mapping of settings, got {show(value)}")
            return PermissionRule()
        self._unknown_keys(value, _PERMISSION_KEYS, "permissions")
        base = PermissionRule()
        bots: tuple[str, ...] = base.allow_bots
        if "allow_bots" in value:
            bots = self._bots(value["allow_bots"])
        return PermissionRule(
            min=self._field(value, "min", "permissions.min", check_min_role, base.min),
            allow_bots=bots,
            reply_to_refused=self._field(
                value, "reply_to_refused", "permissions.reply_to_refused", check_bool, True
            ),
        )

    def _bots(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.errors.append(
                f"permissions.allow_bots must be a list of logins, got {show(value)}"
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
            elif not isinstance(item, str) or not is_bot_login(item.strip()):
                self.errors.append(
                    f"{where} must be a bot login like 'renovate[bot]', got {show(item)}"
                )
            else:
                bots.append(item.strip())
        return tuple(bots)
