"""GitHub's JSON turned into the frozen dataclasses of `bot.core.github_models`; a
payload that does not fit is reported as a malformed answer, never as a KeyError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bot.core.github_models import (
    Actor,
    CheckRunInfo,
    CommentInfo,
    FileStat,
    IssueInfo,
    PullInfo,
    RepoInfo,
    parse_timestamp,
)
from bot.github.errors import GitHubError

T = TypeVar("T")


def parse(build: Callable[[Any], T], data: Any, what: str) -> T:
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise GitHubError(f"GitHub sent a malformed {what}") from None


def to_repo_info(data: Any) -> RepoInfo:
    return RepoInfo(
        full_name=str(data["full_name"]),
        default_branch=str(data.get("default_branch") or "main"),
        private=bool(data.get("private")),
    )


def _actor(user: Any) -> Actor:
    if not isinstance(user, dict):
        return Actor(login="ghost", type="User")  # deleted accounts come back as null
    return Actor(login=str(user.get("login") or "ghost"), type=str(user.get("type") or "User"))


def to_comment(data: Any) -> CommentInfo:
    app = data.get("performed_via_github_app")
    return CommentInfo(
        id=int(data["id"]),
        body=str(data.get("body") or ""),
        author=_actor(data.get("user")),
        created_at=parse_timestamp(data.get("created_at")),
        updated_at=parse_timestamp(data.get("updated_at") or data.get("created_at")),
        html_url=str(data.get("html_url") or ""),
        author_association=str(data.get("author_association") or "NONE"),
        performed_via_app=str(app["slug"]) if isinstance(app, dict) and app.get("slug") else None,
    )


def to_issue(data: Any) -> IssueInfo:
    pull = data.get("pull_request")
    state = str(data.get("state") or "open")
    labels = tuple(
        str(label["name"]) if isinstance(label, dict) else str(label)
        for label in data.get("labels") or []
    )
    return IssueInfo(
        number=int(data["number"]),
        title=str(data.get("title") or ""),
        body=str(data.get("body") or ""),
        state=state,
        is_pull_request=isinstance(pull, dict),
        author=_actor(data.get("user")),
        labels=labels,
        html_url=str(data.get("html_url") or ""),
        closed=state == "closed",
        merged=isinstance(pull, dict) and bool(pull.get("merged_at")),
    )


def to_pull(data: Any) -> PullInfo:
    head = data.get("head") or {}
    base = data.get("base") or {}
    head_repo = (head.get("repo") or {}).get("full_name")
    base_repo = str((base.get("repo") or {})["full_name"])
    return PullInfo(
        head_ref=str(head.get("ref") or ""),
        base_ref=str(base.get("ref") or ""),
        head_repo=str(head_repo) if head_repo else None,
        base_repo=base_repo,
        is_fork=not head_repo or str(head_repo).lower() != base_repo.lower(),
        merged=bool(data.get("merged")) or bool(data.get("merged_at")),
        state=str(data.get("state") or "open"),
        draft=bool(data.get("draft")),
        html_url=str(data.get("html_url") or ""),
        number=int(data.get("number") or 0),
        head_sha=str(head.get("sha") or ""),
        title=str(data.get("title") or ""),
    )


def to_file(data: Any) -> FileStat:
    return FileStat(
        filename=str(data["filename"]),
        status=str(data.get("status") or "modified"),
        additions=int(data.get("additions") or 0),
        deletions=int(data.get("deletions") or 0),
    )


def to_check_run(data: Any) -> CheckRunInfo:
    conclusion = data.get("conclusion")
    external = data.get("external_id")
    return CheckRunInfo(
        id=int(data["id"]),
        name=str(data.get("name") or ""),
        head_sha=str(data.get("head_sha") or ""),
        status=str(data.get("status") or ""),
        conclusion=str(conclusion) if conclusion else None,
        external_id=str(external) if external else None,
        html_url=str(data.get("html_url") or ""),
    )
