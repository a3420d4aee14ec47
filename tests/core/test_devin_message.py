"""Devin's message in the status comment, checked the way GitHub renders it (cmark-gfm).

Each message of the corpus is rendered through cmark-gfm before and after the bridge
handles it: the code GitHub shows must be identical, no mention or issue reference may
be live outside code, raw HTML must show as text, a shortened message keeps its tail and
is never cut inside a fence.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from bot.core.comments import render
from bot.core.devin_message import MORE_TEXT, render_message
from bot.core.devin_models import Session
from bot.core.status_view import StatusView

SESSION_URL = "https://app.devin.ai/sessions/0123abcd"

# Tags cmark-gfm produces from Markdown itself; any other tag came from raw HTML.
MARKDOWN_TAGS = {
    "p", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "ul", "ol", "li",
    "blockquote", "em", "strong", "a", "h1", "h2", "h3", "h4", "h5", "h6", "del", "hr",
    "br", "sub",
}  # fmt: skip

LIVE_MENTION = re.compile(r"(?<![A-Za-z0-9/`])@[A-Za-z0-9]")
LIVE_REFERENCE = re.compile(r"#[0-9]|\bGH-[0-9]", re.I)

PYTHON_FENCE = (
    "```python\n@dataclass(frozen=True)\nclass Point:\n    x: int  # see #12\n"
    "    def __lt__(self, o: 'Point') -> bool:\n        return self.x < o.x  # @alice\n```"
)
HTML_FENCE = '```html\n<div class="card">@user</div>\n<!-- keep me -->\n<b>#42</b>\n```'
DIFF_FENCE = "```diff\n- old = foo(@bar)\n+ new = foo(#12)\n```"
TABLE = (
    "| Test | Result | Issue |\n|---|---|---|\n| `test_a<int>` | passed | #123 |\n"
    "| `@fixture` | failed, ask @bob | GH-7 |"
)

CORPUS = {
    "code spans": (
        "Use `Map<String, List<Integer>>` and `@Override`; the `a < b > c` check "
        "and ``x `y` z`` stay. Ping @alice about #123 and owner/repo#9."
    ),
    "python fence": f"Fixed it:\n\n{PYTHON_FENCE}\n\nDone, cc @octo-org/core.",
    "html fence": f"The template:\n\n{HTML_FENCE}",
    "diff": f"The change:\n\n{DIFF_FENCE}\n\nSee #12.",
    "table": f"Results:\n\n{TABLE}\n\nAll good.",
    "references": (
        "Closes #12, GH-34 and octo/repo#56; thanks @alice, @octo-org/team, &#64;bob "
        "and &#35;78. Mail me at dev@example.com."
    ),
    "raw html": (
        '<details><summary>Log</summary>\n\n@alice <img src="x" onerror="alert(1)">\n'
        "</details>\n\nInline <b>bold</b> and <script>alert(1)</script>."
    ),
    "unclosed fence": "Here is the fix:\n\n```python\n@decorator\ndef f():\n    return '@x #1'",
    "nested": (
        "- step one @alice\n\n  ```sh\n  git push  # @bob #3\n  ```\n\n"
        "> quoted `code @x` and @carol\n> ```\n> @in_quote #4\n> ```"
    ),
    "indented code": "Run:\n\n    @echo off\n    rem #5\n\nthen @dave.",
}


class _Collect(HTMLParser):
    """The code texts, the prose outside code, and the tags of rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.codes: list[str] = []
        self.prose: list[str] = []
        self.tags: set[str] = set()
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "code":
            self._depth += 1
            self.codes.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.codes[-1] += data
        else:
            self.prose.append(data)


def github_html(markdown: str) -> _Collect:
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    parsed = _Collect()
    parsed.feed(html)
    return parsed


def assert_safe(rendered: _Collect) -> None:
    prose = "".join(rendered.prose)
    assert not LIVE_MENTION.findall(prose), prose
    assert not LIVE_REFERENCE.findall(prose), prose
    assert rendered.tags <= MARKDOWN_TAGS, rendered.tags - MARKDOWN_TAGS


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_code_is_identical_and_nothing_outside_code_is_live(name: str) -> None:
    message = CORPUS[name]
    before = github_html(message)
    out = render_message(message, 4_000, SESSION_URL)
    after = github_html(out)
    assert after.codes == before.codes
    assert_safe(after)
    # The same inside the whole status comment (the message is quoted there).
    session = Session.from_api({"session_id": "devin-1", "url": SESSION_URL, "status": "running"})
    comment = render(StatusView(session=session, requested_by="", latest_message=message))
    in_comment = github_html(comment)
    assert [c for c in in_comment.codes if c in before.codes] == before.codes
    assert_safe(in_comment)


def test_code_reaches_the_comment_byte_for_byte() -> None:
    out = render_message(CORPUS["python fence"] + "\n\n" + CORPUS["code spans"], 4_000)
    assert PYTHON_FENCE in out
    assert "`Map<String, List<Integer>>`" in out and "`@Override`" in out
    assert "\u200b" not in PYTHON_FENCE and "@dataclass(frozen=True)" in out


def test_an_unclosed_fence_is_closed_so_the_comment_after_it_is_not_code() -> None:
    out = render_message(CORPUS["unclosed fence"], 4_000)
    assert out.endswith("\n```")
    comment = github_html(out + "\n\nafter the message")
    assert "after the message" in "".join(comment.prose)


def long_message() -> str:
    parts = ["Summary of the work, @alice: see #1."]
    for i in range(130):
        parts.append(f"Step {i}: changed `module_{i}.py` and ran the tests (#{i}).")
        parts.append(PYTHON_FENCE if i % 3 == 0 else TABLE if i % 3 == 1 else DIFF_FENCE)
    parts.append("Conclusion: all 412 tests pass; the PR is ready for @bob to review.")
    text = "\n\n".join(parts)
    assert len(text) > 20_000
    return text


@pytest.mark.parametrize("limit", [600, 1_500, 4_000])
def test_a_long_message_keeps_head_and_tail_and_never_cuts_a_fence(limit: int) -> None:
    message = long_message()
    before = github_html(message)
    out = render_message(message, limit, SESSION_URL)
    assert len(out) <= limit
    after = github_html(out)
    assert_safe(after)
    assert all(code in before.codes for code in after.codes)  # whole blocks only
    assert out.startswith("Summary of the work")
    assert "Conclusion: all 412 tests pass" in out  # the tail is kept
    assert f"[{MORE_TEXT}]({SESSION_URL})" in out
    # A table is never cut either: every kept table row has its three cells.
    for line in out.split("\n"):
        if line.startswith("| "):
            assert line.count("|") == 4, line


def test_one_huge_paragraph_is_cut_by_words_and_stays_safe() -> None:
    message = "word `code @x` @alice #5 " * 2_000 + "\n\nThe end."
    out = render_message(message, 1_000, None)
    assert len(out) <= 1_000 and out.endswith("The end.")
    assert f"… {MORE_TEXT}" in out
    assert_safe(github_html(out))


def test_secrets_are_redacted_in_code_too() -> None:
    token = "ghp_" + "a" * 36
    out = render_message(f"```\nGITHUB_TOKEN={token}\n```", 4_000)
    assert token not in out and "[REDACTED]" in out
