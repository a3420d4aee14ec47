"""Make untrusted GitHub text safe for prompts and for the bridge's own comments.

Two different dangers, two kinds of functions:

* text that GitHub *hides* from readers (HTML comments, zero-width and bidi
  characters, alt text, hidden attributes, unused link definitions) can still
  reach the agent and smuggle instructions in: :func:`sanitize` removes it;
* text that should never leave at all (tokens, keys, passwords):
  :func:`redact_secrets` replaces it with ``[REDACTED]``.

When echoing text into a comment, :func:`neutralize_mentions` stops it pinging
people and :func:`fence` wraps it in a code fence it cannot break out of.
Everything here is best effort: new hiding tricks appear, so the prompt also
tells the agent that context is untrusted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# --- hidden content ---------------------------------------------------------

# Characters with no visible glyph that can carry or reorder hidden text:
# C0/C1 controls (minus tab/newline), soft hyphen, zero-width and joiner
# characters, bidi embeddings/overrides/isolates, invisible operators, BOM,
# interlinear annotations, variation selectors and Unicode "tag" characters
# (both used for ASCII smuggling).
_INVISIBLE_RANGES = (
    (0x00, 0x08),
    (0x0B, 0x0C),
    (0x0E, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE007F),
    (0xE0100, 0xE01EF),
)
_INVISIBLE = re.compile(
    "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _INVISIBLE_RANGES) + "]"
)

# HTML comments (also unterminated: a browser hides everything after `<!--`),
# CDATA, declarations and processing instructions are all invisible once rendered.
_HTML_COMMENT = re.compile(r"<!--(?:>|->|.*?(?:--!?>|\Z))", re.S)
_HTML_HIDDEN_MARKUP = re.compile(
    r"<!\[CDATA\[.*?(?:\]\]>|\Z)|<![A-Za-z][^>]*>?|<\?.*?(?:\?>|>|\Z)", re.S
)

_NUMERIC_ENTITY = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")

_ATTR_VALUE = r"""(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)"""
_ATTR = rf"""[^\s"'<>/=]+(?:\s*=\s*{_ATTR_VALUE})?"""
_TAG = re.compile(rf"<[A-Za-z][A-Za-z0-9-]*(?:\s+{_ATTR})*\s*/?>")
_TAG_ATTR = re.compile(rf"(\s+)({_ATTR})")
_HIDDEN_ATTR_NAME = re.compile(r"(?:alt|title|placeholder|aria-[\w-]*|data-[\w-]*)$", re.I)

# After a matched `[...]`: `(destination "optional title")`. The destination
# cannot contain brackets or spaces, so each attempt ends quickly.
_LINK_TAIL = re.compile(
    r"""\([ \t]*\n?[ \t]*(?:<[^<>\n]*>|[^\s()<>\[\]]*(?:\([^\s()]*\)[^\s()<>\[\]]*)*)"""
    r"""((?:[ \t]+|[ \t]*\n[ \t]*)(?:"[^"]{0,2000}"|'[^']{0,2000}'|\([^()]{0,2000}\)))?"""
    r"""[ \t]*\n?[ \t]*\)"""
)
_LINK_LABEL = re.compile(r"\[([^\[\]\n]{1,999})\]")
_BRACKET_EVENT = re.compile(r"\\.|\[|\]|\n[ \t]*\n", re.S)
# A link reference definition, with an optional title on the same or next line.
_MD_REF_DEF = re.compile(
    r"""^ {0,3}\[([^\]\n]{1,999})\]:[ \t]*\n?[ \t]*(<[^>\n]*>|\S+)"""
    r"""(?:(?:[ \t]+|[ \t]*\n[ \t]*)(?:"[^"]{0,2000}"|'[^']{0,2000}'|\([^()]{0,2000}\)))?[ \t]*$""",
    re.M,
)

_ALL_TAGS = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s+" + _ATTR + r")*\s*/?>")


def strip_invisible(text: str) -> str:
    """Remove zero-width, bidi-control, tag and other invisible characters."""
    return _INVISIBLE.sub("", text)


def _is_invisible(ch: str) -> bool:
    return bool(_INVISIBLE.fullmatch(ch))


