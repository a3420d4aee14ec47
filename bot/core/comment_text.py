"""Text made safe and short for one of the bridge's comments.

Everything echoed from Devin or from users is redacted, stripped of HTML and
de-fanged (mentions cannot ping) before it reaches a comment; durations and
ACU counts get one compact spelling wherever they are shown.
"""

from __future__ import annotations

import re

from bot.core.markdown import escape_text, one_line, truncate
from bot.core.sanitize import neutralize_mentions, redact_secrets, strip_html


def echo_line(text: str, limit: int) -> str:
    """Untrusted text for a single line of a comment: Markdown is escaped too."""
    return escape_text(truncate(one_line(defang(text, limit)), limit))


def plain_line(text: str, limit: int) -> str:
    """The bridge's own text (which may quote config values) for one line:
    Markdown kept, HTML, pings and secrets removed."""
    return truncate(one_line(defang(text, limit)), limit)


def echo_block(text: str, limit: int) -> str:
    """Untrusted multi-line text for a quote: HTML stripped, no pings, no secrets."""
    cleaned = defang(text, limit).strip()
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    return truncate(cleaned, limit)


def defang(text: str, limit: int) -> str:
    # Work on a window wider than what will be shown (HTML and redaction shrink
    # text), so huge messages stay cheap and no secret is cut in half first.
    window = (text or "")[: limit * 4 + 2_000]
    return neutralize_mentions(redact_secrets(strip_html(window)))


def format_duration(seconds: float) -> str:
    """``<1m``, ``12m``, ``1h 05m``, ``2d 3h``."""
    total = max(0, int(seconds))
    minutes = total // 60
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def format_acus(value: float) -> str:
    if value <= 0:
        return "0"
    if value < 0.1:
        return "<0.1"
    return f"{value:.1f}"
