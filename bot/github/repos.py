"""The repository endpoints of `GitHubClient`: the repository itself, a file's text, a
user's permission, and a pull request with its changed files.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

from bot.core.github_models import FileStat, PullInfo, RepoInfo, effective_role
from bot.github.errors import GitHubError, GitHubNotFound
from bot.github.parsing import parse, to_file, to_pull, to_repo_info
from bot.github.transport import GitHubTransport, repo_path


class RepoEndpoints(GitHubTransport):
    def repository(self, full_name: str) -> RepoInfo:
        _, data = self._request("GET", repo_path(full_name), action=f"reading {full_name}")
        return parse(to_repo_info, data, "repository")

    def read_file(self, full_name: str, path: str, ref: str | None = None) -> str | None:
        """The text of a file, or None when it (or the ref) does not exist."""
        url = f"{repo_path(full_name)}/contents/{quote(path.lstrip('/'), safe='/')}"
        try:
            _, data = self._request(
                "GET",
                url,
                params={"ref": ref} if ref else None,
                action=f"reading {path} in {full_name}",
            )
        except GitHubNotFound:
            return None
        if not isinstance(data, dict) or data.get("type") != "file":
            return None  # a directory listing, submodule or symlink
        if data.get("encoding") != "base64":
            raise GitHubError(
                f"{path} in {full_name} is too large for the contents API; keep it under 1 MB"
            )
        try:
            raw = base64.b64decode(str(data.get("content") or ""))
        except (binascii.Error, ValueError):
            raise GitHubError(f"GitHub sent undecodable content for {path}") from None
        return raw.decode("utf-8", errors="replace")

    def permission(self, full_name: str, login: str) -> str:
        """The user's role: admin, maintain, write, triage, read or none (404 → none)."""
        url = f"{repo_path(full_name)}/collaborators/{quote(login, safe='')}/permission"
        try:
            _, data = self._request(
                "GET", url, action=f"checking {login}'s permission on {full_name}"
            )
        except GitHubNotFound:
            return "none"  # not a user (e.g. an App) or no such account
        return effective_role(data) if isinstance(data, dict) else "none"

    def pull(self, full_name: str, number: int) -> PullInfo:
        _, data = self._request(
            "GET", f"{repo_path(full_name)}/pulls/{int(number)}", action=f"reading PR #{number}"
        )
        return parse(to_pull, data, "pull request")

    def pull_files(self, full_name: str, number: int, limit: int = 100) -> list[FileStat]:
        """The first `limit` files changed by the pull request."""
        url = f"{repo_path(full_name)}/pulls/{int(number)}/files"
        files: list[FileStat] = []
        for item in self._forward(url, f"listing the files of PR #{number}", min(limit, 100)):
            if len(files) >= limit:
                break
            files.append(parse(to_file, item, "file"))
        return files
