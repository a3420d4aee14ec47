"""What a prompt is built from: the GitHub thread's context and the instruction.

Plain records filled in by ``bot.github.context`` (the thread) and the engine
(the instruction); the text is composed in ``bot.core.prompts`` and
``bot.core.prompt_instruction``. Only the instruction's text is taken as
orders; the thread's context is untrusted, since anyone may have written it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Sources of an instruction.
SOURCE_COMMENT = "comment"
SOURCE_LABEL = "label"
SOURCE_REVIEW_COMMENT = "review_comment"
SOURCE_PROMPT = "prompt"
SOURCE_FOLLOW_UP = "follow-up"


@dataclass(frozen=True)
class ContextComment:
    author: str
    body: str
    created_at: str | None = None  # ISO 8601, as GitHub sends it
    updated_at: str | None = None
    is_bot: bool = False
    url: str | None = None  # lets the trigger comment itself be left out


@dataclass(frozen=True)
class FileChange:
    filename: str
    status: str = "modified"
    additions: int = 0
    deletions: int = 0


@dataclass(frozen=True)
class PullContext:
    base_ref: str
    head_ref: str
    head_repo: str | None = None
    is_fork: bool = False
    files: tuple[FileChange, ...] = ()


@dataclass(frozen=True)
class ReviewContext:
    path: str
    line: int | None = None
    side: str | None = None
    diff_hunk: str = ""
    comment_url: str | None = None


@dataclass(frozen=True)
class PromptContext:
    repo: str
    number: int | None = None
    is_pull_request: bool = False
    title: str = ""
    body: str = ""
    author: str = ""
    labels: tuple[str, ...] = ()
    url: str = ""
    comments: tuple[ContextComment, ...] = ()
    pull: PullContext | None = None
    review: ReviewContext | None = None
    trigger_time: str | None = None  # ISO 8601; later comments/edits are left out
    body_updated_at: str | None = None  # when set and after trigger_time, the body is left out


@dataclass(frozen=True)
class Instruction:
    text: str
    requested_by: str
    source: str = SOURCE_COMMENT  # comment | label | review_comment | prompt | follow-up
    trigger_url: str | None = None
    playbook_name: str | None = None
    playbook_macro: str | None = None
    template: str | None = None  # may use {text} {title} {number} {repo} {url} {author}
    label: str | None = None  # the label that triggered, for source "label"
