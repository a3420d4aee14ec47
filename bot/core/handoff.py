"""The hand-off prompt (DESIGN.md §1.8): a local checkout's state, secrets redacted.

Pure: the caller runs git and passes what it found. Everything that leaves the machine
goes through ``secret_scan``; files that are wholly secrets block the hand-off unless
the person allows them; the text is capped, with a note of what was left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.secret_scan import Finding, is_secret_file, scan

HANDOFF_TAG = "handoff"
MAX_PROMPT_CHARS = 60_000
MAX_FILE_CHARS = 20_000
DEFAULT_TEXT = (
    "Continue the work in this local change: finish it, make the tests pass, and open a "
    "pull request."
)
_DIFF_HEADER = re.compile(r"^diff --git a/(.+?) b/(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class LocalFile:
    path: str
    text: str | None  # None: binary or unreadable


@dataclass(frozen=True)
class Checkout:
    """What git says about the working copy."""

    repo: str | None  # owner/name from the origin remote
    branch: str | None
    upstream: str | None
    unpushed: tuple[str, ...]  # "abc1234 subject" lines
    diff: str  # git diff HEAD
    untracked: tuple[LocalFile, ...]

    @property
    def empty(self) -> bool:
        return not self.unpushed and not self.diff.strip() and not self.untracked


@dataclass(frozen=True)
class Handoff:
    prompt: str
    findings: tuple[Finding, ...]
    blocked: tuple[str, ...]  # "path: why" for files that are wholly secrets
    cut: tuple[str, ...]  # what was left out for size

    @property
    def size(self) -> int:
        return len(self.prompt.encode("utf-8"))


def split_diff(diff: str) -> list[tuple[str, str]]:
    """``git diff`` output as (path, chunk) per file."""
    heads = list(_DIFF_HEADER.finditer(diff))
    if not heads:
        return [("(diff)", diff)] if diff.strip() else []
    parts = []
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else len(diff)
        parts.append((head.group(2), diff[head.start() : end]))
    return parts


def build_handoff(
    checkout: Checkout,
    text: str | None,
    *,
    allow_secrets: bool = False,
    limit: int = MAX_PROMPT_CHARS,
) -> Handoff:
    findings: list[Finding] = []
    blocked: list[str] = []
    cut: list[str] = []
    sections: list[tuple[str, str, str]] = []  # (label, body, fence language), redacted

    for path, chunk in split_diff(checkout.diff):
        why = is_secret_file(path, _added_text(chunk))
        if why:
            blocked.append(f"{path}: {why}")
            if not allow_secrets:
                continue
        scanned = scan(chunk, path)
        lines = _file_lines(chunk)
        findings.extend(Finding(f.path, lines.get(f.line, 0), f.kind) for f in scanned.findings)
        sections.append((f"diff of {path}", scanned.text, "diff"))
    names: list[str] = []
    for f in checkout.untracked:
        names.append(f.path)
        why = is_secret_file(f.path, f.text)
        if why:
            blocked.append(f"{f.path}: {why}")
            if not allow_secrets:
                continue
        if f.text is None:
            continue
        body = f.text
        if len(body) > MAX_FILE_CHARS:
            body = body[:MAX_FILE_CHARS]
            cut.append(f"{f.path} after {MAX_FILE_CHARS} characters")
        scanned = scan(body, f.path)
        findings.extend(scanned.findings)
        sections.append((f"new file {f.path}", scanned.text, ""))

    # The instruction, branch and commit subjects are scanned too: a pasted token is a leak.
    scanned_head = scan(_head(checkout, text, names), "(message)")
    findings[:0] = scanned_head.findings
    head = scanned_head.text
    body_parts: list[str] = []
    used = len(head)
    for label, content, lang in sections:
        fence = "````" if "```" in content else "```"
        block = f"\n### {label}\n{fence}{lang}\n{content.rstrip()}\n{fence}\n"
        if used + len(block) > limit:
            cut.append(f"{label} ({len(content)} characters)")
            continue
        body_parts.append(block)
        used += len(block)
    tail = ""
    if cut:
        tail = (
            "\nLeft out to keep this message small (read them in the branch once pushed, or "
            "ask): " + "; ".join(cut) + ".\n"
        )
    if findings:
        tail += (
            "\nSome values were replaced by [REDACTED:...] before sending; ask for them if "
            "you need them.\n"
        )
    return Handoff(head + "".join(body_parts) + tail, tuple(findings), tuple(blocked), tuple(cut))


def _head(checkout: Checkout, text: str | None, untracked: Sequence[str]) -> str:
    lines = [
        (text or "").strip() or DEFAULT_TEXT,
        "",
        "This is a hand-off of local, unfinished work (devin-bridge handoff).",
        f"Repository: {checkout.repo or '(no origin remote)'}",
        f"Branch: {checkout.branch or '(detached HEAD)'}"
        + (f" (upstream {checkout.upstream})" if checkout.upstream else " (not pushed yet)"),
    ]
    if checkout.unpushed:
        lines += ["", "Commits not yet pushed:", *(f"- {c}" for c in checkout.unpushed)]
    if untracked:
        lines += ["", "Untracked files:", *(f"- {name}" for name in untracked)]
    if checkout.diff.strip() or untracked:
        lines += [
            "",
            "## The change: unpushed commits and uncommitted edits as one diff, and new files",
        ]
    return "\n".join(lines) + "\n"


_REMOTE = re.compile(
    r"^(?:[a-z+]+://(?:[^@/]+@)?[^/:]+(?::\d+)?/|[^@/]+@[^:/]+:|[^@/]+@[^/]+/)"
    r"(?P<path>[^\s]+?)(?:\.git)?/?$"
)


def repo_from_remote(url: str) -> str | None:
    """``owner/name`` from an origin URL (https, ssh or scp-like), else None."""
    match = _REMOTE.match(url.strip())
    if match is None:
        return None
    parts = match.group("path").strip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def _file_lines(chunk: str) -> dict[int, int]:
    """Line of the diff chunk (1-based) -> line in the new file, for added and kept lines."""
    mapping: dict[int, int] = {}
    current = 0
    for index, line in enumerate(chunk.splitlines(), start=1):
        hunk = _HUNK.match(line)
        if hunk:
            current = int(hunk.group(1))
        elif current and not line.startswith(("-", "\\")):
            mapping[index] = current
            current += 1
    return mapping


def _added_text(chunk: str) -> str:
    """The new content of a file in a diff chunk (for "is this file a key?")."""
    return "\n".join(
        line[1:]
        for line in chunk.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    )
