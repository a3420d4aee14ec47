"""`python entrypoint.py` run the way GitHub Actions runs it: a separate process with the
runner's environment (GITHUB_EVENT_PATH, GITHUB_OUTPUT, INPUT_* with hyphens...), talking
over real HTTP to the Devin emulator and the GitHub fake.

Independent scenarios are prepared together and run concurrently (module fixture
`batch`), each on its own issue or pull request; each test then checks what was sent to
Devin, which comments were written and the outputs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.emulator.config import EmulatorConfig
from bot.engine.handlers import RunOptions, handle
from tests.support.payloads import load_payload
from tests.support.stack import REPO, Stack, running_stack

ROOT = Path(__file__).resolve().parents[2]
DEVIN_KEY = "cog_test_key_that_must_never_be_printed"
ACTIONS_TOKEN = "ghs_actions_token_that_must_never_be_printed"
ACTIONS_BOT = "github-actions[bot]"
MARKER = "<!-- devin-bridge:session="
SCHEMA = {"type": "object", "properties": {"fixed": {"type": "boolean"}}, "required": ["fixed"]}


# --- running the entrypoint -------------------------------------------------------------


@dataclass
class Case:
    """One Action run: the event and the inputs that differ from the defaults."""

    event: str
    payload: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    number: int | None = None
    trigger_comment: int | None = None
    review_comment: bool = False
    sessions_before: tuple[str, ...] = ()  # sessions a setup step started in-process
    env: dict[str, str] = field(default_factory=dict)
    output_file: bool = True  # False: run as outside Actions, outputs go to the log


@dataclass
class ActionRun:
    case: Case
    env: dict[str, str]
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str


def action_defaults() -> dict[str, str]:
    """INPUT_* exactly as the runner sets them: every input, with action.yml's default."""
    spec = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    return {
        f"INPUT_{name.upper()}": str(item.get("default", ""))
        for name, item in spec.items()
        if "${{" not in str(item.get("default", ""))
    }


def parse_github_output(text: str) -> dict[str, str]:
    """The runner's reading of $GITHUB_OUTPUT (independent of bot.action.workflow_commands)."""
    result: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i)
            result[name] = "\n".join(lines[i:end])
            i = end + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            result[name] = value
    return result


def environment(stack: Stack, workdir: Path, case: Case) -> dict[str, str]:
    """What the runner gives the container for this case."""
    workdir.mkdir(parents=True, exist_ok=True)
    event_path = workdir / "event.json"
    event_path.write_text(json.dumps(case.payload))
    (workdir / "github_output").touch()
    (workdir / "step_summary").touch()
    sender = case.payload.get("sender") or {}
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": case.event,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": stack.repo,
        "GITHUB_ACTOR": str(sender.get("login") or "alice"),
        "GITHUB_API_URL": stack.github_url,
        "GITHUB_OUTPUT": str(workdir / "github_output"),
        "GITHUB_STEP_SUMMARY": str(workdir / "step_summary"),
        "GITHUB_WORKSPACE": str(workdir),
        "RUNNER_TEMP": str(workdir),
        "DEVIN_BRIDGE_GITHUB_WRITE_SPACING": "0",
        **action_defaults(),
        "INPUT_DEVIN-API-KEY": DEVIN_KEY,
        "INPUT_ORG-ID": stack.org_id,
        "INPUT_GITHUB-TOKEN": ACTIONS_TOKEN,
        "INPUT_DEVIN-API-URL": stack.devin_url,
        "INPUT_POLL-INTERVAL": "0.05",
        "INPUT_TIMEOUT-MINUTES": "0.5",
    }
    env.update({f"INPUT_{k.upper()}": v for k, v in case.inputs.items()})
    env.update(case.env)
    if not case.output_file:
        del env["GITHUB_OUTPUT"], env["GITHUB_STEP_SUMMARY"]
    return env


def finished(
    case: Case, env: dict[str, str], workdir: Path, code: int, stdout: str, stderr: str
) -> ActionRun:
    run = ActionRun(
        case,
        env,
        code,
        stdout,
        stderr,
        parse_github_output((workdir / "github_output").read_text()),
        (workdir / "step_summary").read_text(),
    )
    check_hygiene(run)
    return run


