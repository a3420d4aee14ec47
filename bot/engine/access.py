"""Who may use Devin on a repository.

The check fails closed: an error while checking is a refusal, except rate limits
and outages, which are re-raised so the trigger is retried later, and a rejected
token, which is re-raised so it is reported as the operator's error. The
`author_association` field is not trusted (it hides private org membership).
"""

from __future__ import annotations

import logging

from bot.core.config_model import RepoConfig, allowed, bot_allowed
from bot.core.events import Trigger
from bot.github.client import GitHubClient
from bot.github.errors import GitHubAuthError, GitHubError, GitHubRateLimited, GitHubUnavailable

# Events only people with write access (or the repository's own automation) can cause.
# A prompt given on any other event (say issue_comment) still gets the sender checked.
OWNER_EVENTS = frozenset(
    {"workflow_dispatch", "schedule", "push", "workflow_run", "repository_dispatch"}
)


def refusal(trigger: Trigger, config: RepoConfig, github: GitHubClient, log: logging.Logger) -> str:
    """Why the sender may not use Devin here ("" when they may)."""
    perms = config.permissions
    if trigger.kind == "prompt" and trigger.event in OWNER_EVENTS:
        return ""  # the workflow's own prompt, started by people with write access
    sender = trigger.sender
    if sender.is_bot:
        return "" if bot_allowed(perms, sender.login) else "bots may not start Devin here"
    try:
        role = github.permission(trigger.repo, sender.login)
    except (GitHubRateLimited, GitHubUnavailable, GitHubAuthError):
        # A rejected token is the operator's mistake, not the sender's: report it as such.
        raise
    except GitHubError as err:
        log.warning("permission check for %s failed: %s", sender.login, err)
        return "your permission on this repository could not be checked"
    if allowed(role, perms.min):
        return ""
    return f"starting Devin needs {perms.min} access to this repository"