def decode_numeric_entities(text: str) -> str:
    """Decode ``&#64;``-style entities; drop the ones that encode invisible characters."""

    def repl(m: re.Match[str]) -> str:
        code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or code == 0:
            return ""
        ch = chr(code)
        if ch.isspace():
            return " "
        if _is_invisible(ch) or not ch.isprintable():
            return ""
        return ch

    return _NUMERIC_ENTITY.sub(repl, text)


def strip_html_comments(text: str) -> str:
    """Remove ``<!-- ... -->`` (also unterminated), CDATA, ``<!...>`` and ``<?...>``."""
    return _HTML_HIDDEN_MARKUP.sub("", _HTML_COMMENT.sub("", text))


def strip_hidden_attributes(text: str) -> str:
    """Drop alt/title/aria-*/data-*/placeholder attributes from raw HTML tags."""

    def clean_tag(tag: re.Match[str]) -> str:
        def clean_attr(a: re.Match[str]) -> str:
            name = a.group(2).split("=", 1)[0].strip()
            return "" if _HIDDEN_ATTR_NAME.match(name) else a.group(0)

        return _TAG_ATTR.sub(clean_attr, tag.group(0))

    return _TAG.sub(clean_tag, text)


def strip_markdown_hidden(text: str) -> str:
    """Drop image alt text, link titles and link definitions nothing refers to."""
    return _strip_unused_definitions(_strip_alt_and_titles(text))


def _matching_brackets(text: str) -> dict[int, int]:
    """Map each ``[`` to its matching ``]`` (escapes skipped, paragraphs respected)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACKET_EVENT.finditer(text):
        token = m.group(0)
        if token == "[":
            stack.append(m.start())
        elif token == "]":
            if stack:
                pairs[stack.pop()] = m.start()
        elif token[0] == "\n":  # a blank line ends the paragraph
            stack.clear()
    return pairs


def _strip_alt_and_titles(text: str) -> str:
    if "](" not in text and "![" not in text:
        return text
    cuts: list[tuple[int, int]] = []
    for start, end in sorted(_matching_brackets(text).items()):
        after = text[end + 1 : end + 2]
        if start > 0 and text[start - 1] == "!" and after in ("(", "[") and end > start + 1:
            cuts.append((start + 1, end))  # image alt text
        if after == "(":
            tail = _LINK_TAIL.match(text, end + 1)
            if tail and tail.group(1):
                cuts.append((tail.start(1), tail.end(1)))  # link or image title
    if not cuts:
        return text
    out: list[str] = []
    last = 0
    for a, b in sorted(cuts):
        if a < last:
            continue  # inside a part already cut (an image inside alt text)
        out.append(text[last:a])
        last = b
    out.append(text[last:])
    return "".join(out)


def _strip_unused_definitions(text: str) -> str:
    if "]:" not in text:
        return text
    defs = list(_MD_REF_DEF.finditer(text))
    if not defs:
        return text
    used = {label.strip().lower() for label in _LINK_LABEL.findall(_MD_REF_DEF.sub("", text))}
    out: list[str] = []
    last = 0
    for m in defs:
        out.append(text[last : m.start()])
        label = m.group(1).strip().lower()
        # A definition is only visible through the links that use it:
        # `[//]: # (hidden)` is the classic Markdown comment.
        if label and label in used:
            out.append(f"[{m.group(1)}]: {m.group(2)}")
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def sanitize(text: str) -> str:
    """Remove everything GitHub hides from readers; keep what they can see.

    Keeps visible text, Markdown and ``<details>`` content. Does not redact
    secrets (see :func:`sanitize_untrusted`).
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = decode_numeric_entities(text)
    text = strip_invisible(text)
    text = strip_html_comments(text)
    text = strip_hidden_attributes(text)
    return strip_markdown_hidden(text)


def sanitize_untrusted(text: str) -> str:
    """:func:`sanitize` then :func:`redact_secrets`: the form prompts receive."""
    return redact_secrets(sanitize(text))


def strip_html(text: str) -> str:
    """Remove HTML comments and all HTML tags (their text content stays)."""
    if not text:
        return ""
    return _ALL_TAGS.sub("", strip_html_comments(strip_invisible(text)))


