"""What the GitHub client hands back: frozen dataclasses and pure helpers.

Nothing here talks to the network, so every other module (and every fake) can import it
without pulling in PyGithub.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_COMMENT_CHARS = 65_536
"""GitHub refuses longer comment bodies with 422 "Body is too long"."""

REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})

WRITE_ROLES = frozenset({"admin", "maintain", "write"})


# --- data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    login: str
    type: str = "User"  # "User", "Bot" or "Organization"

    @property
    def is_bot(self) -> bool:
        return self.type == "Bot" or self.login.endswith("[bot]")


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    default_branch: str
    private: bool


@dataclass(frozen=True)
class IssueInfo:
    number: int
    title: str
    body: str
    state: str  # "open" or "closed"
    is_pull_request: bool
    author: Actor
    labels: tuple[str, ...]
    html_url: str
    closed: bool
    merged: bool = False  # only ever True for a merged pull request


@dataclass(frozen=True)
class CommentInfo:
    id: int
    body: str
    author: Actor
    created_at: datetime
    updated_at: datetime
    html_url: str
    author_association: str
    performed_via_app: str | None = None  # the App's slug when an App posted it


@dataclass(frozen=True)
class PullInfo:
    head_ref: str
    base_ref: str
    head_repo: str | None  # None when the fork was deleted
    base_repo: str
    is_fork: bool
    merged: bool
    state: str
    draft: bool
    html_url: str
    number: int = 0
    head_sha: str = ""
    title: str = ""


@dataclass(frozen=True)
class CheckRunInfo:
    """A check run as GitHub answered it (REST "Check runs")."""

    id: int
    name: str
    head_sha: str
    status: str  # queued | in_progress | completed (and waiting, requested, pending)
    conclusion: str | None
    external_id: str | None = None
    html_url: str = ""


@dataclass(frozen=True)
class FileStat:
    filename: str
    status: str  # added, removed, modified, renamed, copied, changed, unchanged
    additions: int
    deletions: int


# --- pure helpers -------------------------------------------------------------------------

_HIDDEN_LINE = re.compile(r"^\s*<!--.*-->\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
TRIM_NOTICE = "\n\n*(trimmed: the full text exceeded GitHub's 65,536-character comment limit)*"


def comment_length(body: str) -> int:
    """Length as GitHub may count it (UTF-16 code units); never less than len(body)."""
    return len(body.encode("utf-16-le")) // 2


def trim_comment_body(body: str, limit: int = MAX_COMMENT_CHARS) -> str:
    """Shorten `body` to fit GitHub's limit without losing hidden markers.

    Hidden marker lines (`<!-- ... -->`, e.g. the session marker) are kept, an open code
    fence or <details> block is closed, and a notice says the text was trimmed.
    """
    if comment_length(body) <= limit:
        return body
    markers = [line for line in body.splitlines() if _HIDDEN_LINE.match(line)]
    tail = TRIM_NOTICE + "".join(f"\n{m.strip()}" for m in markers)
    budget = limit - comment_length(tail) - 64  # room for closing a fence/<details>
    head = _cut(body, max(budget, 0))
    head = head.rsplit("\n", 1)[0] if "\n" in head[-500:] else head
    # drop markers from the head: they are re-added once, at the end
    kept = [line for line in head.splitlines() if not _HIDDEN_LINE.match(line)]
    head = "\n".join(kept)
    fence = _open_fence(kept)
    if fence:
        head += f"\n{fence}"
    open_details = head.lower().count("<details") - head.lower().count("</details>")
    head += "\n</details>" * max(open_details, 0)
    trimmed = head + tail
    return trimmed if comment_length(trimmed) <= limit else _cut(trimmed, limit)


def _cut(text: str, units: int) -> str:
    """The longest prefix of `text` of at most `units` UTF-16 code units."""
    if comment_length(text) <= units:
        return text
    prefix = text[:units]  # each char is >= 1 unit, so this is an upper bound
    while comment_length(prefix) > units:
        prefix = prefix[: -max(1, (comment_length(prefix) - units) // 2)]
    return prefix


def _open_fence(lines: list[str]) -> str | None:
    opener: str | None = None
    for line in lines:
        match = _FENCE.match(line)
        if not match:
            continue
        fence = match.group(1)
        if opener is None:
            opener = fence
        elif (
            fence[0] == opener[0]
            and len(fence) >= len(opener)
            and not line.strip()[len(fence) :].strip()
        ):
            opener = None
    return opener


def parse_timestamp(value: object) -> datetime:
    """GitHub's ISO 8601 'Z' timestamps as aware UTC datetimes (epoch on garbage)."""
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return datetime.fromtimestamp(0, UTC)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.fromtimestamp(0, UTC)


def effective_role(permission_payload: Mapping[str, object]) -> str:
    """The collaborator's real role from GET .../collaborators/{u}/permission.

    `role_name` carries maintain/triage and custom roles' base; the legacy `permission`
    folds maintain into write and triage into read, so it is only the fallback.
    """
    role = permission_payload.get("role_name")
    if isinstance(role, str) and role in {"admin", "maintain", "write", "triage", "read", "none"}:
        return role
    legacy = permission_payload.get("permission")
    if isinstance(legacy, str) and legacy in {"admin", "write", "read", "none"}:
        return legacy
    return "none"
