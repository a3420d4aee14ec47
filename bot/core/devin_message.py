"""Devin's message as Markdown for a status comment: safe prose, exact code, bounded size.

The message is parsed with markdown-it-py (CommonMark plus GFM tables) so that code is
known for what it is: fenced and indented code blocks and inline code spans reach the
comment byte for byte (GitHub never pings or cross-references inside code). Everywhere
else, ``@mentions`` get a zero-width space so they do not ping, issue references
(``#12``, ``GH-12``, ``owner/repo#12``) get one so they do not link or cross-reference
unrelated issues, and raw HTML is escaped so it shows as text. Secrets are redacted
everywhere, code included.

A long message keeps its head and its tail, cut only between top-level blocks (never
inside a fence or a table), with "… full message in the session" linking the session
in between. An unclosed fence is closed, so nothing after the message turns into code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.core.markdown import safe_url, truncate
from bot.core.sanitize import ZWSP, neutralize_mentions, redact_secrets

MORE_TEXT = "full message in the session"
_TAIL_SHARE = 0.35  # of the budget kept for the end of a long message

# Kinds of source line.
_CODE = "code"  # fenced or indented code: untouched
_HTML = "html"  # an HTML block: shown as text
_TABLE = "table"  # a table row: neutralised cell by cell
_TEXT = "text"  # anything else: inline Markdown

_AUTOLINK = re.compile(r"<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>")
_BARE_URL = re.compile(r"(?:https?://|www\.)[^\s<]+", re.I)
# `&#35;12` renders as `#12`, which GitHub then links: decode it so the rule below sees it.
_HASH_ENTITY = re.compile(r"&(?:#0*35|#[xX]0*23|num);(?=[0-9])")
_ISSUE_HASH = re.compile(r"(?<!&)#(?=[0-9])")
_GH_REF = re.compile(r"(?<![A-Za-z0-9])(GH-)(?=[0-9])", re.I)
_CELL_SPLIT = re.compile(r"((?<!\\)\|)")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Block structure only: inline code is found by `neutralize_inline` on each block's
    # own source, so markdown-it's (much slower) inline pass is not needed.
    return MarkdownIt("commonmark").enable("table").enable("strikethrough").disable("inline")


@dataclass(frozen=True)
class _Block:
    """One top-level block of the message: its neutralised text and what it is."""

    text: str
    kind: str  # the markdown-it token type that opened it
    source: str  # before neutralising (to cut a long paragraph, then neutralise)


@lru_cache(maxsize=16)  # the comment and its fingerprint render the same message
def render_message(text: str, limit: int, session_url: str | None = None) -> str:
    """Devin's message made safe for a comment and at most ``limit`` characters."""
    source = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not source.strip():
        return ""
    layout = _Layout(source)
    if len(source) <= limit:
        whole = _join([layout.block(i) for i in range(len(layout.starts))])
        if len(whole) <= limit:
            return whole
    return _shorten(layout, limit, session_url)


def neutralize_prose(text: str) -> str:
    """Mentions, issue references and raw HTML made inert in text that is not code."""
    out: list[str] = []
    last = 0
    for m in _BARE_URL.finditer(text):
        out.append(_neutralize_words(text[last : m.start()]))
        out.append(m.group(0))  # a URL's `/@x` or `#12` pings and links nobody
        last = m.end()
    out.append(_neutralize_words(text[last:]))
    return "".join(out)


def _neutralize_words(text: str) -> str:
    text = neutralize_mentions(text)
    text = _HASH_ENTITY.sub("#", text)
    text = _ISSUE_HASH.sub("#" + ZWSP, text)
    text = _GH_REF.sub(lambda m: m.group(1) + ZWSP, text)
    return text.replace("<", "&lt;")


def neutralize_inline(src: str) -> str:
    """Inline Markdown with its code spans and autolinks kept and the rest neutralised.

    Follows CommonMark's scan: a backslash escapes the next character, a run of n
    backticks opens a code span closed by the next run of exactly n (else it is
    literal), and code spans, autolinks and HTML tags start where they are leftmost.
    """
    out: list[str] = []
    plain = 0
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "`":
            run = _run_length(src, i)
            close = _closing_run(src, i + run, run)
            if close < 0:
                i += run
                continue
            out.append(neutralize_prose(src[plain:i]))
            out.append(src[i : close + run])
            i = plain = close + run
            continue
        if c == "<":
            m = _AUTOLINK.match(src, i)
            if m:
                out.append(neutralize_prose(src[plain:i]))
                out.append(m.group(0))
                i = plain = m.end()
                continue
        i += 1
    out.append(neutralize_prose(src[plain:]))
    return "".join(out)


def _run_length(src: str, i: int) -> int:
    j = i
    while j < len(src) and src[j] == "`":
        j += 1
    return j - i


def _closing_run(src: str, start: int, run: int) -> int:
    i = src.find("`", start)
    while i >= 0:
        length = _run_length(src, i)
        if length == run:
            return i
        i = src.find("`", i + length)
    return -1


