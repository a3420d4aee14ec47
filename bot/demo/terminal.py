"""The status comment (GitHub-flavoured Markdown) as a terminal shows it: links as
``text <url>``, bold as bold, code blocks indented, folded sections opened, the hidden
marker left out. Pure text in, text out."""

from __future__ import annotations

import html
import re

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]+)`")
_TAG = re.compile(r"</?(?:sub|sup|b|i|em|strong|br|details)\s*/?>", re.IGNORECASE)
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.IGNORECASE)
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FENCE = re.compile(r"^(`{3,}|~{3,})")

BOLD_ON, BOLD_OFF, DIM_ON = "\x1b[1m", "\x1b[0m", "\x1b[2m"


def render(markdown: str, *, color: bool = False, width: int = 78) -> str:
    """One comment body for a terminal; ``color`` adds ANSI bold and dim."""
    lines: list[str] = []
    fence: str | None = None
    for raw in _HTML_COMMENT.sub("", markdown).splitlines():
        opened = _FENCE.match(raw.strip())
        if fence is not None:
            if opened and raw.strip().startswith(fence):
                fence = None
            else:
                lines.append("    " + raw)
            continue
        if opened:
            fence = opened.group(1)
            continue
        lines.append(_inline(raw, color=color, width=width))
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def _inline(line: str, *, color: bool, width: int) -> str:
    if line.strip() in ("---", "***", "___"):
        return "─" * min(width, 40)
    line = _SUMMARY.sub(lambda m: "▸ " + m.group(1), line)
    line = _TAG.sub("", line)
    line = _LINK.sub(lambda m: f"{m.group(1)} <{m.group(2)}>", line)
    line = _CODE.sub(lambda m: m.group(1), line)
    if color:
        line = _BOLD.sub(lambda m: BOLD_ON + m.group(1) + BOLD_OFF, line)
    else:
        line = _BOLD.sub(lambda m: m.group(1), line)
    line = _ESCAPED.sub(lambda m: m.group(1), line)
    return html.unescape(line).rstrip()


def frame(title: str, body: str, *, color: bool = False, width: int = 78) -> str:
    """``body`` under a rule that names it."""
    head = f"── {title} "
    rule = head + "─" * max(4, width - len(head))
    if color:
        rule = DIM_ON + rule + BOLD_OFF
    return f"{rule}\n{body}\n"