# --- secrets ----------------------------------------------------------------

_TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        re.S,
    ),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,255}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,255}\b"),
    re.compile(r"\bv1\.[A-Fa-f0-9]{38,}\b"),
    # Devin keys: service-user `cog_…`, legacy `apk_…` / `apk_user_…`.
    re.compile(r"\b(?:cog|apk)_(?:user_)?[A-Za-z0-9]{20,}[A-Za-z0-9_-]*"),
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    re.compile(r"\bxox[abposrte]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"),
    re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),
    re.compile(r"\bpypi-[A-Za-z0-9_-]{50,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
)

# `Authorization: Bearer x`, `Authorization: token x`, `Authorization: Basic x`.
_AUTH_HEADER = re.compile(
    r"(?i)(\bauthorization\b[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token|bot)\s+)[^\s\"'`]+"
)
# A bare `Bearer <token>`: the token must look like one (a digit or a symbol),
# so prose such as "Bearer authentication" stays.
_BEARER = re.compile(r"(?i)(\bbearer\s+)(?=[A-Za-z0-9._~+/-]*[0-9+/=_-])[A-Za-z0-9._~+/-]{8,}=*")
_URL_CREDENTIALS = re.compile(
    r"(\b[a-z][a-z0-9+.-]{0,30}://[^\s:/@]{1,256}:)([^\s@/]{1,1024})(@)", re.I
)
_ASSIGNMENT = re.compile(
    # Only the key's last word matters (DB_PASSWORD, aws_secret_access_key, ...).
    r"(?i)((?:passw(?:or)?d|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|signing[_-]?key|credentials?)s?[\"']?[ \t]*[:=][ \t]*[\"']?)"
    r"([^\s\"'`,;&<>()\[\]{}$]{8,})"
)
_IDENTIFIER_LIKE = re.compile(r"[a-z][a-z_]*(?:[._][a-z_]+)+|[0-9]+|[*xX.]+", re.I)


def redact_secrets(text: str, known: Iterable[str] = ()) -> str:
    """Replace things that look like credentials with ``[REDACTED]``.

    ``known`` are exact values to remove as well (the bridge's own keys);
    values shorter than 6 characters are ignored to avoid mangling text.
    """
    if not text:
        return ""
    for value in sorted({k for k in known if k and len(k) >= 6}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)

    return _ASSIGNMENT.sub(_redact_assignment, text)


def _redact_assignment(m: re.Match[str]) -> str:
    value = m.group(2)
    following = m.string[m.end() : m.end() + 1]
    # `token = get_token(...)`, `password: settings.db_password` and
    # `max_tokens: 4096` are code, not secrets.
    if (following and following in "([") or _IDENTIFIER_LIKE.fullmatch(value):
        return m.group(0)
    return m.group(1) + REDACTED


# --- safe echoing -----------------------------------------------------------

_MENTION_ENTITY = re.compile(r"&(?:#0*64|#[xX]0*40|commat);?(?=[A-Za-z0-9])")
# Only an email-like `a@b` and a URL path `/@user` are left alone: GitHub also links
# mentions after `_`, `-`, `.`, `+` or `=` (e.g. `_@x_` renders as an emphasised mention).
_MENTION = re.compile(r"(?<![A-Za-z0-9/])@(?=[A-Za-z0-9])")
ZWSP = "\u200b"


def neutralize_mentions(text: str) -> str:
    """Insert a zero-width space after ``@`` so @user and @org/team do not ping."""
    if not text:
        return ""
    text = _MENTION_ENTITY.sub("@", text)
    return _MENTION.sub("@" + ZWSP, text)


_BACKTICK_RUN = re.compile(r"`+")


def fence(text: str, info: str = "") -> str:
    """Wrap ``text`` in a backtick fence longer than any backtick run inside it."""
    longest = max((len(m) for m in _BACKTICK_RUN.findall(text)), default=0)
    bar = "`" * max(3, longest + 1)
    info = re.sub(r"[\s`]", "", info)
    body = text if text.endswith("\n") else text + "\n"
    return f"{bar}{info}\n{body}{bar}"
