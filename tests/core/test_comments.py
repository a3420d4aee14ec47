"""The status comment: marker first, every state readable, nothing unsafe echoed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bot.core.comment_markers import (
    MARKER_PREFIX,
    PENDING_MARKER,
    REPLY_MARKER,
    find_session_id,
    is_bridge_comment,
    marker,
)
from bot.core.comment_text import format_duration
from bot.core.comments import (
    COMMENT_LIMIT,
    fingerprint,
    job_summary,
    render,
    render_config_error,
    render_help,
    render_refusal,
)
from bot.core.devin_models import Session
from bot.core.status_view import AttachmentView, StatusView, view_state
from bot.core.status_wording import suspend_reason_text

NOW = 1_717_000_000.0
SESSION_URL = "https://app.devin.ai/sessions/0123abcd"
TRIGGER_URL = "https://github.com/o/r/issues/7#issuecomment-42"
GHP = "ghp_" + "Qq1" * 12


def session(**fields: Any) -> Session:
    data: dict[str, Any] = {
        "session_id": "devin-0123abcd",
        "url": SESSION_URL,
        "status": "running",
        "status_detail": "working",
        "acus_consumed": 3.24,
        "created_at": int(NOW - 720),
    }
    data.update(fields)
    return Session.from_api(data)


def view(s: Session | None = None, **fields: Any) -> StatusView:
    base: dict[str, Any] = {
        "session": s,
        "requested_by": "octocat",
        "trigger_url": TRIGGER_URL,
        "started_at": NOW - 720,
        "now": NOW,
    }
    base.update(fields)
    return StatusView(**base)


STATES = [
    # (view, state, headline, must contain)
    (view(session(status="new", status_detail=None)), "queued", "⏳ **Devin is starting**", []),
    (view(session()), "working", "🟡 **Devin is working**", ["`/devin stop`"]),
    (
        view(session(status_detail="waiting_for_user")),
        "waiting-for-input",
        "💬 **Devin needs your input**",
        ["**Devin needs your input.** Reply with `/devin <your answer>`."],
    ),
    (
        view(session(status_detail="waiting_for_approval")),
        "waiting-for-approval",
        "✋ **Devin is waiting for approval**",
        ["Approve or reject in the [Devin session]"],
    ),
    (
        view(session(status_detail="finished")),
        "finished",
        "✅ **Devin finished**",
        ["`/devin <message>` sends Devin a message"],
    ),
    (
        view(session(status="exit", status_detail=None)),
        "finished",
        "✅ **Devin finished**",
        ["starts a new session"],
    ),
    (
        view(session(status="exit"), stopped=True),
        "stopped",
        "⏹️ **Devin was stopped**",
        ["**Stopped** with `/devin stop`."],
    ),
    (view(session(), stopped=True), "stopped", "⏹️ **Devin was stopped**", ["starts a new session"]),
    (
        view(session(status="error", status_detail=None)),
        "failed",
        "❌ **Devin failed**",
        ["ended with an error"],
    ),
    (
        view(session(status="suspended", status_detail="usage_limit_exceeded")),
        "suspended",
        "💤 **Devin is suspended**",
        ["usage limit exceeded: raise the limit or wait, then reply `/devin continue`"],
    ),
    (
        view(session(status="suspended", status_detail="inactivity")),
        "suspended",
        "💤 **Devin is suspended**",
        ["paused after a period of inactivity: reply `/devin <message>` to wake it"],
    ),
    (
        view(session(), timed_out=True),
        "still-running",
        "🔄 **Devin is still working**",
        [f"follow it at [Devin session]({SESSION_URL})"],
    ),
    (view(None), "queued", "⏳ **Devin is starting**", ["Creating the Devin session"]),
    (
        view(None, error="Devin API answered 401: check the devin-api-key secret"),
        "failed",
        "⚠️ **Devin could not start**",
        ["**Error:** Devin API answered 401: check the devin-api-key secret"],
    ),
]


@pytest.mark.parametrize(("v", "state", "headline", "contains"), STATES)
def test_every_state_renders(v: StatusView, state: str, headline: str, contains: list[str]) -> None:
    body = render(v)
    lines = body.split("\n")
    assert view_state(v) == state
    # line 1 is the marker, on its own
    if v.session is not None:
        assert lines[0] == f"{MARKER_PREFIX}devin-0123abcd -->"
        assert f"[Devin session]({SESSION_URL})" in lines[1]
    else:
        assert lines[0] == PENDING_MARKER
    assert lines[1].startswith(headline)
    assert f"requested by @octocat in [this comment]({TRIGGER_URL})" in lines[1]
    for text in contains:
        assert text in body
    assert len(body) < COMMENT_LIMIT


def test_details_line_shows_elapsed_acus_and_raw_status() -> None:
    body = render(view(session()))
    assert "<sub>⏱ 12m · 3.2 ACUs · `running/working`</sub>" in body


def test_review_comment_trigger_is_linked_as_such() -> None:
    url = "https://github.com/o/r/pull/7#discussion_r99"
    assert f"in [this review comment]({url})" in render(view(session(), trigger_url=url))


def test_custom_trigger_in_hints() -> None:
    body = render(view(session(status_detail="waiting_for_user"), trigger="/ai"))
    assert "Reply with `/ai <your answer>`" in body
    assert "`/ai stop`" in body
    assert "/devin" not in body


def test_latest_message_is_quoted_trimmed_and_defanged() -> None:
    message = (
        "Done! cc @alice and @octo-org/core <b>bold</b><!-- hidden --> token "
        + GHP
        + "\n\n\n\nsecond paragraph "
        + "word " * 300
    )
    body = render(view(session(), latest_message=message))
    quoted = [ln for ln in body.split("\n") if ln.startswith(">")]
    # Raw HTML shows as text (escaped), it does not render or hide anything.
    assert quoted[0] == (
        "> Done! cc @\u200balice and @\u200bocto-org/core &lt;b>bold&lt;/b>&lt;!-- hidden --> "
        "token [REDACTED]"
    )
    assert quoted[1] == ">"
    assert GHP not in body
    assert "<b>" not in body and "<!-- hidden" not in body


def test_pull_requests_are_listed_with_state() -> None:
    s = session(
        status_detail="finished",
        pull_requests=[
            {"pr_url": "https://github.com/o/r/pull/12", "pr_state": "open"},
            {"pr_url": "https://github.com/o/other/pull/3", "pr_state": "merged"},
        ],
    )
    body = render(view(s))
    assert "**Pull requests:**" in body
    assert "- [o/r\\#12](https://github.com/o/r/pull/12) (open)" in body
    assert "- [o/other\\#3](https://github.com/o/other/pull/3) (merged)" in body


def test_structured_output_is_collapsed_fenced_and_redacted() -> None:
    s = session(status_detail="finished", structured_output={"plan": ["a ``` b"], "key": GHP})
    body = render(view(s))
    assert "<details><summary>Structured output</summary>" in body
    assert "````json\n{" in body  # fence longer than the backticks inside
    assert GHP not in body


def test_huge_structured_output_is_capped() -> None:
    s = session(structured_output={"blob": "x" * 100_000})
    body = render(view(s))
    assert "(truncated; the full output is in the session)" in body
    assert len(body) < 20_000


def test_attachments_link_and_preview() -> None:
    attachments = (
        AttachmentView(
            "report.txt", "https://files.example/report.txt", "all 42 tests passed\n```\nend"
        ),
        AttachmentView("screenshot.png", "https://files.example/shot (1).png"),
        AttachmentView("[evil](https://x) @bob", "javascript:alert(1)"),
        AttachmentView("secrets.env", "https://files.example/s.env", f"GITHUB_TOKEN={GHP}"),
    )
    body = render(view(session(status_detail="finished"), attachments=attachments))
    # Linked to the session page, where a reader can open them: never the API's URL,
    # which answers 401 without the bridge's key.
    assert f"**Attachments:** (open them in the [Devin session]({SESSION_URL}))" in body
    assert f"- [report.txt]({SESSION_URL})" in body
    assert f"- [screenshot.png]({SESSION_URL})" in body
    assert "files.example" not in body
    assert "javascript:" not in body
    assert f"- [\\[evil\\](https://x) @\u200bbob]({SESSION_URL})" in body  # escaped, no ping
    assert (
        "<details><summary>📄 report.txt</summary>\n\n````\nall 42 tests passed\n```\nend\n````"
        in body
    )
    assert GHP not in body


def test_many_large_attachments_stay_under_the_limit() -> None:
    attachments = tuple(
        AttachmentView(f"log{i}.txt", f"https://f/{i}", "z" * 50_000) for i in range(100)
    )
    body = render(
        view(
            session(structured_output={"x": "y" * 50_000}),
            attachments=attachments,
            latest_message="m" * 50_000,
            error="e" * 50_000,
            note="n" * 50_000,
        )
    )
    assert len(body) < COMMENT_LIMIT
    assert body.startswith(marker("devin-0123abcd") + "\n")
    assert "… and 70 more in the session" in body


def test_error_with_a_live_session_is_shown_and_redacted() -> None:
    body = render(view(session(), error=f"poll failed: 401 for {GHP} <script>x</script>"))
    assert "⚠️ poll failed: 401 for \\[REDACTED\\] x" in body
    assert GHP not in body


def test_note_is_shown_without_pinging() -> None:
    body = render(view(session(), note="Follow-up sent by @hubot"))
    assert "_Follow-up sent by @\u200bhubot_" in body


def test_requester_that_is_not_a_login_cannot_inject() -> None:
    body = render(view(session(), requested_by="[x](https://evil) @everyone"))
    assert "[x](https://evil)" not in body
    assert "@everyone" not in body


def test_unsafe_session_url_is_not_linked() -> None:
    body = render(view(session(url="javascript:alert(1)")))
    assert "javascript:" not in body


@pytest.mark.parametrize(
    ("session_id", "body"),
    [
        ("devin-0123abcd", marker("devin-0123abcd") + "\n🟡 **Devin is working**"),
        ("0123abcd", "<!-- devin-bridge:session=0123abcd -->"),
        ("devin-a_b-c", "text before\n<!--  devin-bridge:session=devin-a_b-c  -->\nafter"),
        (None, "<!-- devin-bridge:pending -->"),
        (None, "no marker at all"),
        (None, ""),
        (None, None),
    ],
)
def test_find_session_id(session_id: str | None, body: str | None) -> None:
    assert find_session_id(body) == session_id


@pytest.mark.parametrize("v", [s[0] for s in STATES])
def test_marker_round_trip(v: StatusView) -> None:
    body = render(v)
    assert is_bridge_comment(body)
    assert find_session_id(body) == (v.session.session_id if v.session else None)


@pytest.mark.parametrize(
    ("body", "ours"),
    [
        (marker("x"), True),
        (PENDING_MARKER, True),
        (REPLY_MARKER + "\nSorry", True),
        ("/devin fix it", False),
        ("<!-- other-bot:session=1 -->", False),
        ("", False),
        (None, False),
    ],
)
def test_is_bridge_comment(body: str | None, ours: bool) -> None:
    assert is_bridge_comment(body) is ours


def test_marker_keeps_the_id_exactly() -> None:
    assert marker("devin-AbC_123") == "<!-- devin-bridge:session=devin-AbC_123 -->"


def test_fingerprint_ignores_elapsed_time_only() -> None:
    base = view(session())
    later = dataclasses.replace(base, now=NOW + 3600)
    assert render(base) != render(later)
    assert fingerprint(base) == fingerprint(later)
    changed = [
        dataclasses.replace(base, latest_message="new message"),
        dataclasses.replace(base, session=session(status_detail="waiting_for_user")),
        dataclasses.replace(base, session=session(acus_consumed=4.0)),
        dataclasses.replace(base, attachments=(AttachmentView("a.txt", "https://f/a"),)),
        dataclasses.replace(base, timed_out=True),
    ]
    for other in changed:
        assert fingerprint(other) != fingerprint(base)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "<1m"),
        (59, "<1m"),
        (60, "1m"),
        (720, "12m"),
        (3900, "1h 05m"),
        (90_000, "1d 1h"),
        (-5, "<1m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("out_of_credits", "out of credits: raise the limit or wait, then reply `/devin continue`"),
        ("user_request", "paused on request: reply `/devin <message>` to wake it"),
        ("something_new", "something new: reply `/devin <message>` to wake it"),
        (None, "suspended: reply `/devin <message>` to wake it"),
    ],
)
def test_suspend_reason_text(reason: str | None, text: str) -> None:
    assert suspend_reason_text(reason) == text


def test_job_summary() -> None:
    s = session(
        status_detail="finished",
        pull_requests=[{"pr_url": "https://github.com/o/r/pull/12", "pr_state": "open"}],
        structured_output={"ok": True},
    )
    summary = job_summary(
        view(
            s,
            latest_message="All done @alice",
            attachments=(AttachmentView("r.txt", "https://f/r"),),
        )
    )
    assert summary.startswith("## ✅ Devin finished\n")
    for expected in (
        "| State | ✅ Devin finished (`finished`) |",
        f"| Session | [devin-0123abcd]({SESSION_URL}) |",
        "| Requested by | @octocat |",
        "| Elapsed | finished in 12m |",
        "| ACUs | 3.2 |",
        "| Pull requests | [o/r\\#12](https://github.com/o/r/pull/12) (open) |",
        "> All done @\u200balice",
        f"- [r.txt]({SESSION_URL})",
        '```json\n{\n  "ok": true\n}\n```',
    ):
        assert expected in summary


def test_job_summary_for_a_failed_start() -> None:
    summary = job_summary(view(None, error="Devin API answered 403"))
    assert "(`failed`)" in summary
    assert "Devin API answered 403" in summary


def test_render_help_with_error() -> None:
    text = render_help(
        "/devin",
        {"fix": "Fix a bug"},
        ["devin"],
        error="`/devin new` needs instructions.",
        login="octocat",
    )
    assert text.startswith(REPLY_MARKER + "\n@octocat: `/devin new` needs instructions.\n")
    assert "| `/devin fix <instructions>` | Fix a bug |" in text


def test_render_refusal() -> None:
    text = render_refusal("mallory", "your permission on this repository is read")
    assert text == (
        f"{REPLY_MARKER}\nSorry @mallory, I can't start Devin for you on this repository: "
        "your permission on this repository is read. Ask a maintainer to trigger it for you."
    )


def test_render_config_error_lists_each_error() -> None:
    errors = [
        "labels.devin:review.max_acu_limit must be a positive integer, got 'ten'",
        "permissions.min 'read' is not allowed <!-- x --> @admins",
    ]
    text = render_config_error(errors)
    assert text.startswith(REPLY_MARKER + "\n⚠️ **`.github/devin.yml` has problems.**")
    assert "- labels.devin:review.max_acu_limit must be a positive integer, got 'ten'" in text
    assert "- permissions.min 'read' is not allowed @\u200badmins" in text


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        (TRIGGER_URL, f"requested by @octocat in [this comment]({TRIGGER_URL})"),
        ("https://github.com/o/r/pull/7#discussion_r9", "in [this review comment]("),
        ("https://github.com/o/r/pull/7#pullrequestreview-3", "in [this review]("),
        (
            "https://github.com/o/r/actions/runs/5",
            "requested by @octocat ([trigger](https://github.com/o/r/actions/runs/5))",
        ),
        (None, "requested by @octocat\n"),
        ("javascript:alert(1)", "requested by @octocat\n"),
    ],
)
def test_trigger_link_wording(url: str | None, phrase: str) -> None:
    assert phrase in render(view(session(), trigger_url=url))


def test_pending_comment_offers_no_new_session() -> None:
    body = render(view(None))
    assert body.endswith("<sub>`/devin help` lists the commands</sub>")


@pytest.mark.parametrize(
    "v",
    [
        StatusView(session=None, requested_by=""),
        StatusView(session=session(acus_consumed=None, created_at=None), requested_by="x"),
        StatusView(session=Session.from_api({}), requested_by="x", now=NOW),
        StatusView(
            session=Session.from_api({"session_id": "s", "url": 5, "status": 3}), requested_by="x"
        ),
    ],
)
def test_sparse_data_never_crashes(v: StatusView) -> None:
    body = render(v)
    assert body.split("\n")[0].startswith("<!-- devin-bridge:")
    job_summary(v)
    fingerprint(v)


def test_an_ended_session_shows_a_fixed_duration_even_days_later() -> None:
    ended = session(status="exit", updated_at=int(NOW - 720 + 83 * 60), title="Fix <the> login")
    for now in (NOW + 5_000, NOW + 3 * 86_400):
        body = render(view(ended, now=now))
        assert "⏱ finished in 1h 23m" in body
        assert "3d" not in body
    assert "**Task:** Fix &lt;the&gt; login" in render(view(ended))
    titled = session(title="Fix #12 for @bob")
    assert "**Task:** Fix \\#\u200b12 for @\u200bbob" in render(view(titled))
    stopped = render(view(ended, stopped=True, stopped_by="alice", now=NOW + 86_400))
    assert "3d" not in stopped and "1d" not in stopped
    assert "⏱ ended after 1h 23m" in stopped
    assert "**Stopped** by @\u200balice with `/devin stop`." in stopped
    # The fixed duration is part of what the comment shows: the fingerprint sees it.
    assert fingerprint(view(ended, now=NOW + 5_000)) == fingerprint(view(ended, now=NOW + 86_400))


def test_a_working_session_keeps_counting_without_changing_the_fingerprint() -> None:
    working = session()
    assert "⏱ 12m" in render(view(working))
    assert "⏱ 1h 12m" in render(view(working, now=NOW + 3600))
    assert fingerprint(view(working)) == fingerprint(view(working, now=NOW + 3600))
