"""Turn a GitHub event payload into a `Trigger` (work for the bridge) or `Ignored`.

Pure and fast: the webhook calls `classify` inside the request, before anything
slow. It only decides whether an event *might* be for us; the precise command
parsing happens in `handlers.handle` once the repository config is known.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.github_models import Actor

__all__ = ["Actor", "Ignored", "ReviewLocation", "Trigger", "classify", "first_line"]

# Every comment the bridge writes carries this (see comment_markers.marker); never react to one.
BRIDGE_MARKER_PREFIX = "<!-- devin-bridge:"
COMMAND_PREFIX = "/"


@dataclass(frozen=True)
class ReviewLocation:
    """Where a pull-request review comment sits in the diff."""

    path: str
    line: int | None
    side: str | None
    diff_hunk: str
    url: str | None
    start_line: int | None = None
    commit_id: str | None = None


@dataclass(frozen=True)
class Trigger:
    event: str
    action: str
    kind: str  # "comment" | "review_comment" | "label" | "prompt"
    repo: str
    number: int | None
    is_pull_request: bool
    sender: Actor
    text: str
    comment_id: int | None
    comment_url: str | None
    label: str | None
    installation_id: int | None
    created_at: str | None
    review: ReviewLocation | None
    previous_text: str | None
    dedupe_key: str
    # The issue or pull request as the event saw it: what the requester read. The prompt
    # uses it rather than a later read, which an author could have edited meanwhile.
    subject_title: str | None = None
    subject_body: str | None = None

    @property
    def thread(self) -> str | None:
        return f"{self.repo}#{self.number}" if self.number is not None else None

    @property
    def is_comment(self) -> bool:
        return self.kind in ("comment", "review_comment")


@dataclass(frozen=True)
class Ignored:
    reason: str


def first_line(text: str | None) -> str:
    """The first non-blank line, stripped ("" when there is none)."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def classify(
    event_name: str,
    payload: Mapping[str, Any],
    *,
    bot_login: str | None = None,
    prompt: str | None = None,
) -> Trigger | Ignored:
    """Decide whether an event is work for the bridge. Never raises."""
    if not isinstance(payload, Mapping):
        return Ignored("the event payload is not a JSON object")
    try:
        return _classify(event_name or "", payload, bot_login, prompt)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        return Ignored(f"malformed {event_name or 'event'} payload ({type(err).__name__})")


def _classify(
    event: str, payload: Mapping[str, Any], bot_login: str | None, prompt: str | None
) -> Trigger | Ignored:
    action = _str(payload.get("action"))
    repo = _str(_map(payload.get("repository")).get("full_name"))
    if not repo or "/" not in repo:
        return Ignored(f"{event or 'event'} has no repository")
    sender = _actor(payload.get("sender"))
    if prompt is not None and prompt.strip():
        return _prompt_trigger(event, action, repo, sender, payload, prompt.strip())
    if event == "issue_comment":
        return _issue_comment(action, repo, sender, payload, bot_login)
    if event == "pull_request_review_comment":
        return _review_comment(action, repo, sender, payload, bot_login)
    if event in ("issues", "pull_request"):
        return _labeled(event, action, repo, sender, payload, bot_login)
    return Ignored(f"{event or 'this event'} is not handled without a prompt")


def _issue_comment(
    action: str,
    repo: str,
    sender: Actor,
    payload: Mapping[str, Any],
    bot_login: str | None,
) -> Trigger | Ignored:
    if action not in ("created", "edited"):
        return Ignored(f"issue_comment.{action or '?'} is not a trigger")
    comment = _map(payload.get("comment"))
    issue = _map(payload.get("issue"))
    number = _int(issue.get("number"))
    comment_id = _int(comment.get("id"))
    if number is None or comment_id is None:
        return Ignored("issue_comment without an issue number or comment id")
    body = _command_body(comment, sender, bot_login, "comment")
    if isinstance(body, Ignored):
        return body
    previous: str | None = None
    key = f"comment:{repo}:{comment_id}"
    if action == "edited":
        changes = _map(_map(payload.get("changes")).get("body"))
        previous = _str(changes.get("from")) if "from" in changes else None
        if previous is not None and first_line(previous) == first_line(body):
            return Ignored("the edit did not change the command line")
        key += ":" + _digest(first_line(body))
    return Trigger(
        event="issue_comment",
        action=action,
        kind="comment",
        repo=repo,
        number=number,
        is_pull_request=isinstance(issue.get("pull_request"), Mapping),
        sender=sender,
        text=body,
        comment_id=comment_id,
        comment_url=_opt_str(comment.get("html_url")),
        label=None,
        installation_id=_installation(payload),
        created_at=_opt_str(comment.get("updated_at" if action == "edited" else "created_at")),
        review=None,
        previous_text=previous,
        dedupe_key=key,
        subject_title=_opt_str(issue.get("title")),
        subject_body=_opt_str(issue.get("body")),
    )


def _command_body(
    comment: Mapping[str, Any], sender: Actor, bot_login: str | None, what: str
) -> str | Ignored:
    """The comment's body when it may be a command: not the bridge's own, first line `/…`."""
    author = _actor(comment.get("user")) if comment.get("user") else sender
    body = _str(comment.get("body"))
    own = _own_comment(sender, author, body, bot_login)
    if own:
        return Ignored(own)
    if not first_line(body).startswith(COMMAND_PREFIX):
        return Ignored(f"the {what} is not a command")
    return body


