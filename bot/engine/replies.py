"""The bridge's short replies: help, "nothing to stop", and the config-problem note."""

from __future__ import annotations

from bot.core import comments
from bot.core.comment_markers import REPLY_MARKER
from bot.core.config_model import RepoConfig
from bot.core.devin_models import Session
from bot.devin.errors import DevinError


def help_reply(
    config: RepoConfig,
    word: str,
    *,
    error: str | None,
    login: str,
    problems: tuple[str, ...],
    config_path: str,
) -> str:
    """The help comment, with the config's problems listed when there are any."""
    body = comments.render_help(
        word,
        {name: rule.description for name, rule in config.commands.items()},
        {name: rule.description for name, rule in config.labels.items()},
        error=error,
        login=login if error else None,
    )
    if problems:
        listing = comments.render_config_error(problems, config_path)
        body += "\n\n" + listing.split("\n", 1)[1]  # without its own marker line
    return body


def short_reply(text: str, word: str) -> str:
    sentence = f"{text[:1].upper()}{text[1:]}."
    return f"{REPLY_MARKER}\n{sentence} Start one with `{word} <instructions>`."


MAX_NOTED_PROBLEMS = 10


def config_note(problems: tuple[str, ...], config_path: str) -> str | None:
    """One line for the status comment (and the Action log) naming every key at fault;
    only those entries are ignored, the rest of the file applies."""
    if not problems:
        return None
    shown = "; ".join(problems[:MAX_NOTED_PROBLEMS])
    left = len(problems) - MAX_NOTED_PROBLEMS
    more = f"; and {left} more" if left > 0 else ""
    return f"{config_path} has problems, these entries are ignored: {shown}{more}"


def undelivered_reason(live: Session, err: DevinError) -> str:
    """Why a follow-up did not reach the session, in words for the status comment."""
    if live.blocked_by_usage:
        return (
            f"the session is suspended ({live.status_detail}) and takes no messages "
            "until the usage limit is raised"
        )
    return str(err)
