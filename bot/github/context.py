"""Read what a session needs from GitHub: the repo config and the prompt context.

Everything optional degrades: a thread whose comments or changed files cannot
be read still gets a session, with less context. Rate limits and outages are
re-raised so a queue can retry the whole trigger later.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.core.config import ConfigResult, parse_repo_config
from bot.core.config_model import RepoConfig
from bot.core.events import Trigger
from bot.core.github_models import CommentInfo, IssueInfo
from bot.core.prompt_context import (
    ContextComment,
    FileChange,
    PromptContext,
    PullContext,
    ReviewContext,
)
from bot.github.client import GitHubClient
from bot.github.errors import GitHubError, GitHubRateLimited, GitHubUnavailable

MAX_CONTEXT_COMMENTS = 50
MAX_CHANGED_FILES = 300
TRANSIENT_GITHUB = (GitHubRateLimited, GitHubUnavailable)


def load_config(github: GitHubClient, repo: str, path: str, log: logging.Logger) -> ConfigResult:
    """The repository's config from its default branch; defaults when absent or unreadable."""
    try:
        text = github.read_file(repo, path)
    except TRANSIENT_GITHUB:
        raise
    except GitHubError as err:
        # Defaults are safe: they require write access and set no playbook.
        log.warning("could not read %s in %s, using defaults: %s", path, repo, err)
        return ConfigResult(RepoConfig())
    if text is None:
        return ConfigResult(RepoConfig())
    return parse_repo_config(text, path=path)


def review_context(trigger: Trigger) -> ReviewContext | None:
    r = trigger.review
    if r is None:
        return None
    return ReviewContext(
        path=r.path, line=r.line, side=r.side, diff_hunk=r.diff_hunk, comment_url=r.url
    )


def light_context(trigger: Trigger) -> PromptContext:
    """What a follow-up message needs: where it comes from, no GitHub reads."""
    return PromptContext(
        repo=trigger.repo,
        number=trigger.number,
        is_pull_request=trigger.is_pull_request,
        review=review_context(trigger),
        trigger_time=trigger.created_at,
    )


def prompt_context(github: GitHubClient, trigger: Trigger, log: logging.Logger) -> PromptContext:
    """The issue or pull request around the trigger, for a new session's prompt."""
    base = light_context(trigger)
    if trigger.number is None:
        return base
    try:
        issue = github.issue(trigger.repo, trigger.number)
    except TRANSIENT_GITHUB:
        raise
    except GitHubError as err:
        log.warning("could not read %s: %s", trigger.thread, err)
        return base
    return PromptContext(
        repo=trigger.repo,
        number=trigger.number,
        is_pull_request=trigger.is_pull_request or issue.is_pull_request,
        title=issue.title if trigger.subject_title is None else trigger.subject_title,
        body=issue.body if trigger.subject_body is None else trigger.subject_body,
        author=issue.author.login,
        labels=issue.labels,
        url=issue.html_url,
        comments=_comments(github, trigger, log),
        pull=_pull(github, trigger, issue, log),
        review=base.review,
        trigger_time=trigger.created_at,
    )


def _comments(
    github: GitHubClient, trigger: Trigger, log: logging.Logger
) -> tuple[ContextComment, ...]:
    assert trigger.number is not None
    try:
        found = github.comments(trigger.repo, trigger.number, limit=MAX_CONTEXT_COMMENTS)
    except TRANSIENT_GITHUB:
        raise
    except GitHubError as err:
        log.warning("could not read the comments of %s: %s", trigger.thread, err)
        return ()
    return tuple(_context_comment(c) for c in found)


def _context_comment(c: CommentInfo) -> ContextComment:
    return ContextComment(
        author=c.author.login,
        body=c.body,
        created_at=_iso(c.created_at),
        updated_at=_iso(c.updated_at),
        is_bot=c.author.is_bot or c.performed_via_app is not None,
        url=c.html_url or None,
    )


def _pull(
    github: GitHubClient, trigger: Trigger, issue: IssueInfo, log: logging.Logger
) -> PullContext | None:
    if not (trigger.is_pull_request or issue.is_pull_request) or trigger.number is None:
        return None
    try:
        pull = github.pull(trigger.repo, trigger.number)
        files = github.pull_files(trigger.repo, trigger.number, limit=MAX_CHANGED_FILES)
    except TRANSIENT_GITHUB:
        raise
    except GitHubError as err:
        log.warning("could not read pull request %s: %s", trigger.thread, err)
        return None
    return PullContext(
        base_ref=pull.base_ref,
        head_ref=pull.head_ref,
        head_repo=pull.head_repo,
        is_fork=pull.is_fork,
        files=tuple(FileChange(f.filename, f.status, f.additions, f.deletions) for f in files),
    )


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