def execute(stack: Stack, workdir: Path, case: Case) -> ActionRun:
    env = environment(stack, workdir, case)
    proc = subprocess.run(
        [sys.executable, "entrypoint.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    return finished(case, env, workdir, proc.returncode, proc.stdout, proc.stderr)


def check_hygiene(run: ActionRun) -> None:
    """Whatever happened: no traceback, no secret, every output written."""
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    key = run.env["INPUT_DEVIN-API-KEY"]
    for secret in (key, ACTIONS_TOKEN):
        if not secret:
            continue
        printed = [line for line in run.stdout.splitlines() if secret in line]
        assert all(line == f"::add-mask::{secret}" for line in printed), printed
        assert secret not in run.stderr
        assert secret not in json.dumps(run.outputs) + run.summary
    if key:  # masked before anything else is printed
        assert run.stdout.splitlines()[0] == f"::add-mask::{key}"
    if not run.case.output_file:
        return
    assert set(run.outputs) == {
        "session-id",
        "session-url",
        "status",
        "status-detail",
        "state",
        "pull-request-urls",
        "acus-consumed",
        "structured-output",
        "comment-id",
        "skipped",
        "reason",
    }, run.stdout


# --- what the servers saw ----------------------------------------------------------------


def creates(stack: Stack, tag: str) -> list[dict[str, Any]]:
    """Bodies of POST /sessions whose tags include `tag`."""
    return [
        r["json"]
        for r in stack.emulator.requests()
        if r["method"] == "POST"
        and r["path"].endswith("/sessions")
        and r["status"] == 200
        and tag in (r["json"] or {}).get("tags", [])
    ]


def thread_tag(number: int) -> str:
    return f"thread:{REPO}#{number}"


def status_comments(stack: Stack, number: int) -> list[dict[str, Any]]:
    return [c for c in stack.github.thread_comments(REPO, number) if MARKER in c["body"]]


def the_status_comment(stack: Stack, number: int, session_id: str) -> dict[str, Any]:
    """Exactly one status comment per session, carrying the id as the API gave it."""
    found = [c for c in status_comments(stack, number) if f"{MARKER}{session_id} -->" in c["body"]]
    assert len(found) == 1, [c["body"][:80] for c in status_comments(stack, number)]
    assert found[0]["user"]["login"] == ACTIONS_BOT
    return found[0]


def messages_sent(stack: Stack, session_id: str) -> list[str]:
    bare = session_id.removeprefix("devin-")
    return [
        r["json"]["message"]
        for r in stack.emulator.requests()
        if r["method"] == "POST" and r["path"].endswith(f"{bare}/messages")
    ]


def session_started_in_process(stack: Stack, number: int, text: str, scenario: str) -> str:
    """A session already live on the thread (as an earlier Action run would leave it)."""
    comment = stack.github.add_comment(REPO, number, text, user="alice")
    deps = stack.deps(RunOptions(tags=(f"emulator-scenario:{scenario}",)), bot_login=ACTIONS_BOT)
    outcome = handle(stack.comment_trigger(comment), deps)
    assert outcome.action == "created" and outcome.session is not None
    return outcome.session.session_id


# --- the scenarios, prepared together ----------------------------------------------------

CASES: dict[str, Callable[[Stack], Case]] = {}


def case(build: Callable[[Stack], Case]) -> Callable[[Stack], Case]:
    CASES[build.__name__] = build
    return build


def comment_case(stack: Stack, number: int, body: str, user: str = "alice", **kw: Any) -> Case:
    comment = stack.github.add_comment(REPO, number, body, user=user)
    return Case(
        "issue_comment",
        stack.comment_payload(comment),
        number=number,
        trigger_comment=comment.id,
        **kw,
    )


@case
def issue_comment(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 1, title="Flaky test in CI")
    return comment_case(
        stack,
        1,
        "/devin fix the flaky test",
        inputs={"structured-output-schema": json.dumps(SCHEMA), "max-acu-limit": "8"},
    )


@case
def pr_comment(stack: Stack) -> Case:
    stack.github.add_pull(REPO, 2, title="Add caching")
    return comment_case(stack, 2, "/devin please add tests for the cache")


@case
def review_comment(stack: Stack) -> Case:
    stack.github.add_pull(REPO, 3, title="Refactor parser")
    comment = stack.github.add_review_comment(
        REPO, 3, "/devin rename this variable", user="alice", path="src/parser.py", line=12
    )
    return Case(
        "pull_request_review_comment",
        stack.review_comment_payload(comment),
        number=3,
        trigger_comment=comment.id,
        review_comment=True,
    )


@case
def label_on_pr(stack: Stack) -> Case:
    stack.github.add_pull(REPO, 4, title="Bump dependency")
    _, payload = stack.label_payload(4, "devin", sender="alice")
    # The example workflow uses pull_request_target so labels on fork PRs work too.
    return Case("pull_request_target", payload, number=4)


@case
def label_on_issue(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 5, title="Crash on empty input")
    event, payload = stack.label_payload(5, "devin", sender="alice")
    return Case(event, payload, number=5)


@case
def dispatch_prompt(stack: Stack) -> Case:
    payload = load_payload("workflow_dispatch")
    payload["repository"]["full_name"] = REPO
    payload["sender"] = {"login": "alice", "type": "User"}
    return Case(
        "workflow_dispatch",
        payload,
        inputs={
            "prompt": "Nightly: update the changelog (dispatch-case)",
            "tags": "nightly, team:docs",
            "title": "Changelog update",
        },
    )


@case
def non_collaborator(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 7)
    stack.allow("mallory", "read")
    return comment_case(stack, 7, "/devin delete everything", user="mallory")


@case
def bot_sender(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 8)
    return comment_case(stack, 8, "/devin do what the bot says", user="helper-bot[bot]")


@case
def edited_comment(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 9, title="Docs typo")
    comment = stack.github.add_comment(REPO, 9, "Thanks for the report", user="alice")
    with stack.github.lock:
        comment.body = "/devin fix the typo in the docs"
        comment.history.append(comment.body)
    return Case(
        "issue_comment",
        stack.comment_payload(comment, action="edited"),
        number=9,
        trigger_comment=comment.id,
    )


@case
def unrelated_event(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 10, title="Just an issue")
    payload = load_payload("issues.opened")
    payload["repository"]["full_name"] = REPO
    payload["issue"]["number"] = 10
    return Case("issues", payload, number=10)


@case
def waits_for_input(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 11)
    return comment_case(
        stack,
        11,
        "/devin implement the feature",
        inputs={"tags": "emulator-scenario:wait_for_user"},
    )


@case
def session_fails(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 12)
    return comment_case(
        stack, 12, "/devin try the impossible", inputs={"tags": "emulator-scenario:error"}
    )


@case
def usage_limit(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 13)
    return comment_case(
        stack, 13, "/devin do a lot of work", inputs={"tags": "emulator-scenario:usage_limit"}
    )


@case
def still_running(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 14)
    return comment_case(
        stack,
        14,
        "/devin port the app to Rust",
        inputs={"tags": "emulator-scenario:long", "timeout-minutes": "0.02"},
    )


@case
def help_command(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 15)
    return comment_case(stack, 15, "/devin help")


@case
def follow_up(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 16, title="Pick a design")
    sid = session_started_in_process(stack, 16, "/devin propose a design", "wait_for_user")
    stack.emulator.advance(sid, polls=3)  # now waiting for the user
    return comment_case(stack, 16, "/devin go with option B", sessions_before=(sid,))


@case
def new_session(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 17)
    sid = session_started_in_process(stack, 17, "/devin first attempt", "long")
    return comment_case(stack, 17, "/devin new start over from scratch", sessions_before=(sid,))


@case
def stop_command(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 18)
    sid = session_started_in_process(stack, 18, "/devin endless work", "long")
    return comment_case(stack, 18, "/devin stop", sessions_before=(sid,))


@case
def status_command(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 19)
    sid = session_started_in_process(stack, 19, "/devin long work", "long")
    return comment_case(stack, 19, "/devin status", sessions_before=(sid,))


@case
def no_wait(stack: Stack) -> Case:
    stack.github.add_issue(REPO, 20)
    return comment_case(stack, 20, "/devin quick start", inputs={"wait": "false"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    with running_stack(EmulatorConfig(api_key=DEVIN_KEY)) as stack:
        # The default Actions token: comments appear as github-actions[bot].
        stack.github.add_token(ACTIONS_TOKEN, ACTIONS_BOT, type="Bot")
        stack.github_token, stack.bot_login = ACTIONS_TOKEN, ACTIONS_BOT
        stack.use_scenario("finish")
        stack.allow("alice", "write")
        yield stack, tmp_path_factory.mktemp("action-runs")


@pytest.fixture(scope="module")
def batch(world: tuple[Stack, Path]) -> dict[str, ActionRun]:
    stack, tmp = world
    cases = {name: build(stack) for name, build in CASES.items()}
    cases["dispatch_prompt"].inputs["attachments-dir"] = str(tmp / "dispatch_prompt" / "att")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(execute, stack, tmp / name, c) for name, c in cases.items()}
        return {name: f.result() for name, f in futures.items()}


# --- the checks --------------------------------------------------------------------------


def assert_started(stack: Stack, run: ActionRun, state: str = "finished") -> dict[str, Any]:
    """The run created one session for its thread and reports it; returns its status comment."""
    number = run.case.number
    assert number is not None
    assert run.returncode == 0, run.stdout
    out = run.outputs
    assert out["skipped"] == "false"
    assert out["state"] == state, run.stdout
    bodies = creates(stack, thread_tag(number))
    assert len(bodies) == 1
    assert {"devin-bridge", f"repo:{REPO}", thread_tag(number)} <= set(bodies[0]["tags"])
    sid = out["session-id"]
    assert sid in [s["session_id"] for s in stack.sessions()]  # exactly as the API gave it
    comment = the_status_comment(stack, number, sid)
    assert out["comment-id"] == str(comment["id"])
    assert out["session-url"] and out["session-url"] in comment["body"]
    return comment


def test_issue_comment_starts_a_session_and_reports_it(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    run = batch["issue_comment"]
    comment = assert_started(stack, run)
    body = creates(stack, thread_tag(1))[0]
    assert "fix the flaky test" in body["prompt"]
    assert body["max_acu_limit"] == 8
    assert body["structured_output_schema"] == SCHEMA
    assert body["repos"] == [REPO]
    out = run.outputs
    assert (out["status"], out["status-detail"]) == ("running", "finished")
    assert out["pull-request-urls"].startswith("https://")
    assert float(out["acus-consumed"]) > 0
    assert json.loads(out["structured-output"])["fixed"] in (True, False)
    assert "Finished" in comment["body"] or "finished" in comment["body"]
    # The wait, folded in the log: one line per state, the last one finished.
    lines = run.stdout.splitlines()
    opened = next(i for i, line in enumerate(lines) if line.startswith("::group::Devin session"))
    closed = lines.index("::endgroup::", opened)
    progress = lines[opened + 1 : closed]
    assert progress and progress[-1].startswith("finished (running/finished) · 0:"), progress
    assert len({line.split(" (")[0] for line in progress}) == len(progress)
    assert {"user": ACTIONS_BOT, "content": "eyes"} in stack.github.reactions(
        run.case.trigger_comment or 0
    )
    assert "Devin" in run.summary and out["session-url"] in run.summary


def test_pr_comment(world: tuple[Stack, Path], batch: dict[str, ActionRun]) -> None:
    stack, _ = world
    assert_started(stack, batch["pr_comment"])
    assert "add tests for the cache" in creates(stack, thread_tag(2))[0]["prompt"]


def test_review_comment_gets_a_conversation_status_comment(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    run = batch["review_comment"]
    comment = assert_started(stack, run)
    prompt = creates(stack, thread_tag(3))[0]["prompt"]
    assert "rename this variable" in prompt and "src/parser.py" in prompt
    assert "#discussion_r" in comment["body"]  # links the review comment
    reactions = stack.github.reactions(run.case.trigger_comment or 0, review_comment=True)
    assert {"user": ACTIONS_BOT, "content": "eyes"} in reactions


@pytest.mark.parametrize("name", ["label_on_pr", "label_on_issue"])
def test_label_starts_a_session(
    world: tuple[Stack, Path], batch: dict[str, ActionRun], name: str
) -> None:
    stack, _ = world
    assert_started(stack, batch[name])


def test_workflow_dispatch_prompt(world: tuple[Stack, Path], batch: dict[str, ActionRun]) -> None:
    stack, tmp = world
    run = batch["dispatch_prompt"]
    assert run.returncode == 0, run.stdout
    out = run.outputs
    assert (out["skipped"], out["state"], out["comment-id"]) == ("false", "finished", "")
    bodies = creates(stack, "nightly")
    assert len(bodies) == 1
    assert "update the changelog (dispatch-case)" in bodies[0]["prompt"]
    assert bodies[0]["title"] == "Changelog update"
    assert {"devin-bridge", f"repo:{REPO}", "nightly", "team:docs"} <= set(bodies[0]["tags"])
    assert not any(t.startswith("thread:") for t in bodies[0]["tags"])
    saved = sorted(p.name for p in (tmp / "dispatch_prompt" / "att").iterdir())
    assert "summary.md" in saved
    assert "summary.md" in run.summary


def test_non_collaborator_is_refused_politely(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    run = batch["non_collaborator"]
    assert run.returncode == 0
    assert run.outputs["skipped"] == "true"
    assert "write" in run.outputs["reason"]
    assert run.outputs["session-id"] == ""
    assert creates(stack, thread_tag(7)) == []
    assert status_comments(stack, 7) == []


def test_bot_sender_is_ignored(world: tuple[Stack, Path], batch: dict[str, ActionRun]) -> None:
    stack, _ = world
    run = batch["bot_sender"]
    assert (run.returncode, run.outputs["skipped"]) == (0, "true")
    assert "bot" in run.outputs["reason"]
    assert creates(stack, thread_tag(8)) == []


def test_edited_comment_that_became_a_command(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    assert_started(stack, batch["edited_comment"])
    assert "fix the typo" in creates(stack, thread_tag(9))[0]["prompt"]


def test_unrelated_event_is_skipped(world: tuple[Stack, Path], batch: dict[str, ActionRun]) -> None:
    stack, _ = world
    run = batch["unrelated_event"]
    assert (run.returncode, run.outputs["skipped"]) == (0, "true")
    assert run.outputs["reason"]
    assert stack.github.thread_comments(REPO, 10) == []


@pytest.mark.parametrize(
    ("name", "number", "state", "status", "words"),
    [
        ("waits_for_input", 11, "waiting-for-input", "running", "needs your input"),
        ("session_fails", 12, "failed", "error", "error"),
        ("usage_limit", 13, "suspended", "suspended", "Suspended"),
        ("still_running", 14, "still-running", "running", "Still running"),
    ],
)
def test_how_a_waited_session_ends(
    world: tuple[Stack, Path],
    batch: dict[str, ActionRun],
    name: str,
    number: int,
    state: str,
    status: str,
    words: str,
) -> None:
    stack, _ = world
    run = batch[name]
    comment = assert_started(stack, run, state=state)
    assert run.outputs["status"] == status
    assert words in comment["body"]
    if state == "still-running":
        assert "session goes on" in run.outputs["reason"]
        assert run.outputs["session-url"] in comment["body"]
    if state == "suspended":
        assert run.outputs["status-detail"] == "usage_limit_exceeded"


def test_help_replies_with_the_commands(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    run = batch["help_command"]
    assert (run.returncode, run.outputs["skipped"]) == (0, "true")
    replies = stack.github.thread_comments(REPO, 15)
    reply = next(c for c in replies if c["user"]["login"] == ACTIONS_BOT)
    assert run.outputs["comment-id"] == str(reply["id"])
    assert "/devin stop" in reply["body"]
    assert creates(stack, thread_tag(15)) == []


def test_follow_up_goes_into_the_live_session(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    run = batch["follow_up"]
    (sid,) = run.case.sessions_before
    assert run.returncode == 0, run.stdout
    assert run.outputs["session-id"] == sid
    assert run.outputs["skipped"] == "false"
    assert run.outputs["state"] == "finished"
    assert len(creates(stack, thread_tag(16))) == 1  # the setup's only
    assert any("go with option B" in m for m in messages_sent(stack, sid))
    comment = the_status_comment(stack, 16, sid)
    assert run.outputs["comment-id"] == str(comment["id"])
    assert len(status_comments(stack, 16)) == 1


def test_new_starts_a_second_session_with_its_own_comment(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    run = batch["new_session"]
    (old,) = run.case.sessions_before
    assert run.returncode == 0, run.stdout
    new = run.outputs["session-id"]
    assert new and new != old
    assert len(creates(stack, thread_tag(17))) == 2
    assert "start over from scratch" in creates(stack, thread_tag(17))[1]["prompt"]
    the_status_comment(stack, 17, old)
    the_status_comment(stack, 17, new)
    assert messages_sent(stack, old) == []


def test_stop_terminates_the_live_session(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    run = batch["stop_command"]
    (sid,) = run.case.sessions_before
    assert run.returncode == 0, run.stdout
    assert (run.outputs["session-id"], run.outputs["state"]) == (sid, "stopped")
    bare = sid.removeprefix("devin-")
    deletes = [
        r for r in stack.emulator.requests() if r["method"] == "DELETE" and bare in r["path"]
    ]
    assert len(deletes) == 1
    assert "Stopped" in the_status_comment(stack, 18, sid)["body"]


def test_status_refreshes_the_comment(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    run = batch["status_command"]
    (sid,) = run.case.sessions_before
    assert run.returncode == 0, run.stdout
    assert (run.outputs["session-id"], run.outputs["skipped"]) == (sid, "false")
    assert run.outputs["state"] == "working"
    assert run.outputs["comment-id"] == str(the_status_comment(stack, 19, sid)["id"])
    assert len(creates(stack, thread_tag(19))) == 1


def test_wait_false_returns_right_after_starting(
    world: tuple[Stack, Path], batch: dict[str, ActionRun]
) -> None:
    stack, _ = world
    run = batch["no_wait"]
    assert run.returncode == 0
    assert run.outputs["state"] in ("queued", "working")
    the_status_comment(stack, 20, run.outputs["session-id"])


# --- mode refresh and apply ---------------------------------------------------------------


def test_refresh_updates_comments_of_changed_sessions_only(world: tuple[Stack, Path]) -> None:
    stack, tmp = world
    stack.github.add_issue(REPO, 30)
    stack.github.add_issue(REPO, 31)
    moving = session_started_in_process(stack, 30, "/devin keep going", "long")
    quiet = session_started_in_process(stack, 31, "/devin wait here", "long")
    for session_id in (moving, quiet):  # past the scenario's only step: nothing moves now
        stack.emulator.get_session(session_id)
    quiet_comment = the_status_comment(stack, 31, quiet)
    with stack.github.lock:  # written well after the quiet session last changed
        stack.github.comments[quiet_comment["id"]].updated_at += 30
    stack.emulator.patch_session(moving, {"acus_consumed": 4.5})
    before = stack.github.comment_history(the_status_comment(stack, 30, moving)["id"])
    payload = load_payload("workflow_dispatch")
    payload["repository"]["full_name"] = REPO
    run = execute(stack, tmp / "refresh", Case("schedule", payload, inputs={"mode": "refresh"}))
    assert run.returncode == 0, run.stdout
    assert run.outputs["skipped"] == "false"
    after = stack.github.comment_history(the_status_comment(stack, 30, moving)["id"])
    assert len(after) == len(before) + 1 and "4.5" in after[-1]
    assert stack.github.comment_history(quiet_comment["id"]) == [quiet_comment["body"]]
    assert "#30" in run.summary and "#31" not in run.summary


def test_invalid_repo_config_is_reported_and_defaults_are_used(
    world: tuple[Stack, Path], tmp_path: Path
) -> None:
    stack, _ = world
    stack.github.add_issue(REPO, 43)
    stack.github.add_file(REPO, ".github/devin.yml", "defaults:\n  max_acu_limit: ten\n")
    try:
        run = execute(stack, tmp_path, comment_case(stack, 43, "/devin go"))
    finally:
        with stack.github.lock:
            stack.github.repos[REPO.lower()].files.clear()
    assert run.returncode == 0, run.stdout
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "max_acu_limit" in errors[0], run.stdout
    assert run.outputs["state"] == "finished"
    assert "max_acu_limit" not in creates(stack, thread_tag(43))[0]


APPLY_PLAYBOOK = "---\ntitle: Fix a bug\n---\nReproduce, fix, open a pull request.\n"
APPLY_SCHEDULES = "- name: weekly\n  prompt: Tidy up\n  cron: '0 6 * * 1'\n  playbook: fix-bug\n"


def devin_folder(workdir: Path) -> None:
    (workdir / ".devin/playbooks").mkdir(parents=True, exist_ok=True)
    (workdir / ".devin/playbooks/fix-bug.md").write_text(APPLY_PLAYBOOK)
    (workdir / ".devin/schedules.yml").write_text(APPLY_SCHEDULES)


def apply_writes(stack: Stack) -> list[Any]:
    return [
        r
        for r in stack.devin_requests(path=r"/(playbooks|knowledge|schedules)")
        if r["method"] != "GET"
    ]


def test_apply_mode_dry_run_on_a_pull_request_plans_in_the_summary_and_one_comment(
    world: tuple[Stack, Path],
) -> None:
    stack, tmp = world
    stack.github.add_pull(REPO, 60)
    devin_folder(tmp / "plan")
    payload = load_payload("workflow_dispatch")
    payload["pull_request"] = {"number": 60}
    case = Case("pull_request", payload, inputs={"mode": "apply", "dry-run": "true"})
    for _ in range(2):  # a second push edits the same comment
        run = execute(stack, tmp / "plan", case)
        assert run.returncode == 0, run.stdout
        assert "+ playbook fix-bug" in run.summary and "+ schedule weekly" in run.summary
        assert "2 to create" in run.summary and "nothing was changed" in run.summary.lower()
        assert "next runs: " in run.summary
    assert apply_writes(stack) == []
    plans = [c for c in stack.bot_comments(60) if "devin-bridge:apply-plan" in c["body"]]
    assert len(plans) == 1 and "+ playbook fix-bug" in plans[0]["body"]


def test_apply_mode_applies_then_has_nothing_to_do(world: tuple[Stack, Path]) -> None:
    stack, tmp = world
    devin_folder(tmp / "push")
    payload = load_payload("workflow_dispatch")
    case = Case("push", payload, inputs={"mode": "apply"})
    run = execute(stack, tmp / "push", case)
    assert run.returncode == 0, run.stdout
    assert "Applied 2 of 2 changes" in run.summary
    assert [r["method"] for r in apply_writes(stack)] == ["POST", "POST"]
    again = execute(stack, tmp / "push", case)
    assert again.returncode == 0 and "2 unchanged" in again.summary
    assert len(apply_writes(stack)) == 2  # the second run sent no write request


def test_apply_mode_invalid_folder_fails_with_an_annotation_per_file(
    world: tuple[Stack, Path],
) -> None:
    stack, tmp = world
    workdir = tmp / "invalid"
    (workdir / ".devin/playbooks").mkdir(parents=True, exist_ok=True)
    (workdir / ".devin/playbooks/x.md").write_text("---\nmacro: '!x'\n---\nbody\n")
    before = len(apply_writes(stack))
    case = Case("push", load_payload("workflow_dispatch"), inputs={"mode": "apply"})
    run = execute(stack, workdir, case)
    assert run.returncode == 1
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert any("playbooks/x.md" in e and "title: is required" in e for e in errors), errors
    assert len(apply_writes(stack)) == before


def polled(stack: Stack, number: int) -> bool:
    """The run is in its wait loop: the session has been read after it was created."""
    bodies = [c["body"] for c in status_comments(stack, number)]
    ids = [b.split(MARKER, 1)[1].split(" -->", 1)[0].removeprefix("devin-") for b in bodies]
    return any(
        r["method"] == "GET" and r["path"].endswith(sid)  # not .../messages
        for sid in ids
        for r in stack.emulator.requests()
    )


def test_cancelled_run_finalises_the_comment(world: tuple[Stack, Path], tmp_path: Path) -> None:
    """The runner stops a cancelled job's container with SIGTERM (Python is PID 1 there)."""
    stack, _ = world
    stack.github.add_issue(REPO, 42)
    c = comment_case(
        stack,
        42,
        "/devin long job",
        inputs={"tags": "emulator-scenario:long", "timeout-minutes": "5"},
    )
    env = environment(stack, tmp_path, c)
    proc = subprocess.Popen(
        [sys.executable, "entrypoint.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not polled(stack, 42) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert polled(stack, 42), "the run never started waiting"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = finished(c, env, tmp_path, proc.returncode, stdout, stderr)
    assert run.returncode == 1
    assert run.outputs["state"] == "still-running"
    assert "cancelled" in run.outputs["reason"]
    assert "Still running" in the_status_comment(stack, 42, run.outputs["session-id"])["body"]


# --- bad input ----------------------------------------------------------------------------


def _unreadable(case: Case, tmp: Path) -> None:
    case.env["GITHUB_EVENT_PATH"] = str(tmp / "no-such-event.json")


def _not_json(case: Case, tmp: Path) -> None:
    bad = tmp / "bad-event.json"
    bad.write_text("{not json")
    case.env["GITHUB_EVENT_PATH"] = str(bad)


@pytest.mark.parametrize(
    ("inputs", "tweak", "words"),
    [
        ({"devin-api-key": ""}, None, "devin-api-key"),
        ({"org-id": " "}, None, "org-id"),
        ({"wait": "sometimes"}, None, "wait"),
        ({"max-acu-limit": "lots"}, None, "max-acu-limit"),
        ({"structured-output-schema": "{bad json"}, None, "structured-output-schema"),
        ({"mode": "deploy"}, None, "mode"),
        ({}, _unreadable, "cannot be read"),
        ({}, _not_json, "not valid JSON"),
        ({"devin-api-key": "cog_wrong_key_also_secret"}, None, "401"),
    ],
    ids=[
        "no-key",
        "empty-org",
        "bad-wait",
        "bad-acu-limit",
        "bad-schema-json",
        "bad-mode",
        "unreadable-event",
        "invalid-event-json",
        "devin-401",
    ],
)
def test_bad_input_gives_one_error_line_and_exit_1(
    world: tuple[Stack, Path],
    tmp_path: Path,
    inputs: dict[str, str],
    tweak: Callable[[Case, Path], None] | None,
    words: str,
) -> None:
    stack, _ = world
    stack.github.add_issue(REPO, 40)
    c = comment_case(stack, 40, "/devin do it", inputs=dict(inputs))
    if tweak is not None:
        tweak(c, tmp_path)
    run = execute(stack, tmp_path / "run", c)
    assert run.returncode == 1, run.stdout
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, run.stdout
    assert words in errors[0]
    assert run.outputs["skipped"] == "true"
    assert run.outputs["reason"]
    assert "could not run" in run.summary
    if words == "401":  # rejected before anything was written; a comment, if any, says why
        bot = [
            c for c in stack.github.thread_comments(REPO, 40) if c["user"]["login"] == ACTIONS_BOT
        ]
        assert all("401" in c["body"] and "cog_wrong" not in c["body"] for c in bot)
        assert creates(stack, thread_tag(40)) == []


def test_outside_actions_outputs_go_to_the_log(world: tuple[Stack, Path], tmp_path: Path) -> None:
    stack, _ = world
    payload = load_payload("issues.opened")
    payload["repository"]["full_name"] = REPO
    c = Case("issues", payload, output_file=False)
    run = execute(stack, tmp_path, c)
    assert run.returncode == 0
    assert "skipped=true" in run.stdout
    assert "::stop-commands::" in run.stdout  # echoed values cannot issue commands


def test_a_personal_token_edits_its_own_status_comment_on_follow_up(
    world: tuple[Stack, Path],
) -> None:
    """With a PAT as github-token the comments are written by that user, not by
    github-actions[bot]: the follow-up must still find and edit the same comment."""
    stack, tmp = world
    pat, pat_user = "ghp_personal_token_for_the_test", "release-robot"
    stack.github.add_token(pat, pat_user)
    stack.github.add_issue(REPO, 40, title="Use a PAT")
    stack.use_scenario("wait_for_user")
    first = comment_case(stack, 40, "/devin propose a plan", inputs={"github-token": pat})
    run1 = execute(stack, tmp / "pat-1", first)
    assert run1.returncode == 0, run1.stderr
    second = comment_case(stack, 40, "/devin go ahead", inputs={"github-token": pat})
    run2 = execute(stack, tmp / "pat-2", second)
    assert run2.returncode == 0, run2.stderr
    assert run2.outputs["session-id"] == run1.outputs["session-id"]
    assert run2.outputs["comment-id"] == run1.outputs["comment-id"]
    mine = [
        c
        for c in stack.github.thread_comments(REPO, 40)
        if c["user"]["login"].lower() == pat_user and "devin-bridge:session=" in c["body"]
    ]
    assert len(mine) == 1
    stack.use_scenario("finish")
