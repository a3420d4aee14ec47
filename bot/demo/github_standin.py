"""A small local stand-in for the GitHub REST API, for `devin-bridge demo`.

It serves one repository with one issue, and exactly the endpoints the service uses to
answer a `/devin` comment (the token's user, the repository config file, the
commenter's permission, the issue, its comments, a reaction, creating and editing the
status comment), with GitHub's JSON shapes, status codes and error bodies. Every edit of
a comment is kept, so the demo can show each version. The test suite has a far fuller
fake (tests/fakes/fake_github.py); this one is only what the demo needs, and it ships.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request

DOCS = "https://docs.github.com/rest"
WEB = "https://github.com"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StandinComment:
    id: int
    number: int
    user: str
    body: str
    created_at: float
    versions: list[str] = field(default_factory=list)  # every body it had, oldest first


@dataclass
class GitHubStandin:
    """The state behind the app: one repository, its issues, comments and roles."""

    repo: str
    token: str
    bot_login: str
    roles: dict[str, str] = field(default_factory=dict)  # login -> admin|write|read
    issues: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # title, body, author
    comments: dict[int, StandinComment] = field(default_factory=dict)
    reactions: list[tuple[int, str, str]] = field(default_factory=list)  # comment, user, content
    changed: threading.Condition = field(default_factory=threading.Condition)
    _next_id: int = 1_000_000_001

    def add_issue(self, number: int, title: str, body: str, author: str) -> None:
        with self.changed:
            self.issues[number] = (title, body, author)

    def add_comment(self, number: int, body: str, user: str) -> StandinComment:
        with self.changed:
            comment = StandinComment(self._next_id, number, user, body, time.time(), [body])
            self._next_id += 1
            self.comments[comment.id] = comment
            self.changed.notify_all()
            return comment

    def edit_comment(self, comment_id: int, body: str) -> StandinComment:
        with self.changed:
            comment = self.comments[comment_id]
            comment.body = body
            comment.versions.append(body)
            self.changed.notify_all()
            return comment

    def bot_comments(self) -> list[StandinComment]:
        with self.changed:
            return [c for c in self.comments.values() if c.user == self.bot_login]

    # --- JSON shapes (the fields GitHub sends that a client may read) -------------------

    def user_json(self, login: str) -> dict[str, Any]:
        bot = login.endswith("[bot]")
        return {
            "login": login,
            "id": abs(hash(login)) % 10_000_000,
            "type": "Bot" if bot else "User",
            "html_url": f"{WEB}/apps/{login.removesuffix('[bot]')}" if bot else f"{WEB}/{login}",
            "site_admin": False,
        }

    def repo_json(self, api: str) -> dict[str, Any]:
        owner, name = self.repo.split("/", 1)
        return {
            "id": 1296269,
            "name": name,
            "full_name": self.repo,
            "owner": self.user_json(owner),
            "private": False,
            "html_url": f"{WEB}/{self.repo}",
            "url": f"{api}/repos/{self.repo}",
            "default_branch": "main",
            "fork": False,
            "visibility": "public",
        }

    def issue_json(self, number: int, api: str) -> dict[str, Any]:
        title, body, author = self.issues[number]
        return {
            "id": 1000 + number,
            "number": number,
            "title": title,
            "body": body,
            "user": self.user_json(author),
            "labels": [],
            "state": "open",
            "locked": False,
            "comments": sum(1 for c in self.comments.values() if c.number == number),
            "url": f"{api}/repos/{self.repo}/issues/{number}",
            "html_url": f"{WEB}/{self.repo}/issues/{number}",
            "author_association": self.association(author),
            "created_at": _iso(time.time() - 3600),
            "updated_at": _iso(time.time()),
        }

    def comment_json(self, comment: StandinComment, api: str) -> dict[str, Any]:
        return {
            "id": comment.id,
            "body": comment.body,
            "user": self.user_json(comment.user),
            "url": f"{api}/repos/{self.repo}/issues/comments/{comment.id}",
            "html_url": f"{WEB}/{self.repo}/issues/{comment.number}#issuecomment-{comment.id}",
            "issue_url": f"{api}/repos/{self.repo}/issues/{comment.number}",
            "created_at": _iso(comment.created_at),
            "updated_at": _iso(time.time()),
            "author_association": self.association(comment.user),
            "performed_via_github_app": None,
        }

    def association(self, login: str) -> str:
        role = self.roles.get(login.lower(), "none")
        return "OWNER" if role == "admin" else "COLLABORATOR" if role == "write" else "NONE"

    def comment_payload(self, comment: StandinComment, api: str) -> dict[str, Any]:
        """The `issue_comment` webhook GitHub would send for this new comment."""
        with self.changed:
            return {
                "action": "created",
                "issue": self.issue_json(comment.number, api),
                "comment": self.comment_json(comment, api),
                "repository": self.repo_json(api),
                "sender": self.user_json(comment.user),
            }


def _error(status: int, message: str) -> Response:
    response = jsonify({"message": message, "documentation_url": DOCS})
    response.status_code = status
    return response


def create_standin_app(state: GitHubStandin) -> Flask:
    app = Flask("devin_bridge_github_standin")
    app.extensions["github_standin"] = state

    def api() -> str:
        return request.host_url.rstrip("/")

    def actor() -> str | None:
        scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip() == state.token:
            return state.bot_login
        return None

    def repo_ok(owner: str, name: str) -> bool:
        return f"{owner}/{name}".lower() == state.repo.lower()

    @app.before_request
    def authenticate() -> Response | None:
        if actor() is None:
            return _error(401, "Bad credentials")
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        response.headers["X-RateLimit-Limit"] = "5000"
        response.headers["X-RateLimit-Remaining"] = "4999"
        response.headers["X-RateLimit-Reset"] = str(int(time.time()) + 3600)
        return response

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return _error(404, "Not Found")

    @app.errorhandler(405)
    def wrong_method(_: Exception) -> Response:
        return _error(404, "Not Found")

    @app.get("/user")
    def user() -> Response:
        response = jsonify(state.user_json(state.bot_login))
        response.headers["X-OAuth-Scopes"] = "repo"
        return response

    @app.get("/repos/<owner>/<name>")
    def repo(owner: str, name: str) -> Response:
        if not repo_ok(owner, name):
            return _error(404, "Not Found")
        return jsonify(state.repo_json(api()))

    @app.get("/repos/<owner>/<name>/contents/<path:path>")
    def contents(owner: str, name: str, path: str) -> Response:
        return _error(404, "Not Found")  # no .github/devin.yml: the defaults apply

    @app.get("/repos/<owner>/<name>/collaborators/<login>/permission")
    def permission(owner: str, name: str, login: str) -> Response:
        if not repo_ok(owner, name):
            return _error(404, "Not Found")
        role = state.roles.get(login.lower(), "none")
        if role == "none":
            return _error(404, f"{login} is not a user")
        body = {"permission": role, "role_name": role, "user": state.user_json(login)}
        return jsonify(body)

    @app.get("/repos/<owner>/<name>/issues/<int:number>")
    def issue(owner: str, name: str, number: int) -> Response:
        with state.changed:
            if not repo_ok(owner, name) or number not in state.issues:
                return _error(404, "Not Found")
            return jsonify(state.issue_json(number, api()))

    @app.route("/repos/<owner>/<name>/issues/<int:number>/comments", methods=["GET", "POST"])
    def comments(owner: str, name: str, number: int) -> Response:
        if not repo_ok(owner, name) or number not in state.issues:
            return _error(404, "Not Found")
        if request.method == "GET":
            with state.changed:
                found = [c for c in state.comments.values() if c.number == number]
                return jsonify([state.comment_json(c, api()) for c in found])
        body = (request.get_json(silent=True) or {}).get("body")
        if not isinstance(body, str) or not body:
            return _error(422, "Validation Failed")
        created = state.add_comment(number, body, state.bot_login)
        response = jsonify(state.comment_json(created, api()))
        response.status_code = 201
        return response

    @app.route("/repos/<owner>/<name>/issues/comments/<int:comment_id>", methods=["GET", "PATCH"])
    def comment(owner: str, name: str, comment_id: int) -> Response:
        if not repo_ok(owner, name) or comment_id not in state.comments:
            return _error(404, "Not Found")
        if request.method == "GET":
            return jsonify(state.comment_json(state.comments[comment_id], api()))
        body = (request.get_json(silent=True) or {}).get("body")
        if not isinstance(body, str) or not body:
            return _error(422, "Validation Failed")
        return jsonify(state.comment_json(state.edit_comment(comment_id, body), api()))

    @app.post("/repos/<owner>/<name>/issues/comments/<int:comment_id>/reactions")
    def react(owner: str, name: str, comment_id: int) -> Response:
        if not repo_ok(owner, name) or comment_id not in state.comments:
            return _error(404, "Not Found")
        content = str((request.get_json(silent=True) or {}).get("content") or "")
        with state.changed:
            state.reactions.append((comment_id, state.bot_login, content))
        response = jsonify({"id": len(state.reactions), "content": content})
        response.status_code = 201
        return response

    return app
