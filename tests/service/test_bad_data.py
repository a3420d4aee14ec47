"""Bad data that got past the intake (stored by an older release, or Devin's own text):
a job ends as "ignored" with one log line, a session keeps being followed, and log lines
cannot be forged or broken. Never a traceback."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import pytest

from bot.devin.bodies import SessionRequest
from bot.engine.tracker import TrackState, tick
from bot.service.codec import dump, load_track
from bot.service.logs import SecretFilter, safe_text
from bot.service.queue import trigger_job_thread
from bot.service.runtime import Runtime
from bot.service.settings import Settings
from bot.store.facade import NewJob, Store
from tests.support.stack import Stack


def _runtime(stack: Stack, tmp_path: Path) -> Runtime:
    settings = Settings(
        devin_api_key=stack.devin_key,
        devin_org_id=stack.org_id,
        devin_api_url=stack.devin_url,
        github_token=stack.github_token,
        github_api_url=stack.github_url,
        github_webhook_secret="s3cret-webhook",
        database_url=f"sqlite:///{tmp_path / 'bad.db'}",
        poll_interval=0.2,
        bot_login=stack.bot_login,
        github_write_spacing=0.0,
    )
    return Runtime.build(settings, store=Store(settings.database_url))


@pytest.mark.parametrize("field", ["sender", "repo", "text"])
def test_a_job_with_broken_text_is_ignored_with_one_line_and_no_traceback(
    stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture, field: str
) -> None:
    stack.github.add_issue(stack.repo, 7)
    stack.allow("alice")
    comment = stack.github.add_comment(stack.repo, 7, "/devin fix it", user="alice")
    trigger = stack.comment_trigger(comment)
    if field == "sender":
        broken = dataclasses.replace(
            trigger, sender=dataclasses.replace(trigger.sender, login="alice\udfff")
        )
    elif field == "repo":
        broken = dataclasses.replace(trigger, repo="Codertocat/Hello\udfff")
    else:
        broken = dataclasses.replace(trigger, text="/devin fix \udfff it")
    rt = _runtime(stack, tmp_path)
    payload = dump(broken)  # ASCII JSON, as an older release stored it
    job_id = rt.store.enqueue_job(
        NewJob(trigger.dedupe_key, "trigger", trigger_job_thread(trigger), payload)
    )
    assert job_id is not None
    (claim,) = rt.store.claim_jobs("w", rt.lease_s)
    with caplog.at_level(logging.INFO):
        result = rt.job_runner().run(claim)
    assert result.result == "ignored"
    assert (rt.store.job(job_id) or {}).get("state") == "done"
    assert [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()] == [
        f"job {job_id} ignored: the stored trigger contains a lone UTF-16 surrogate"
    ]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not stack.sessions() and not stack.bot_comments(7)


def test_devins_broken_text_does_not_cost_the_session(stack: Stack, tmp_path: Path) -> None:
    stack.use_scenario("long")
    stack.github.add_issue(stack.repo, 8)
    session = stack.devin_client().create_session(SessionRequest(prompt="go"))
    state = TrackState(
        session_id=session.session_id,
        repo=stack.repo,
        number=8,
        comment_id=None,
        requested_by="alice",
        trigger_url=None,
        started_at=time.time(),
        latest_message="half a pair \udfff here",
    )
    stored = load_track(dump(state))  # the store keeps it; the text is repaired
    assert stored.latest_message == "half a pair \ufffd here"
    result = tick(dataclasses.replace(state, fingerprint=None), stack.deps())
    [comment] = stack.bot_comments(8)
    assert result.edited and "\udfff" not in comment["body"]


def test_log_lines_cannot_be_forged_or_broken() -> None:
    assert safe_text("login alice") == "login alice"
    assert safe_text("a\nERROR forged line") == "a\\nERROR forged line"
    assert safe_text("x\udfffy") == "x\\udfffy"
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "from %s", ("a\r\nb",), None)
    assert SecretFilter(()).filter(record)
    assert record.getMessage() == "from a\\r\\nb"
    record.getMessage().encode("utf-8")


def test_devins_json_with_half_a_surrogate_pair_is_repaired_at_the_client(stack: Stack) -> None:
    stack.use_scenario("long")
    client = stack.devin_client()
    session = client.create_session(SessionRequest(prompt="go"))
    stack.emulator.patch_session(session.session_id, {"title": "Fix \udfff parser"})
    again = client.get_session(session.session_id)
    assert again.title == "Fix \ufffd parser"
    assert again.title.encode("utf-8")
