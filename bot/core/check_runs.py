"""The "Devin" check run on a pull request, derived from the status comment (pure).

A check run mirrors the status: ``in_progress`` while Devin works, then completed with
``success`` (finished), ``neutral`` (waiting for someone, stopped, suspended) or
``failure`` (failed, could not start). Its summary is the status comment's content (the
hidden markers removed) followed by a "View session" link; it changes exactly when the
comment's fingerprint does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.core.devin_models import (
    STATE_FAILED,
    STATE_FINISHED,
    STATE_STOPPED,
    STATE_SUSPENDED,
    STATE_WAITING_FOR_APPROVAL,
    STATE_WAITING_FOR_INPUT,
)
from bot.core.markdown import link, safe_url
from bot.core.status_view import STATE_ERROR, StatusView, display_state
from bot.core.status_wording import headline_words

CHECK_NAME = "Devin"
_SUMMARY_LIMIT = 60_000  # GitHub allows 65,535 characters
_CONCLUSIONS = {
    STATE_FINISHED: "success",
    STATE_WAITING_FOR_INPUT: "neutral",
    STATE_WAITING_FOR_APPROVAL: "neutral",
    STATE_STOPPED: "neutral",
    STATE_SUSPENDED: "neutral",
    STATE_FAILED: "failure",
    STATE_ERROR: "failure",
}
_HIDDEN_LINE = re.compile(r"^<!-- devin-bridge:[^>]*-->$", re.M)
_PR_URL = re.compile(r"^https?://[^/]+/([^/\s]+/[^/\s]+)/pull/([0-9]{1,9})(?:[/?#]|$)")


@dataclass(frozen=True)
class CheckRunFields:
    """What the check run shows; ``body()`` is the API's request body."""

    status: str  # in_progress | completed
    conclusion: str | None
    title: str
    summary: str
    details_url: str | None
    external_id: str

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def body(self, completed_at: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": CHECK_NAME,
            "status": self.status,
            "external_id": self.external_id,
            "output": {"title": self.title, "summary": self.summary},
        }
        if self.details_url:
            body["details_url"] = self.details_url
        if self.conclusion is not None:
            body["conclusion"] = self.conclusion
            if completed_at:
                body["completed_at"] = completed_at
        return body


def check_run_fields(view: StatusView, comment: str) -> CheckRunFields:
    """The check run for ``view``, whose status comment renders as ``comment``."""
    state = display_state(view)
    conclusion = _CONCLUSIONS.get(state)
    emoji, words = headline_words(state)
    s = view.session
    url = safe_url(s.url) if s is not None else None
    shown = _HIDDEN_LINE.sub("", comment).strip()
    if len(shown) > _SUMMARY_LIMIT:
        shown = shown[:_SUMMARY_LIMIT] + "\n\n…"
    summary = shown + (f"\n\n**{link('View session', url)}**" if url else "")
    return CheckRunFields(
        status="completed" if conclusion else "in_progress",
        conclusion=conclusion,
        title=f"{emoji} {words}",
        summary=summary,
        details_url=url,
        external_id=s.session_id if s is not None else "",
    )


def pull_number_in(repo: str, url: str) -> int | None:
    """The number of a pull request URL of ``repo`` (owner/name, any case), else None."""
    m = _PR_URL.match(url or "")
    if m is None or m.group(1).lower() != repo.lower():
        return None
    return int(m.group(2))
