"""Background work in-process against the loopback stack: trigger jobs, poll ticks,
retries on rate limits and outages, takeover after a crash, leadership, refresh."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
import requests

from bot.core.events import Trigger, classify
from bot.engine import handlers
from bot.service import logs as service_logging
from bot.service.codec import dump, load_track, load_trigger
from bot.service.deps import DepsFactory
from bot.service.leases import LeaseKeeper
from bot.service.metrics import Metrics, render
from bot.service.queue import SERVE_LEADER, JobRunner, remember_bot_login, trigger_job_thread
from bot.service.runtime import Runtime
from bot.service.settings import Settings
from bot.store.facade import NewJob, Store
from tests.fakes.fake_github import make_rsa_keypair
from tests.support.stack import Stack


class Clock:
    """Wall time plus a manual offset, so leases and run_after can be skipped over."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _settings(stack: Stack, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "devin_api_key": stack.devin_key,
        "devin_org_id": stack.org_id,
        "devin_api_url": stack.devin_url,
        "github_token": stack.github_token,
        "github_api_url": stack.github_url,
        "github_webhook_secret": "s3cret-webhook",
        "database_url": f"sqlite:///{tmp_path / 'queue.db'}",
        "poll_interval": 0.2,
        "bot_login": stack.bot_login,
        "github_write_spacing": 0.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _runtime(stack: Stack, tmp_path: Path, clock: Clock | None = None, **kw: object) -> Runtime:
    settings = _settings(stack, tmp_path, **kw)
    store = Store(settings.database_url, clock=clock or time.time)
    return Runtime.build(settings, store=store)


def _session_started(stack: Stack, tmp_path: Path, clock: Clock, number: int) -> Runtime:
    """A runtime whose store tracks one session, started by `/devin go` on `number`."""
    rt = _runtime(stack, tmp_path, clock)
    _queue_comment(rt, stack, number, "/devin go")
    (job,) = rt.store.claim_jobs("w", rt.lease_s)
    rt.job_runner().run(job)
    return rt


def _queue_comment(rt: Runtime, stack: Stack, number: int, body: str, user: str = "alice") -> int:
    comment = stack.github.add_comment(stack.repo, number, body, user=user)
    trigger = stack.comment_trigger(comment)
    job_id = rt.store.enqueue_job(
        NewJob(trigger.dedupe_key, "trigger", trigger_job_thread(trigger), dump(trigger))
    )
    assert job_id is not None
    return job_id


def _drain(rt: Runtime, until: object, timeout: float = 15.0) -> None:
    """Run passes of the worker until `until()` holds."""
    worker = rt.worker(leader=None)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.run_once()
        if until():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("background work did not get there in time")


def _final_comment(stack: Stack, number: int) -> str | None:
    comments = stack.bot_comments(number)
    if comments and "Devin finished" in comments[-1]["body"]:
        return str(comments[-1]["body"])
    return None


def test_a_comment_becomes_one_session_and_one_finished_status_comment(
    stack: Stack, tmp_path: Path
) -> None:
    stack.allow("alice")
    stack.github.add_issue(stack.repo, 7, title="Flaky test")
    rt = _runtime(stack, tmp_path)
    job_id = _queue_comment(rt, stack, 7, "/devin fix the flaky test")
    _drain(rt, lambda: _final_comment(stack, 7))
    body = _final_comment(stack, 7)
    assert body is not None and "/pull/" in body
    assert len(stack.bot_comments(7)) == 1
    assert len(stack.sessions()) == 1
    job = rt.store.job(job_id)
    assert job is not None and (job["state"], job["result"]) == ("done", "created")
    row = rt.store.session(str(job["session_id"]))
    assert row is not None and row["comment_id"] == stack.bot_comments(7)[0]["id"]
    assert load_track(row["track"]).session_id == job["session_id"]


def test_a_job_taken_over_after_a_crash_creates_nothing_twice(stack: Stack, tmp_path: Path) -> None:
    stack.allow("alice")
    clock = Clock()
    rt = _runtime(stack, tmp_path, clock)
    _queue_comment(rt, stack, 8, "/devin write the docs")
    (claim,) = rt.store.claim_jobs("crashed-worker", rt.lease_s)
    # The first worker did all the slow work, then died before writing the result.
    factory = DepsFactory(rt.settings)
    outcome = handlers.handle(
        load_trigger(claim.payload),
        factory.deps(stack.repo, None),
        idempotency_key=claim.dedupe_key,
    )
    assert outcome.action == "created"
    clock.offset += rt.lease_s + 1
    _drain(rt, lambda: _final_comment(stack, 8))
    assert len(stack.sessions()) == 1
    assert len(stack.bot_comments(8)) == 1


