"""The conversation endpoints of `GitHubClient`: an issue (or PR) and its comments,
read newest first, written and reacted to.
"""

from __future__ import annotations

from bot.core.github_models import REACTIONS, CommentInfo, IssueInfo, trim_comment_body
from bot.core.write_budget import Priority
from bot.github.errors import GitHubNotFound
from bot.github.parsing import parse, to_comment, to_issue
from bot.github.transport import DEFAULT_MAX_WAIT, GitHubTransport, repo_path


class IssueEndpoints(GitHubTransport):
    def issue(self, full_name: str, number: int) -> IssueInfo:
        _, data = self._request(
            "GET", f"{repo_path(full_name)}/issues/{int(number)}", action=f"reading #{number}"
        )
        return parse(to_issue, data, "issue")

    def comments(self, full_name: str, number: int, limit: int = 50) -> list[CommentInfo]:
        """The most recent `limit` conversation comments, oldest first."""
        if limit <= 0:
            return []
        url = f"{repo_path(full_name)}/issues/{int(number)}/comments"
        newest: list[CommentInfo] = []
        for item in self._newest_first(url, f"reading the comments of #{number}"):
            newest.append(parse(to_comment, item, "comment"))
            if len(newest) >= limit:
                break
        return newest[::-1]

    def find_comment(self, full_name: str, number: int, marker: str) -> CommentInfo | None:
        """The newest comment on the thread whose body contains `marker`."""
        url = f"{repo_path(full_name)}/issues/{int(number)}/comments"
        for item in self._newest_first(url, f"searching the comments of #{number}"):
            if isinstance(item, dict) and marker in str(item.get("body") or ""):
                return parse(to_comment, item, "comment")
        return None

    def get_comment(self, full_name: str, comment_id: int) -> CommentInfo | None:
        try:
            _, data = self._request(
                "GET",
                f"{repo_path(full_name)}/issues/comments/{int(comment_id)}",
                action=f"reading comment {comment_id}",
            )
        except GitHubNotFound:
            return None
        return parse(to_comment, data, "comment")

    def create_comment(
        self,
        full_name: str,
        number: int,
        body: str,
        *,
        priority: Priority = Priority.NORMAL,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> CommentInfo:
        _, data = self._request(
            "POST",
            f"{repo_path(full_name)}/issues/{int(number)}/comments",
            body={"body": trim_comment_body(body)},
            action=f"commenting on #{number}",
            priority=priority,
            max_wait=max_wait,
        )
        return parse(to_comment, data, "comment")

    def edit_comment(
        self,
        full_name: str,
        comment_id: int,
        body: str,
        *,
        priority: Priority = Priority.NORMAL,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> CommentInfo:
        _, data = self._request(
            "PATCH",
            f"{repo_path(full_name)}/issues/comments/{int(comment_id)}",
            body={"body": trim_comment_body(body)},
            action=f"editing comment {comment_id}",
            priority=priority,
            max_wait=max_wait,
        )
        return parse(to_comment, data, "comment")

    def react(
        self,
        full_name: str,
        comment_id: int,
        content: str = "eyes",
        review_comment: bool = False,
        *,
        priority: Priority = Priority.NORMAL,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> None:
        """Add a reaction to a conversation comment (or to a PR review comment)."""
        if content not in REACTIONS:
            raise ValueError(f"unknown reaction {content!r}; use one of {sorted(REACTIONS)}")
        kind = "pulls" if review_comment else "issues"
        self._request(
            "POST",
            f"{repo_path(full_name)}/{kind}/comments/{int(comment_id)}/reactions",
            body={"content": content},
            action=f"reacting to comment {comment_id}",
            priority=priority,
            max_wait=max_wait,
        )
