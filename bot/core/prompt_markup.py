"""Untrusted GitHub text, rendered safely for a prompt.

Everything from the thread passes through here on its way into a prompt or a
follow-up message: it is sanitised (hidden HTML, invisible characters, secrets)
and any look-alike of the prompt's own tags is escaped, so that text written
by anyone cannot close the ``<github_context>`` block and pose as instructions.
"""

from __future__ import annotations

import html
import re

from bot.core.markdown import one_line, safe_url, truncate
from bot.core.prompt_context import (
    SOURCE_FOLLOW_UP,
    SOURCE_LABEL,
    SOURCE_PROMPT,
    SOURCE_REVIEW_COMMENT,
    ContextComment,
    FileChange,
    Instruction,
    ReviewContext,
)
from bot.core.sanitize import sanitize_untrusted

CUT = "\n[…cut to fit]"
MAX_HUNK_CHARS = 6_000
_MAX_COMMENT_CHARS = 4_000

_TAG_NAMES = (
    "github_context",
    "instruction",
    "issue",
    "pull_request",
    "title",
    "labels",
    "branches",
    "body",
    "review_comment",
    "diff_hunk",
    "changed_files",
    "comments",
    "comment",
)
# Any whitespace (newlines, NBSP, U+2028) may sit inside a tag a model would still read,
# and full-width or small less-than signs look like `<` to it as well.
_LT = "[<\uff1c\ufe64]"
_OUR_TAGS = re.compile(_LT + r"\s{0,8}(/?)\s{0,8}(" + "|".join(_TAG_NAMES) + r")\b", re.I)
_OUR_TAGS_ESCAPED = re.compile(
    r"&(?:lt|#0*60|#[xX]0*3[cC]);\s{0,8}(/?)\s{0,8}(" + "|".join(_TAG_NAMES) + r")\b", re.I
)


def clean(text: str | None) -> str:
    """Untrusted text with hidden HTML and invisible characters removed, secrets redacted."""
    return sanitize_untrusted(text or "")


def escape_tags(text: str) -> str:
    """Stop untrusted text from closing or opening the prompt's own blocks."""
    text = _OUR_TAGS_ESCAPED.sub(lambda m: "&amp;lt;" + m.group(1) + m.group(2), text)
    return _OUR_TAGS.sub(lambda m: "&lt;" + m.group(1) + m.group(2), text)


def block(tag: str, text: str) -> str:
    """``text`` inside ``<tag>…</tag>``, unable to close it."""
    return f"<{tag}>\n{escape_tags(text.strip())}\n</{tag}>"


def tag_attrs(**values: str | None) -> str:
    """Attributes for an opening tag; unset values are left out."""
    parts = [
        f' {k}="{html.escape(one_line(clean(v)), quote=True)}"'
        for k, v in values.items()
        if v is not None and v != ""
    ]
    return "".join(parts)


def comment_block(c: ContextComment) -> str:
    """One thread comment as a ``<comment>`` block, capped in length."""
    body = clean(c.body).strip()
    body = truncate(body, _MAX_COMMENT_CHARS, suffix=CUT)
    attrs = tag_attrs(author=c.author or "unknown", created_at=c.created_at)
    return f"<comment{attrs}>\n{escape_tags(body)}\n</comment>"


def file_line(f: FileChange) -> str:
    """One changed file as a line of ``<changed_files>``, e.g. ``modified a.py (+3 -1)``."""
    name = escape_tags(one_line(clean(f.filename)))
    status = re.sub(r"[^a-z_]", "", (f.status or "").lower()) or "modified"
    return f"{status} {name} (+{_count(f.additions)} -{_count(f.deletions)})"


def _count(n: object) -> int:
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0


def review_block(review: ReviewContext, hunk: str) -> str:
    """The reviewed spot as a ``<review_comment>`` block holding its diff hunk."""
    attrs = tag_attrs(
        path=review.path,
        line=str(review.line) if review.line is not None else None,
        side=review.side,
        url=review.comment_url,
    )
    inner = block("diff_hunk", hunk) if hunk.strip() else ""
    return (
        f"<review_comment{attrs}>\n{inner}\n</review_comment>"
        if inner
        else (f"<review_comment{attrs}/>")
    )


def where_phrase(ins: Instruction, review: ReviewContext | None) -> str:
    """Where the request came from; ends with the trigger's URL when known."""
    url = ins.trigger_url
    if ins.source == SOURCE_REVIEW_COMMENT or (review and ins.source == SOURCE_FOLLOW_UP):
        spot = ""
        if review:
            path = one_line(clean(review.path))
            line = f" line {review.line}" if review.line is not None else ""
            spot = f" on {path}{line}"
            url = url or review.comment_url
        phrase = f" in a review comment{spot}"
    elif ins.source == SOURCE_LABEL:
        label = one_line(clean(ins.label or ""))
        phrase = f" by adding the label \u201c{label}\u201d" if label else " by adding a label"
    elif ins.source == SOURCE_PROMPT:
        phrase = " from a GitHub Actions workflow"
    else:
        phrase = " in a comment"
    target = safe_url(url)
    return f"{phrase}: {target}" if target else phrase


def mention(login: str) -> str:
    """The requester as ``@login``, or "a maintainer" when there is no usable login."""
    login = one_line(clean(login)).lstrip("@")
    return f"@{login}" if login else "a maintainer"
