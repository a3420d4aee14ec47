"""What a run reports about a session or a failure: the Action's output values for a
session, the ``state`` it is reported in, and an error's one-line message and exit code.
"""

from __future__ import annotations

import json

from bot.action.report import blank_outputs
from bot.core.devin_models import (
    STATE_FAILED,
    STATE_QUEUED,
    STATE_STILL_RUNNING,
    STATE_STOPPED,
    STATE_WORKING,
    Session,
)
from bot.devin.errors import (
    DevinAuthError,
    DevinConfigError,
    DevinForbidden,
    DevinNotFound,
    DevinValidationError,
)
from bot.github.errors import GitHubAuthError, GitHubForbidden, GitHubRateLimited

# The user has to change something (a key, a token, a permission, an id) for these.
_USER_MUST_ACT: tuple[type[Exception], ...] = (
    DevinAuthError,
    DevinForbidden,
    DevinConfigError,
    DevinNotFound,
    DevinValidationError,
    GitHubAuthError,
)


def session_outputs(
    session: Session, *, state: str, comment_id: int | None, reason: str = ""
) -> dict[str, str]:
    outputs = blank_outputs(skipped=False, reason=reason)
    structured = session.structured_output
    outputs.update(
        {
            "session-id": session.session_id,
            "session-url": session.url,
            "status": session.status,
            "status-detail": session.status_detail or "",
            "state": state,
            "pull-request-urls": "\n".join(pr.url for pr in session.pull_requests),
            "acus-consumed": f"{session.acus_consumed:g}",
            "structured-output": json.dumps(structured, sort_keys=True) if structured else "",
            "comment-id": str(comment_id) if comment_id else "",
        }
    )
    return outputs


def output_state(session: Session, *, stopped: bool, timed_out: bool) -> str:
    state = session.state(stopped=stopped)
    # Right after a stop Devin may still report running: the comment already says
    # stopped, so must the output.
    if stopped and state != STATE_FAILED:
        return STATE_STOPPED
    if timed_out and state in (STATE_WORKING, STATE_QUEUED):
        return STATE_STILL_RUNNING
    return state


def explain(err: BaseException) -> tuple[str, int]:
    """A one-line message that says what to fix, and the exit code."""
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    message = " ".join(str(message).split())
    if isinstance(err, _USER_MUST_ACT):
        return message, 1
    if isinstance(err, GitHubForbidden) and not isinstance(err, GitHubRateLimited):
        return (
            f"{message}. The job needs `permissions:` issues: write and pull-requests: write "
            "(or a github-token that has them)",
            1,
        )
    return message, 0