def test_rate_limits_put_the_job_back_until_retry_after(stack: Stack, tmp_path: Path) -> None:
    stack.allow("alice")
    clock = Clock()
    rt = _runtime(stack, tmp_path, clock)
    runner = JobRunner(rt.store, rt.factory, lease_s=rt.lease_s, poll_interval=0.2, clock=clock)
    job_id = _queue_comment(rt, stack, 9, "/devin try later")
    stack.emulator.add_fault(
        method="POST", path=r".*/sessions", status=429, retry_after=40, times=1
    )
    (claim,) = rt.store.claim_jobs("w", rt.lease_s)
    assert runner.run(claim).result == "rate_limited"
    job = rt.store.job(job_id)
    assert job is not None and job["state"] == "queued"
    assert 35 < job["run_after"] - clock() <= 40
    assert rt.store.claim_jobs("w", rt.lease_s) == []  # not before Retry-After
    assert stack.sessions() == []
    clock.offset += 41
    (claim,) = rt.store.claim_jobs("w", rt.lease_s)
    assert runner.run(claim).result == "created"
    assert len(stack.sessions()) == 1


def test_a_github_secondary_limit_also_reschedules(stack: Stack, tmp_path: Path) -> None:
    stack.allow("alice")
    clock = Clock()
    rt = _runtime(stack, tmp_path, clock)
    runner = JobRunner(rt.store, rt.factory, lease_s=rt.lease_s, poll_interval=0.2, clock=clock)
    _queue_comment(rt, stack, 10, "/devin go")
    stack.github.add_fault("GET", r"/collaborators/", rate_limit="secondary", retry_after=25)
    (claim,) = rt.store.claim_jobs("w", rt.lease_s)
    assert runner.run(claim).result == "rate_limited"
    assert stack.sessions() == []
    clock.offset += 26
    _drain(rt, lambda: _final_comment(stack, 10))
    assert len(stack.sessions()) == 1


def test_a_tick_backs_off_on_devin_429_and_503(stack: Stack, tmp_path: Path) -> None:
    stack.allow("alice")
    clock = Clock()
    rt = _session_started(stack, tmp_path, clock, 11)
    (sid,) = rt.store.live_session_ids()
    poller = rt.poller("p")
    stack.emulator.add_fault(method="GET", path=r".*/sessions/[^/]+", status=429, retry_after=50)
    (report,) = poller.run_due()
    assert report.result == "rate_limited"
    row = rt.store.session(sid)
    assert row is not None and row["errors"] == 1 and row["next_poll_at"] - clock() > 45
    stack.emulator.faults.clear()
    stack.emulator.add_fault(method="GET", path=r".*/sessions/[^/]+", status=503)
    clock.offset += 51
    (report,) = poller.run_due()
    assert report.result == "unavailable"
    stack.emulator.faults.clear()
    clock.offset += 600
    (report,) = poller.run_due()
    assert report.result == "stored"
    row = rt.store.session(sid)
    assert row is not None and row["errors"] == 0


def test_a_closed_thread_stops_polling_once_the_session_is_settled(
    stack: Stack, tmp_path: Path
) -> None:
    stack.allow("alice")
    rt = _runtime(stack, tmp_path)
    _queue_comment(rt, stack, 12, "/devin go")
    _drain(rt, lambda: _final_comment(stack, 12))
    (sid,) = rt.store.live_session_ids()
    rt.store.set_thread_closed(f"{stack.repo}#12", True)
    poller = rt.poller("p")
    for _ in range(3):
        rt.store.poll_now(sid)
        poller.run_due()
    assert rt.store.live_session_ids() == []
    row = rt.store.session(sid)
    assert row is not None and row["done"] and row["state"] == "finished"


def test_a_reopened_thread_is_polled_again(stack: Stack, tmp_path: Path) -> None:
    stack.allow("alice")
    stack.use_scenario("wait_for_user")
    rt = _runtime(stack, tmp_path)
    _queue_comment(rt, stack, 14, "/devin propose a plan")
    _drain(rt, lambda: rt.store.live_session_ids() or None)
    (sid,) = rt.store.live_session_ids()
    poller = rt.poller("p")
    for _ in range(6):  # let it settle (waiting for the user), then stop on close
        rt.store.poll_now(sid)
        poller.run_due()
    rt.store.set_thread_closed(f"{stack.repo}#14", True)
    for _ in range(4):
        rt.store.poll_now(sid)
        poller.run_due()
    assert rt.store.live_session_ids() == []
    rt.store.set_thread_closed(f"{stack.repo}#14", False)  # reopened
    assert rt.store.live_session_ids() == [sid]


