"""The detail sections of a status: pull requests, structured output, attachments.

Each is bounded on its own (a count of lines, a number of characters), so that
one large section cannot push the rest of the comment past GitHub's limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from bot.core.comment_text import defang, plain_line
from bot.core.markdown import details, escape_text, link, one_line, truncate
from bot.core.sanitize import fence, redact_secrets
from bot.core.status_view import AttachmentView

_PREVIEW_CHARS = 2_000
_PREVIEWS_TOTAL = 12_000
_MAX_ATTACHMENTS = 30

_PR_URL = re.compile(r"^https?://[^/]+/([^/]+)/([^/]+)/pull/(\d+)")


def pr_line(url: str, state: str | None) -> str:
    """A pull request as ``owner/repo#n`` linked to it, with its state."""
    m = _PR_URL.match(url or "")
    label = f"{m.group(1)}/{m.group(2)}#{m.group(3)}" if m else one_line(url)
    shown = link(label, url)
    return f"{shown} ({escape_text(state)})" if state else shown


def structured_block(data: object, limit: int) -> str:
    """Structured output as a fenced JSON block, redacted and cut at ``limit``."""
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(data)
    text = redact_secrets(text)
    if len(text) > limit:
        text = text[:limit] + "\n… (truncated; the full output is in the session)"
    return fence(text, "json")


def attachment_line(a: AttachmentView, session_url: str | None) -> str:
    """One attachment, linked to the session page.

    The attachment's own URL is the Devin API's and answers 401 without the bridge's
    key, so a reader is sent where they can open it: the session in Devin's web app,
    which lists its attachments to the organisation's members. (A download proxied by
    the bridge would have to authenticate GitHub readers itself; see README.)
    """
    return f"- {link(plain_line(a.name, 120) or 'attachment', session_url)}"


def attachment_lines(
    attachments: Iterable[AttachmentView], *, previews: bool, session_url: str | None = None
) -> list[str]:
    """The attachments section (with a leading blank line), or [] without any."""
    items = list(attachments)
    if not items:
        return []
    where = f" (open them in the {link('Devin session', session_url)})" if session_url else ""
    out = ["", f"**Attachments:**{where}"]
    for a in items[:_MAX_ATTACHMENTS]:
        out.append(attachment_line(a, session_url))
    if len(items) > _MAX_ATTACHMENTS:
        out.append(f"- … and {len(items) - _MAX_ATTACHMENTS} more in the session")
    if previews:
        budget = _PREVIEWS_TOTAL
        for a in items[:_MAX_ATTACHMENTS]:
            if not a.text_preview or budget <= 0:
                continue
            limit = min(_PREVIEW_CHARS, budget)
            # Redact a window wider than what is shown, so no secret is cut in half first.
            text = redact_secrets(a.text_preview[: limit + 1_000].replace("\r\n", "\n"))
            # A marker inside a preview must not make this comment look like another's.
            text = text.replace("<!--", "<\u200b!--")
            text = truncate(text, limit, suffix="\n… (truncated)")
            budget -= len(text)
            out += ["", details(f"📄 {one_line(defang(a.name, 120))[:120]}", fence(text))]
    return out
