"""What a trigger asks for, read against the repository config and the run's options."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.core.commands import Command, parse_command
from bot.core.config_model import RepoConfig, SessionRule, command_rule_for, label_rule_for
from bot.core.events import Trigger
from bot.core.prompt_context import (
    SOURCE_COMMENT,
    SOURCE_LABEL,
    SOURCE_PROMPT,
    SOURCE_REVIEW_COMMENT,
)
from bot.engine.deps import DEFAULT_LABEL, DEFAULT_TRIGGER, RunOptions

RUN = "run"  # a message to the live session, or a new session when none is live
CREATE = "create"
STATUS = "status"
STOP = "stop"
HELP = "help"


@dataclass(frozen=True)
class Ask:
    kind: str  # run | create | status | stop | help
    text: str = ""
    rule: SessionRule | None = None  # the label's or named command's settings
    source: str = SOURCE_COMMENT  # prompts.SOURCE_*
    error: str | None = None  # a malformed command: shown above the help


def trigger_word(options: RunOptions, config: RepoConfig) -> str:
    """An explicitly set option wins over the repo's `trigger`."""
    option = options.trigger.strip()
    return option if option and option != DEFAULT_TRIGGER else config.trigger


def with_option_label(config: RepoConfig, options: RunOptions) -> RepoConfig:
    """A non-default `label` option starts sessions too (with the defaults' settings)."""
    label = options.label.strip()
    if not label or label == DEFAULT_LABEL or label in config.labels:
        return config
    return replace(config, labels={**config.labels, label: SessionRule()})


def read_ask(trigger: Trigger, config: RepoConfig, word: str) -> Ask | str:
    """The request, or why the trigger is not one (a string)."""
    if trigger.kind == "prompt":
        return Ask(CREATE, trigger.text, source=SOURCE_PROMPT)
    if trigger.kind == "label":
        rule = label_rule_for(config, trigger.label or "")
        if rule is None:
            return f"the label {trigger.label!r} does not start Devin"
        return Ask(CREATE, "", rule, source=SOURCE_LABEL)
    command = parse_command(trigger.text, word, tuple(config.commands))
    if command is None:
        return f"the comment is not a {word} command"
    source = SOURCE_REVIEW_COMMENT if trigger.kind == "review_comment" else SOURCE_COMMENT
    return _from_command(command, config, source)


def _from_command(command: Command, config: RepoConfig, source: str) -> Ask:
    if command.kind == "named":
        rule = command_rule_for(config, command.name or "")
        return Ask(CREATE, command.text, rule, source=source)
    if command.kind == "new":
        return Ask(CREATE, command.text, source=source)
    if command.kind == "invalid":
        return Ask(HELP, command.text, error=command.error)
    return Ask(command.kind, command.text, source=source)