def test_stop_finalises_the_comment_and_polling_ends(stack: Stack, tmp_path: Path) -> None:
    stack.allow("alice")
    stack.use_scenario("long")
    rt = _runtime(stack, tmp_path)
    _queue_comment(rt, stack, 13, "/devin take your time")
    _drain(rt, lambda: rt.store.live_session_ids())
    _queue_comment(rt, stack, 13, "/devin stop")
    _drain(rt, lambda: not rt.store.live_session_ids())
    (comment,) = stack.bot_comments(13)
    assert "stop" in comment["body"].lower()
    assert len(stack.sessions()) == 1


def test_refresh_polls_every_live_session_once(stack: Stack, tmp_path: Path) -> None:
    stack.allow("alice")
    stack.use_scenario("long")
    rt = _runtime(stack, tmp_path)
    for n in (14, 15):
        _queue_comment(rt, stack, n, "/devin go")
    (c1, c2) = rt.store.claim_jobs("w", rt.lease_s, limit=2)
    runner = rt.job_runner()
    runner.run(c1)
    runner.run(c2)
    for claim in rt.store.claim_due_sessions("w", rt.lease_s, 10):  # schedule far ahead
        rt.store.release_session(claim, next_poll_at=time.time() + 3600)
    reports = rt.poller("refresh").refresh_all()
    assert sorted(r.result for r in reports) == ["stored", "stored"]
    assert rt.poller("refresh").refresh_all() != []  # a second run polls them again


