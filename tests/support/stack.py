"""The whole outside world on loopback: the Devin emulator and the GitHub fake, with
real clients pointing at them.

    with running_stack() as stack:
        stack.github.add_issue(stack.repo, 7, title="Flaky test")
        comment = stack.github.add_comment(stack.repo, 7, "/devin fix it", user="alice")
        trigger = stack.comment_trigger(comment)
        outcome = handle(trigger, stack.deps())

`stack.emulator` and `stack.github` are the in-process state objects of the two
servers (seed and inspect them directly); `stack.devin_url` / `stack.github_url` are
their base URLs for code that runs in another process. Or use the `stack` fixture
from tests/support/fixtures.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.core.events import Ignored, Trigger, classify
from bot.devin.client import DevinClient, RetryPolicy
from bot.emulator.app import create_emulator_app
from bot.emulator.config import EmulatorConfig
from bot.emulator.state import Emulator
from bot.engine.handlers import Deps, RunOptions
from bot.github.client import GitHubClient
from tests.fakes.fake_github import Comment, FakeGitHub, ReviewComment, create_fake_github, iso
from tests.support.servers import ServerThread

REPO = "octo-org/octo-repo"
BOT_LOGIN = "devin-bridge[bot]"
GITHUB_TOKEN = "ghp_stack_bot_token"
_API = "https://api.github.com"


@dataclass
class Stack:
    """Both servers and what a test needs to build clients and triggers."""

    devin_url: str  # includes /v3, like DEVIN_API_URL
    github_url: str
    emulator: Emulator
    github: FakeGitHub
    devin_key: str
    org_id: str
    github_token: str = GITHUB_TOKEN
    bot_login: str = BOT_LOGIN
    repo: str = REPO
    _clients: list[GitHubClient] = field(default_factory=list, repr=False)

    # --- clients --------------------------------------------------------------------------

    def devin_client(self, *, attempts: int = 3) -> DevinClient:
        """A client that retries without sleeping (fast tests, same retry logic)."""
        return DevinClient(
            self.devin_key,
            self.org_id,
            self.devin_url,
            timeout=(2.0, 10.0),
            retry=RetryPolicy(attempts=attempts, base_delay=0.0, max_delay=0.0),
            sleep=lambda _: None,
        )

    def github_client(self) -> GitHubClient:
        client = GitHubClient.from_token(
            self.github_token, base_url=self.github_url, seconds_between_writes=0
        )
        self._clients.append(client)
        return client

    def deps(
        self,
        options: RunOptions | None = None,
        *,
        bot_login: str | None = BOT_LOGIN,
        clock: Callable[[], float] | None = None,
        **option_fields: Any,
    ) -> Deps:
        """Handler dependencies on real clients; `option_fields` build RunOptions."""
        opts = options or RunOptions(**option_fields)
        extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
        return Deps(
            devin=self.devin_client(),
            github=self.github_client(),
            options=opts,
            bot_login=bot_login,
            log=logging.getLogger("devin_bridge.tests"),
            **extra,
        )

    # --- seeding and inspection -----------------------------------------------------------

    def allow(self, login: str, role: str = "write", repo: str | None = None) -> None:
        self.github.set_permission(repo or self.repo, login, role)

    def use_scenario(self, name_or_spec: str | Mapping[str, Any]) -> None:
        """The scenario new sessions follow (see bot/emulator/scenarios.py)."""
        self.emulator.set_default_scenario(name_or_spec)

    def sessions(self) -> list[dict[str, Any]]:
        """Every session the emulator holds (debug view, with prompt and repos), oldest first."""
        hex_ids = [s.hex_id for s in self.emulator._order]
        return [self.emulator.session_debug(h) for h in hex_ids]

    def devin_requests(self, method: str | None = None, path: str | None = None) -> list[Any]:
        """The emulator's request log, optionally filtered by method and path regex (searched)."""
        return [
            r
            for r in self.emulator.requests()
            if (method is None or r["method"] == method.upper())
            and (path is None or re.search(path, r["path"]))
        ]

    def bot_comments(self, number: int, repo: str | None = None) -> list[dict[str, Any]]:
        """The bot's comments on a thread, oldest first."""
        return [
            c
            for c in self.github.thread_comments(repo or self.repo, number)
            if c["user"]["login"] == self.bot_login
        ]

    # --- webhook payloads built from the fake's state -------------------------------------

    def comment_payload(self, comment: Comment, action: str = "created") -> dict[str, Any]:
        fake = self.github
        with fake.lock:
            issue = fake.issues[(comment.repo.lower(), comment.number)]
            repo = fake.repos[comment.repo.lower()]
            payload: dict[str, Any] = {
                "action": action,
                "issue": fake.issue_json(issue, _API),
                "comment": fake.comment_json(comment, _API),
                "repository": fake.repo_json(repo, _API),
                "sender": fake.user_json(comment.user, _API),
            }
        if action == "edited" and len(comment.history) > 1:
            payload["changes"] = {"body": {"from": comment.history[-2]}}
        return payload

    def review_comment_payload(self, comment: ReviewComment) -> dict[str, Any]:
        fake = self.github
        with fake.lock:
            pull = fake.issues[(comment.repo.lower(), comment.number)]
            repo = fake.repos[comment.repo.lower()]
            html = f"{fake.web_url}/{comment.repo}/pull/{comment.number}"
            return {
                "action": "created",
                "comment": {
                    "id": comment.id,
                    "body": comment.body,
                    "path": comment.path,
                    "line": comment.line,
                    "side": comment.side,
                    "commit_id": comment.commit_id,
                    "diff_hunk": comment.diff_hunk,
                    "user": fake.user_json(comment.user, _API),
                    "html_url": f"{html}#discussion_r{comment.id}",
                    "created_at": iso(comment.created_at),
                    "updated_at": iso(comment.created_at),
                },
                "pull_request": fake.pull_json(pull, _API),
                "repository": fake.repo_json(repo, _API),
                "sender": fake.user_json(comment.user, _API),
            }

    def label_payload(
        self, number: int, label: str, sender: str = "alice", repo: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        fake = self.github
        name = repo or self.repo
        with fake.lock:
            issue = fake.issues[(name.lower(), number)]
            if label not in issue.labels:
                issue.labels.append(label)
            event = "pull_request" if issue.is_pull else "issues"
            item = fake.pull_json(issue, _API) if issue.is_pull else fake.issue_json(issue, _API)
            payload = {
                "action": "labeled",
                "number": number,
                "label": fake.label_json(name, label, _API),
                ("pull_request" if issue.is_pull else "issue"): item,
                "repository": fake.repo_json(fake.repos[name.lower()], _API),
                "sender": fake.user_json(sender, _API),
            }
        return event, payload

    def comment_trigger(self, comment: Comment, action: str = "created") -> Trigger:
        return _accepted(
            classify("issue_comment", self.comment_payload(comment, action), bot_login=BOT_LOGIN)
        )

    def review_trigger(self, comment: ReviewComment) -> Trigger:
        payload = self.review_comment_payload(comment)
        return _accepted(classify("pull_request_review_comment", payload, bot_login=BOT_LOGIN))

    def label_trigger(self, number: int, label: str, sender: str = "alice") -> Trigger:
        event, payload = self.label_payload(number, label, sender)
        return _accepted(classify(event, payload, bot_login=BOT_LOGIN))

    def prompt_trigger(
        self, prompt: str, number: int | None = None, sender: str = "alice"
    ) -> Trigger:
        fake = self.github
        with fake.lock:
            payload: dict[str, Any] = {
                "repository": fake.repo_json(fake._repo(self.repo), _API),
                "sender": fake.user_json(sender, _API),
            }
            if number is not None:
                payload["issue"] = fake.issue_json(fake.issues[(self.repo.lower(), number)], _API)
        event = "workflow_dispatch" if number is None else "issues"
        return _accepted(classify(event, payload, bot_login=BOT_LOGIN, prompt=prompt))

    def reset(self) -> None:
        """Forget all state of both servers (sessions, issues, comments, faults, logs)."""
        self.close()
        self.emulator.reset()
        self.github.reset()
        self.github.add_repo(self.repo)

    def close(self) -> None:
        """Close the clients this stack built."""
        for client in self._clients:
            client.close()
        self._clients.clear()


def _accepted(result: Trigger | Ignored) -> Trigger:
    if isinstance(result, Ignored):
        raise AssertionError(f"the event was ignored: {result.reason}")
    return result


@contextmanager
def running_stack(
    emulator_config: EmulatorConfig | None = None, *, repo: str = REPO
) -> Iterator[Stack]:
    """Start both servers on loopback; the bot's token belongs to `devin-bridge[bot]`."""
    config = emulator_config or EmulatorConfig()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
    emu_app = create_emulator_app(config)
    gh_app = create_fake_github(tokens={GITHUB_TOKEN: BOT_LOGIN})
    fake: FakeGitHub = gh_app.extensions["fake_github"]
    fake.user(BOT_LOGIN).type = "Bot"
    fake.add_repo(repo)
    with ExitStack() as servers:
        emu_srv = ServerThread(emu_app).start()
        servers.callback(emu_srv.stop)
        gh_srv = ServerThread(gh_app).start()
        servers.callback(gh_srv.stop)
        stack = Stack(
            devin_url=f"{emu_srv.url}/v3",
            github_url=gh_srv.url,
            emulator=emu_app.extensions["devin_emulator"],
            github=fake,
            devin_key=config.api_key,
            org_id=config.org_id,
            repo=repo,
        )
        servers.callback(stack.close)
        yield stack
