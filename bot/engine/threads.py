"""One GitHub thread, one live Devin session: tags, and finding the session and its
status comment again.

The tags are the contract (DESIGN §1.6) that lets a stateless Action run, or a
restarted service, find the session that is live on a thread.
"""

from __future__ import annotations

import hashlib
import re

from bot.core.comment_markers import find_session_id, marker
from bot.core.config_model import RESERVED_TAG_PREFIXES
from bot.core.devin_models import Session, same_session
from bot.core.github_models import CommentInfo
from bot.devin.bodies import MAX_TAGS, dedupe
from bot.devin.client import IDEMPOTENCY_TAG_PREFIX, DevinClient
from bot.github.client import GitHubClient

BRIDGE_TAG = "devin-bridge"
MAX_TAG_CHARS = 200
# Bounds the walk over a thread's sessions (old ones are mostly exited).
MAX_THREAD_SESSIONS = 500
MAX_SCANNED_COMMENTS = 100
MAX_SCANNED_MESSAGES = 1000


def repo_tag(repo: str) -> str:
    return f"repo:{repo}"


def thread_tag(repo: str, number: int) -> str:
    return f"thread:{repo}#{number}"


def session_tags(repo: str, number: int | None, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The contract tags first, then configured ones.

    Blank, over-long and look-alike tags (``thread:...`` could tie a session to another
    thread) are dropped, and one slot is left for the client's idempotency tag.
    """
    base = [BRIDGE_TAG, repo_tag(repo)]
    if number is not None:
        base.append(thread_tag(repo, number))
    cleaned = [
        t.strip()
        for t in extra
        if t.strip()
        and len(t.strip()) <= MAX_TAG_CHARS
        and not t.strip().lower().startswith(RESERVED_TAG_PREFIXES)
    ]
    return dedupe([*base, *cleaned])[: MAX_TAGS - 1]


def request_key(key: str) -> str:
    """A short, tag-safe idempotency key for any semantic key (delivery id, comment id...)."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]


def session_for_request(devin: DevinClient, key: str) -> Session | None:
    """The session an earlier attempt of the same trigger created, if any."""
    return devin.find_session_by_tag(IDEMPOTENCY_TAG_PREFIX + request_key(key))


def thread_sessions(devin: DevinClient, repo: str, number: int) -> list[Session]:
    """Every session the bridge created for the thread, newest first."""
    tag = thread_tag(repo, number)
    found = [
        s
        for s in devin.iter_sessions(tags=[tag], limit=MAX_THREAD_SESSIONS)
        # The API's tag filter semantics are undocumented: check locally too.
        if not s.tags or tag in s.tags
    ]
    return sorted(found, key=lambda s: s.created_at, reverse=True)


def live_session(devin: DevinClient, repo: str, number: int) -> Session | None:
    """The newest live session on the thread (not exit/error, not archived)."""
    return next((s for s in thread_sessions(devin, repo, number) if s.is_live), None)


_TRIGGER_LINK = re.compile(
    r"requested by @[^\s]+ (?:in \[this (?:review )?comment\]|in \[this review\]|\(\[trigger\])"
    r"\((https://[^)\s]+)\)"
)
_REQUESTER = re.compile(r"requested by @([A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?)")


def already_sent(devin: DevinClient, session_id: str, message: str) -> bool:
    """Whether this exact follow-up is already in the session: a retried job (after a
    crash or a lost answer) must not deliver the same message twice."""
    wanted = message.strip()
    for count, sent in enumerate(devin.iter_messages(session_id, first=200), start=1):
        if not sent.from_devin and sent.message.strip() == wanted:
            return True
        if count >= MAX_SCANNED_MESSAGES:
            break
    return False


def trigger_url_in(body: str) -> str | None:
    """The link to the comment (or label, workflow) that started the session."""
    m = _TRIGGER_LINK.search(body or "")
    return m.group(1) if m else None


_STOPPER = re.compile(
    r"\*\*Stopped\*\* by @\u200b?([A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?) with"
)


def stopper_in(body: str) -> str | None:
    """Who stopped the session, as `status_wording.stopped_words` wrote it."""
    m = _STOPPER.search(body or "")
    return m.group(1) if m else None


def requester_in(body: str) -> str | None:
    """Who asked for the session, as the status comment's headline says."""
    m = _REQUESTER.search(body or "")
    return m.group(1) if m else None


def find_status_comment(
    github: GitHubClient, repo: str, number: int, session_id: str, bot_login: str | None
) -> CommentInfo | None:
    """The session's status comment, found by its marker.

    Anyone (another App, or Devin through an attachment shown in a comment) can put a
    marker into a comment, so only a comment written by the bot itself with the marker
    as its first line counts. With the bot's login unknown nothing counts: a new
    comment is better than editing someone else's.
    """
    if not bot_login:
        return None
    mark = marker(session_id)
    found = github.find_comment(repo, number, mark)
    if found is not None and _ours(found, session_id, bot_login):
        return found
    recent = github.comments(repo, number, limit=MAX_SCANNED_COMMENTS)
    return next((c for c in reversed(recent) if _ours(c, session_id, bot_login)), None)


def _ours(comment: CommentInfo, session_id: str, bot_login: str) -> bool:
    first_line = comment.body.lstrip().split("\n", 1)[0].strip()
    # The API may spell an id with or without `devin-`: compare the bare ids.
    found = find_session_id(first_line)
    return (
        found is not None
        and same_session(found, session_id)
        and comment.author.login.lower() == bot_login.lower()
    )