def test_one_in_process_worker_leads_at_a_time(stack: Stack, tmp_path: Path) -> None:
    rt = _runtime(stack, tmp_path)
    workers = [rt.worker(leader=SERVE_LEADER, role=f"serve{i}") for i in range(3)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for t in threads:
        t.start()
    try:
        for _ in range(20):
            leading = [w for w in workers if w.leadership and w.leadership.leading]
            assert len(leading) <= 1
            time.sleep(0.05)
        assert len(leading) == 1
        holder = rt.store.leader(SERVE_LEADER)
        assert holder is not None and holder[0] == leading[0].owner
    finally:
        stop.set()
        for w in workers:
            w.wake.set()
        for t in threads:
            t.join(10)
    assert rt.store.leader(SERVE_LEADER)[1] == 0.0  # type: ignore[index]  # released


def test_the_bots_login_is_learned_once_and_shared(stack: Stack, tmp_path: Path) -> None:
    stack.github.add_token("ghp_machine_user_token", "octo-machine")  # a PAT of a user
    rt = _runtime(stack, tmp_path, bot_login="", github_token="ghp_machine_user_token")
    assert rt.bot_login() is None
    assert remember_bot_login(rt.store, rt.factory) == "octo-machine"  # GET /user
    other = _runtime(stack, tmp_path, bot_login="")  # another process, same store
    assert other.factory.bot_login() == "octo-machine"
    assert other.bot_login() == "octo-machine"


def test_a_token_that_may_not_read_its_user_leaves_the_login_unknown(
    stack: Stack, tmp_path: Path
) -> None:
    rt = _runtime(stack, tmp_path, bot_login="")  # the stack's bot token: GET /user is 403
    assert remember_bot_login(rt.store, rt.factory) is None
    assert rt.store.get_meta("bot_login") is None


def test_metrics_of_several_processes_add_up(stack: Stack, tmp_path: Path) -> None:
    rt = _runtime(stack, tmp_path)
    a, b = Metrics(), Metrics()
    a.delivery("issue_comment", "queued")
    b.delivery("issue_comment", "queued")
    b.api_call("devin", 503)
    a.flush(rt.store)
    b.flush(rt.store)
    text = render(rt.store.counters(), rt.store.counts())
    assert 'devin_bridge_webhook_deliveries_total{event="issue_comment",outcome="queued"} 2' in text
    assert 'devin_bridge_api_errors_total{service="devin",status="503"} 1' in text


def test_logs_never_show_secrets(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("devin_bridge.test_secrets")
    handler = logging.StreamHandler()
    handler.addFilter(service_logging.SecretFilter(["cog_SECRETKEY", "ghp_TOKEN42"]))
    records: list[str] = []
    handler.emit = lambda record: records.append(  # type: ignore[method-assign]
        handler.format(record)
    )
    logger.addHandler(handler)
    try:
        logger.warning("key %s and token %s", "cog_SECRETKEY", "ghp_TOKEN42")
        try:
            raise ValueError("bad token ghp_TOKEN42")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(records)
    assert "cog_SECRETKEY" not in joined and "ghp_TOKEN42" not in joined
    assert "key *** and token ***" in joined


def test_a_github_app_installation_posts_the_comment_and_names_the_bot(
    stack: Stack, tmp_path: Path
) -> None:
    private, public = make_rsa_keypair()
    stack.github.configure_app(4711, public, slug="devin-bridge-test")
    stack.github.add_installation(88, account="octo-org")
    stack.allow("alice")
    rt = _runtime(
        stack,
        tmp_path,
        github_token="",
        github_app_id="4711",
        github_app_private_key=private,
        bot_login="",
    )
    assert remember_bot_login(rt.store, rt.factory) == "devin-bridge-test[bot]"
    comment = stack.github.add_comment(stack.repo, 16, "/devin as an app", user="alice")
    payload = stack.comment_payload(comment)
    payload["installation"] = {"id": 88}
    trigger = classify("issue_comment", payload, bot_login=None)
    assert isinstance(trigger, Trigger) and trigger.installation_id == 88
    rt.store.enqueue_job(
        NewJob(trigger.dedupe_key, "trigger", trigger_job_thread(trigger), dump(trigger))
    )
    _drain(rt, lambda: rt.store.live_session_ids())
    (status,) = [
        c
        for c in stack.github.thread_comments(stack.repo, 16)
        if "devin-bridge:session" in c["body"]
    ]
    assert status["user"]["login"] == "devin-bridge-test[bot]"
    tokens = stack.github.requests("POST", "/app/installations/88/access_tokens")
    assert len(tokens) == 1  # minted once, then cached


def test_a_session_devin_no_longer_knows_is_dropped_after_several_404s(
    stack: Stack, tmp_path: Path
) -> None:
    stack.allow("alice")
    stack.use_scenario("long")
    clock = Clock()
    rt = _session_started(stack, tmp_path, clock, 17)
    assert len(rt.store.live_session_ids()) == 1
    stack.emulator.add_fault(method="GET", path=r".*/sessions/[^/]+", status=404)
    poller = rt.poller("p")
    results = []
    for _ in range(5):
        clock.offset += 400
        results += [r.result for r in poller.run_due()]
    assert results == ["error", "error", "error", "error", "done"]
    assert rt.store.live_session_ids() == []
    # The thread is told, rather than left with a comment showing Devin at work.
    [status] = [c for c in stack.bot_comments(17) if "devin-bridge:session=" in c["body"]]
    assert "no longer knows this session" in status["body"]


def test_held_leases_are_renewed_until_their_block_ends() -> None:
    renewed: dict[str, int] = {"a": 0, "b": 0}

    def renew(name: str) -> bool:
        renewed[name] += 1
        return True

    with LeaseKeeper(lambda: renew("a"), 0.15, "a"), LeaseKeeper(lambda: renew("b"), 0.15, "b"):
        time.sleep(0.4)  # about eight beats of 0.05 s
    after = dict(renewed)
    time.sleep(0.2)
    assert after["a"] >= 2 and after["b"] >= 2
    assert renewed == after  # nothing renews a lease whose work is over


def test_a_lost_lease_is_reported_and_no_longer_renewed() -> None:
    calls = []

    def renew() -> bool:
        calls.append(1)
        return False  # another worker took it over

    with LeaseKeeper(renew, 0.15, "x") as keeper:
        assert keeper.lost.wait(2)
        time.sleep(0.2)
    assert len(calls) == 1


def test_a_claim_that_waited_past_its_lease_is_not_ticked_twice(
    stack: Stack, tmp_path: Path
) -> None:
    stack.allow("alice")
    stack.use_scenario("long")
    clock = Clock()
    rt = _session_started(stack, tmp_path, clock, 19)
    (sid,) = rt.store.live_session_ids()
    rt.store.poll_now(sid)
    (stale,) = rt.store.claim_due_sessions("slow-worker", rt.lease_s)
    clock.offset += rt.lease_s + 1  # it sat in a busy pool past its lease...
    rt.store.poll_now(sid)
    (fresh,) = rt.store.claim_due_sessions("other-worker", rt.lease_s)  # ...and was taken over
    gets_before = len(stack.devin_requests("GET", r"/sessions/[^/]+$"))
    report = rt.poller("slow-worker").tick(stale)
    assert report.result == "fenced"
    assert len(stack.devin_requests("GET", r"/sessions/[^/]+$")) == gets_before
    assert rt.poller("other-worker").tick(fresh).result in ("stored", "done")


def test_one_404_after_a_run_of_outages_does_not_drop_the_session(
    stack: Stack, tmp_path: Path
) -> None:
    stack.allow("alice")
    stack.use_scenario("long")
    clock = Clock()
    rt = _session_started(stack, tmp_path, clock, 21)
    assert len(rt.store.live_session_ids()) == 1
    path = r".*/sessions/[^/]+$"
    stack.emulator.add_fault(method="GET", path=path, status=503)
    poller = rt.poller("p")
    for _ in range(4):
        clock.offset += 400
        poller.run_due()
    requests.delete(stack.devin_url.rsplit("/v3", 1)[0] + "/_emulator/faults", timeout=5)
    stack.emulator.add_fault(method="GET", path=path, status=404, times=1)
    clock.offset += 400
    poller.run_due()
    assert len(rt.store.live_session_ids()) == 1  # a single 404: still followed