# --- blocks -------------------------------------------------------------------------------


class _Layout:
    """The message's blocks as markdown-it sees them; each top-level block is made safe
    only when asked for (a long message costs what is shown, not what is dropped)."""

    def __init__(self, source: str) -> None:
        self.lines = source.split("\n")
        self.kinds: list[str | None] = [None] * len(self.lines)
        tokens = _parser().parse(source)
        self.groups: dict[int, int] = {}  # first line -> end of a leaf block's inline text
        for tok in tokens:
            if tok.map is None:
                continue
            start, end = tok.map
            if tok.type in ("fence", "code_block"):
                _mark(self.kinds, start, end, _CODE)
            elif tok.type == "html_block":
                _mark(self.kinds, start, end, _HTML)
            elif tok.type == "table_open":
                _mark(self.kinds, start, end, _TABLE)
            elif tok.type == "inline" and self.kinds[start] is None:
                self.groups[start] = end
                _mark(self.kinds, start, end, _TEXT)
        self.starts = [
            (t.map[0], t.type)
            for t in tokens
            if t.level == 0 and t.map is not None and t.nesting >= 0
        ]
        self.closing = _unclosed_fence(tokens, self.lines)
        self._done: dict[int, _Block] = {}

    def block(self, index: int) -> _Block:
        """Top-level block ``index``, neutralised, redacted, and closed if it is the last."""
        if index in self._done:
            return self._done[index]
        start, kind = self.starts[index]
        end = self.starts[index + 1][0] if index + 1 < len(self.starts) else len(self.lines)
        shown: list[str] = []
        k = start
        while k < end:
            kind_k = self.kinds[k]
            if kind_k == _TEXT and k in self.groups:
                stop = min(self.groups[k], end)
                shown += neutralize_inline("\n".join(self.lines[k:stop])).split("\n")
                k = stop
                continue
            line = self.lines[k]
            if kind_k == _CODE:
                shown.append(line)
            elif kind_k == _HTML:
                shown.append(neutralize_prose(line))
            elif kind_k == _TABLE:
                cells = _CELL_SPLIT.split(line)
                shown.append("".join(c if c == "|" else neutralize_inline(c) for c in cells))
            else:  # blank lines, list markers, rules
                shown.append(neutralize_inline(line))
            k += 1
        text = redact_secrets("\n".join(shown).rstrip())
        if index + 1 == len(self.starts) and self.closing is not None:
            text += "\n" + self.closing
        source = "\n".join(self.lines[start:end]).rstrip()
        block = _Block(text, kind, source)
        self._done[index] = block
        return block


def _mark(kinds: list[str | None], start: int, end: int, kind: str) -> None:
    for k in range(start, min(end, len(kinds))):
        if kinds[k] is None:
            kinds[k] = kind


def _unclosed_fence(tokens: list[Token], lines: list[str]) -> str | None:
    """The line that closes the message's last fence when the message left it open."""
    fences = [t for t in tokens if t.type == "fence" and t.map is not None]
    if not fences:
        return None
    last = fences[-1]
    assert last.map is not None
    start, end = last.map
    if end < len(lines) or end - start < 2:
        return None if end < len(lines) else _closer(last, lines[start])
    tail = lines[end - 1].lstrip(" >\t")
    mark = last.markup
    if tail.startswith(mark) and not tail.strip(mark[0]).strip():
        return None
    return _closer(last, lines[start])


def _closer(fence: Token, opening: str) -> str:
    # Same container as the opening line: its `>` kept, a list marker as spaces.
    at = max(opening.find(fence.markup), 0)
    prefix = "".join(ch if ch in ">\t" else " " for ch in opening[:at])
    return prefix + fence.markup


def _join(blocks: list[_Block]) -> str:
    return "\n\n".join(b.text for b in blocks if b.text.strip())


def _shorten(layout: _Layout, limit: int, session_url: str | None) -> str:
    url = safe_url(session_url)
    more = f"_… [{MORE_TEXT}]({url})_" if url else f"_… {MORE_TEXT}_"
    budget = max(0, limit - len(more) - 4)
    count = len(layout.starts)
    tail: list[_Block] = []
    used = 0
    for i in range(count - 1, 0, -1):
        b = layout.block(i)
        if used + len(b.text) + 2 > int(budget * _TAIL_SHARE):
            break
        tail.insert(0, b)
        used += len(b.text) + 2
    head: list[_Block] = []
    head_budget = budget - used
    used = 0
    for i in range(count - len(tail)):
        b = layout.block(i)
        if used + len(b.text) + 2 > head_budget:
            if not head and b.kind == "paragraph_open":
                # A long first paragraph: cut its source by words, then neutralise, so
                # a code span cut in half cannot leave a live mention behind.
                cut = truncate(b.source, int(head_budget * 0.9), suffix="")
                head.append(_Block(redact_secrets(neutralize_inline(cut)), b.kind, cut))
            break
        head.append(b)
        used += len(b.text) + 2
    return "\n\n".join([b.text for b in head if b.text.strip()] + [more] + [b.text for b in tail])
