"""Small GitHub-Markdown builders shared by the comment and help renderers."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from bot.core.sanitize import fence

ELLIPSIS = "…"

_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$")


def truncate(text: str, limit: int, suffix: str = ELLIPSIS) -> str:
    """Cut ``text`` to at most ``limit`` characters, preferring a word boundary."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit <= len(suffix):
        return text[:limit]
    cut = text[: limit - len(suffix)]
    space = cut.rfind(" ")
    if space > len(cut) * 0.8:
        cut = cut[:space]
    return cut.rstrip() + suffix


def one_line(text: str) -> str:
    """Collapse all whitespace (newlines included) to single spaces."""
    return " ".join(text.split())


def quote(text: str) -> str:
    """Render ``text`` as a Markdown block quote."""
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.split("\n"))


def code_span(text: str) -> str:
    """An inline code span that ``text``'s own backticks cannot close."""
    text = one_line(text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def escape_text(text: str) -> str:
    """Escape characters that would start links, tables, emphasis or HTML."""
    text = one_line(text)
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]|#~])", r"\\\1", text)


def table_cell(text: str) -> str:
    return one_line(text).replace("|", "\\|")


def safe_url(url: str | None) -> str | None:
    """``url`` if it is http(s) and has a host, with characters that would end a
    Markdown link destination escaped; otherwise None."""
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    url = re.sub(r"[\x00-\x20\x7f]", lambda m: f"%{ord(m.group(0)):02X}", url)
    return url.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def link(text: str, url: str | None) -> str:
    """``[text](url)``, or the escaped text alone when the URL is unusable."""
    target = safe_url(url)
    label = escape_text(text) or "link"
    return f"[{label}]({target})" if target else label


def login_ref(login: str) -> str:
    """``@login`` for a valid GitHub login, otherwise escaped text that cannot ping."""
    login = (login or "").strip().lstrip("@")
    if _LOGIN.match(login):
        return f"@{login}"
    return escape_text(login).replace("@", "@\u200b") or "someone"


def details(summary: str, body: str) -> str:
    """A collapsed ``<details>`` block; ``summary`` is plain text."""
    summary = html.escape(one_line(summary), quote=False)
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def code_block(text: str, info: str = "") -> str:
    return fence(text, info)