def _review_comment(
    action: str,
    repo: str,
    sender: Actor,
    payload: Mapping[str, Any],
    bot_login: str | None,
) -> Trigger | Ignored:
    if action != "created":
        return Ignored(f"pull_request_review_comment.{action or '?'} is not a trigger")
    comment = _map(payload.get("comment"))
    pull = _map(payload.get("pull_request"))
    number = _int(pull.get("number"))
    comment_id = _int(comment.get("id"))
    if number is None or comment_id is None:
        return Ignored("review comment without a pull request number or comment id")
    body = _command_body(comment, sender, bot_login, "review comment")
    if isinstance(body, Ignored):
        return body
    review = ReviewLocation(
        path=_str(comment.get("path")),
        line=_int(comment.get("line")) or _int(comment.get("original_line")),
        side=_opt_str(comment.get("side")),
        diff_hunk=_str(comment.get("diff_hunk")),
        url=_opt_str(comment.get("html_url")),
        start_line=_int(comment.get("start_line")),
        commit_id=_opt_str(comment.get("commit_id")),
    )
    return Trigger(
        event="pull_request_review_comment",
        action=action,
        kind="review_comment",
        repo=repo,
        number=number,
        is_pull_request=True,
        sender=sender,
        text=body,
        comment_id=comment_id,
        comment_url=review.url,
        label=None,
        installation_id=_installation(payload),
        created_at=_opt_str(comment.get("created_at")),
        review=review,
        previous_text=None,
        dedupe_key=f"review-comment:{repo}:{comment_id}",
        subject_title=_opt_str(pull.get("title")),
        subject_body=_opt_str(pull.get("body")),
    )


def _labeled(
    event: str,
    action: str,
    repo: str,
    sender: Actor,
    payload: Mapping[str, Any],
    bot_login: str | None,
) -> Trigger | Ignored:
    if action != "labeled":
        return Ignored(f"{event}.{action or '?'} is not a trigger")
    label = _str(_map(payload.get("label")).get("name")).strip()
    if not label:
        return Ignored(f"{event}.labeled without a label name")
    if bot_login and sender.login.lower() == bot_login.lower():
        return Ignored("the bridge added this label itself")
    item = _map(payload.get("issue" if event == "issues" else "pull_request"))
    number = _int(item.get("number")) or _int(payload.get("number"))
    if number is None:
        return Ignored(f"{event}.labeled without a number")
    is_pr = event == "pull_request" or isinstance(item.get("pull_request"), Mapping)
    stamp = _opt_str(item.get("updated_at"))
    return Trigger(
        event=event,
        action=action,
        kind="label",
        repo=repo,
        number=number,
        is_pull_request=is_pr,
        sender=sender,
        text=label,
        comment_id=None,
        comment_url=None,
        label=label,
        installation_id=_installation(payload),
        created_at=stamp,
        review=None,
        previous_text=None,
        dedupe_key=f"label:{repo}#{number}:{label}:{stamp or ''}",
        subject_title=_opt_str(item.get("title")),
        subject_body=_opt_str(item.get("body")),
    )


def _prompt_trigger(
    event: str,
    action: str,
    repo: str,
    sender: Actor,
    payload: Mapping[str, Any],
    prompt: str,
) -> Trigger:
    # A prompt comes from the workflow (trusted); the event only says where to report.
    item = _map(payload.get("issue")) or _map(payload.get("pull_request"))
    number = _int(item.get("number")) if item else None
    if number is None and event in ("issues", "pull_request", "pull_request_target"):
        number = _int(payload.get("number"))
    is_pr = event.startswith("pull_request") or (
        "head" in item or isinstance(item.get("pull_request"), Mapping)
    )
    comment = _map(payload.get("comment"))
    stamp = (
        _opt_str(comment.get("created_at"))
        or _opt_str(item.get("updated_at") if item else None)
        or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    where = f"{repo}#{number}" if number is not None else repo
    return Trigger(
        event=event,
        action=action,
        kind="prompt",
        repo=repo,
        number=number,
        is_pull_request=is_pr if number is not None else False,
        sender=sender,
        text=prompt,
        comment_id=None,
        comment_url=None,
        label=None,
        installation_id=_installation(payload),
        created_at=stamp,
        review=None,
        previous_text=None,
        dedupe_key=f"prompt:{where}:{_digest(prompt)}:{stamp}",
    )


def _own_comment(sender: Actor, author: Actor, body: str, bot_login: str | None) -> str:
    """Why the comment is the bridge's own ("" when it is not)."""
    if bot_login:
        mine = bot_login.lower()
        if sender.login.lower() == mine or author.login.lower() == mine:
            return "the comment was written or edited by the bridge itself"
    if BRIDGE_MARKER_PREFIX in body:
        return "the comment is a devin-bridge status comment"
    return ""


# --- tolerant field access ----------------------------------------------------------------


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _actor(value: Any) -> Actor:
    data = _map(value)
    login = _str(data.get("login")) or "ghost"
    return Actor(login=login, type=_str(data.get("type")) or "User")


def _installation(payload: Mapping[str, Any]) -> int | None:
    return _int(_map(payload.get("installation")).get("id"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]
