"""What a repository's ``.github/devin.yml`` says, once parsed, and what it means.

The frozen records the parser in ``bot.core.config`` produces, and the
questions the engine asks of them: may this role or bot start Devin, which rule
does a label or command select, and what settings does a new session get.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.commands import DEFAULT_TRIGGER

DEFAULT_LABEL = "devin"

ROLE_ORDER = ("none", "read", "triage", "write", "maintain", "admin")

# The bridge tags its sessions with these (DESIGN.md §1.6); a config tag that
# looked like one could make a session look like another thread's.
RESERVED_TAG_PREFIXES = ("devin-bridge", "repo:", "thread:")


@dataclass(frozen=True)
class SessionRule:
    """Session settings for one label or one ``/devin <name>`` command."""

    playbook_id: str | None = None
    playbook_name: str | None = None  # `playbook: fix-bug`, a .devin/playbooks/ name
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
    playbook_name: str | None = None
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
    # The "Devin" check run on pull requests; None: the deployment's default
    # (on for the App service, off for the Action, whose token needs `checks: write`).
    checks: bool | None = None


@dataclass(frozen=True)
class SessionSettings:
    """A rule merged over the repository defaults: what a new session gets."""

    playbook_id: str | None = None
    playbook_name: str | None = None  # resolved to an id at run time (engine/playbooks.py)
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
    # A rule's playbook (by id or by name) wins over the defaults' playbook as a whole.
    own = rule.playbook_id is not None or rule.playbook_name is not None
    return SessionSettings(
        playbook_id=rule.playbook_id if own else d.playbook_id,
        playbook_name=rule.playbook_name if own else d.playbook_name,
        playbook_macro=rule.playbook_macro,
        prompt=rule.prompt,
        max_acu_limit=rule.max_acu_limit if rule.max_acu_limit is not None else d.max_acu_limit,
        knowledge_ids=rule.knowledge_ids if rule.knowledge_ids is not None else d.knowledge_ids,
        tags=tags,
        repos=d.repos,
        structured_output_schema=rule.structured_output_schema,
        devin_mode=rule.devin_mode or d.devin_mode,
    )
