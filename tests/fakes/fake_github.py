"""A faithful fake of the GitHub REST API (the endpoints devin-bridge uses), as a Flask app.

    app = create_fake_github(tokens={"ghp_test": "octocat"})
    fake: FakeGitHub = app.extensions["fake_github"]
    fake.add_repo("octo-org/octo-repo")
    fake.add_issue("octo-org/octo-repo", 7, title="Flaky test")
    with serve(app) as srv: ...  # tests/support/servers.py

Tests seed and inspect `FakeGitHub` directly, or over HTTP under `/_fake/` when the code
under test runs in another process (see `_register_admin`). JSON shapes, status codes,
`Link` pagination, rate-limit headers, ETags and error bodies follow GitHub's REST docs.
The request log never stores credentials: only who they belong to.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, g, request

from tests.fakes.fake_checks import register_checks

DOCS = "https://docs.github.com/rest"
MAX_COMMENT = 65_536
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
ROLE_TO_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "{request_id}."
)
PRIMARY_MESSAGE = (
    "API rate limit exceeded for {who}. If you reach out to GitHub Support for help, "
    "please include the request ID {request_id}."
)
_NO_AUTH_PATH = re.compile(
    r"^/(organizations/[^/]+/)?settings/apps/new$|^/app-manifests/[^/]+/conversions$"
)
_JWT_PATH = re.compile(r"^/app(/.*)?$|^/repos/[^/]+/[^/]+/installation$")
# GitHub: "content-creating" requests, counted per identity for the secondary limits.
CONTENT_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def make_rsa_keypair() -> tuple[str, str]:
    """A fresh (private PEM, public PEM) pair for an App under test."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


# --- state --------------------------------------------------------------------------------


@dataclass
class User:
    login: str
    id: int
    type: str = "User"
    name: str | None = None


@dataclass
class Repo:
    full_name: str
    id: int
    owner: str
    default_branch: str = "main"
    private: bool = False
    fork: bool = False
    files: dict[tuple[str, str], str] = field(default_factory=dict)  # (ref, path) -> text
    roles: dict[str, str] = field(default_factory=dict)  # login.lower() -> role
    created_at: float = 0.0


@dataclass
class Issue:
    repo: str
    number: int
    id: int
    title: str
    body: str | None
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0
    closed_at: float | None = None
    is_pull: bool = False
    head_ref: str = ""
    head_sha: str = ""
    head_repo: str | None = None  # None: the fork was deleted
    base_ref: str = "main"
    base_sha: str = ""
    draft: bool = False
    merged: bool = False
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Comment:
    id: int
    repo: str
    number: int
    body: str
    user: str
    created_at: float
    updated_at: float
    author_association: str | None = None
    via_app: bool = False
    history: list[str] = field(default_factory=list)
    reactions: list[tuple[str, str, int, float]] = field(default_factory=list)  # user, content


@dataclass
class ReviewComment:
    id: int
    repo: str
    number: int
    body: str
    user: str
    path: str
    line: int
    side: str
    commit_id: str
    diff_hunk: str
    created_at: float
    reactions: list[tuple[str, str, int, float]] = field(default_factory=list)


@dataclass
class Installation:
    id: int
    account: str
    repos: set[str] | None = None  # lower-case full names; None = all repositories


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int | None = None
    times: int | None = 1  # None: forever
    delay: float = 0.0
    retry_after: float | None = None
    rate_limit: str | None = None  # "primary" | "secondary"
    reset_in: float = 3600.0
    body: Any = None
    hits: int = 0
    matching: re.Pattern[str] | None = None  # only requests whose body this finds


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int
    actor: str | None  # whom the credentials belong to; never the credential itself
    delivery: str | None  # X-GitHub-Delivery header, if sent
    at: float = 0.0  # when it was answered (the fake's clock)


@dataclass(frozen=True)
class Identity:
    kind: str  # "token" | "installation" | "jwt"
    login: str
    installation_id: int | None = None


class FakeGitHub:
    """All state of the fake. Thread-safe: the server handles requests on threads."""

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | Iterable[str] = ("ghp_test_token",),
        default_login: str = "octocat",
        clock: Callable[[], float] = time.time,
        web_url: str = "https://github.com",
        app_id: int | None = None,
        app_public_key: str | None = None,
        app_slug: str = "devin-bridge",
        token_lifetime: float = 3600.0,
        rate_limit: int = 5000,
        secondary_per_minute: int | None = None,
        secondary_per_hour: int | None = None,
        secondary_retry_after: float | None = 60.0,
    ) -> None:
        self.lock = threading.RLock()
        # Secondary limits on content writes per identity (None: counted, not enforced).
        self.secondary_per_minute = secondary_per_minute
        self.secondary_per_hour = secondary_per_hour
        self.secondary_retry_after = secondary_retry_after
        self.content_writes: dict[str, list[float]] = {}  # identity -> accepted write times
        self.secondary_limited: dict[str, int] = {}  # identity -> 403s answered
        self.clock = clock
        self.web_url = web_url.rstrip("/")
        self.default_login = default_login
        self.app_id = app_id
        self.app_public_key = app_public_key
        self.app_slug = app_slug
        self.token_lifetime = token_lifetime
        self.rate_limit = rate_limit
        self._ids: dict[str, int] = {}
        self.tokens: dict[str, str] = {}
        self.users: dict[str, User] = {}
        self.repos: dict[str, Repo] = {}
        self.issues: dict[tuple[str, int], Issue] = {}
        self.comments: dict[int, Comment] = {}
        self.review_comments: dict[int, ReviewComment] = {}
        self.installations: dict[int, Installation] = {}
        self.installation_tokens: dict[str, tuple[int, float]] = {}
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        # Check runs (see fake_checks.py): id -> the run as GitHub would answer it, and
        # the Actions-style tokens / installations lacking the `checks: write` permission.
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.checks_denied: set[str | int] = set()
        self.rate_used = 0
        self.rate_reset = clock() + 3600
        # X-OAuth-Scopes sent to classic tokens (None: fine-grained, no header).
        self.oauth_scopes: str | None = None
        # The manifest flow: code -> (manifest, created at); codes live one hour, once.
        self.manifest_codes: dict[str, tuple[dict[str, Any], float]] = {}
        self.apps_created: list[dict[str, Any]] = []
        pairs = (
            tokens.items() if isinstance(tokens, Mapping) else ((t, default_login) for t in tokens)
        )
        for token, login in pairs:
            self.add_token(token, login)

    # --- seeding ------------------------------------------------------------------------

    def _next_id(self, kind: str, start: int) -> int:
        with self.lock:
            self._ids[kind] = self._ids.get(kind, start) + 1
            return self._ids[kind]

    def add_user(self, login: str, type: str = "User", name: str | None = None) -> User:
        with self.lock:
            existing = self.users.get(login.lower())
            if existing is not None:
                existing.type, existing.name = type, name or existing.name
                return existing
            user = User(login=login, id=self._next_id("user", 1000), type=type, name=name)
            self.users[login.lower()] = user
            return user

    def user(self, login: str) -> User:
        """The user, created on first mention (a `[bot]` login becomes a Bot)."""
        with self.lock:
            found = self.users.get(login.lower())
            if found is not None:
                return found
            return self.add_user(login, "Bot" if login.endswith("[bot]") else "User")

    def add_token(self, token: str, login: str | None = None, type: str = "User") -> None:
        with self.lock:
            who = login or self.default_login
            if who.lower() not in self.users:
                self.add_user(who, type)
            self.tokens[token] = who

    def configure_app(
        self,
        app_id: int,
        public_key: str,
        slug: str = "devin-bridge",
        token_lifetime: float | None = None,
    ) -> None:
        with self.lock:
            self.app_id, self.app_public_key, self.app_slug = app_id, public_key, slug
            if token_lifetime is not None:
                self.token_lifetime = token_lifetime
            self.user(f"{slug}[bot]")

    def add_installation(
        self, id: int, account: str = "octo-org", repos: Iterable[str] | None = None
    ) -> Installation:
        with self.lock:
            inst = Installation(
                id=id,
                account=account,
                repos=None if repos is None else {r.lower() for r in repos},
            )
            self.installations[id] = inst
            return inst

    def add_repo(
        self,
        full_name: str,
        default_branch: str = "main",
        private: bool = False,
        installation_id: int | None = None,
        fork: bool = False,
        owner_type: str | None = None,
    ) -> Repo:
        owner = full_name.split("/", 1)[0]
        with self.lock:
            self.user(owner).type = owner_type or self.user(owner).type
            repo = Repo(
                full_name=full_name,
                id=self._next_id("repo", 100_000),
                owner=owner,
                default_branch=default_branch,
                private=private,
                fork=fork,
                created_at=self.clock() - 86_400,
            )
            self.repos[full_name.lower()] = repo
            if installation_id is not None:
                inst = self.installations.get(installation_id) or self.add_installation(
                    installation_id, owner, repos=[]
                )
                if inst.repos is not None:
                    inst.repos.add(full_name.lower())
            return repo

    def _repo(self, full_name: str) -> Repo:
        repo = self.repos.get(full_name.lower())
        return repo if repo is not None else self.add_repo(full_name)

    def add_issue(
        self,
        full_name: str,
        number: int,
        title: str = "An issue",
        body: str | None = "",
        user: str = "octocat",
        labels: Iterable[str] = (),
        state: str = "open",
    ) -> Issue:
        with self.lock:
            self._repo(full_name)
            self.user(user)
            now = self.clock()
            issue = Issue(
                repo=full_name,
                number=number,
                id=self._next_id("issue", 2_000_000),
                title=title,
                body=body,
                user=user,
                state=state,
                labels=list(labels),
                created_at=now,
                updated_at=now,
                closed_at=now if state == "closed" else None,
            )
            self.issues[(full_name.lower(), number)] = issue
            return issue

    def add_pull(
        self,
        full_name: str,
        number: int,
        title: str = "A pull request",
        body: str | None = "",
        user: str = "octocat",
        head_ref: str = "feature",
        base_ref: str = "main",
        head_repo: str | None = "",
        head_sha: str | None = None,
        draft: bool = False,
        merged: bool = False,
        state: str = "open",
        labels: Iterable[str] = (),
        files: Iterable[Mapping[str, Any] | str] = (),
    ) -> Issue:
        """A pull request. `head_repo=""` means same repository; None means a deleted fork."""
        with self.lock:
            issue = self.add_issue(full_name, number, title, body, user, labels, state)
            issue.is_pull = True
            issue.head_ref, issue.base_ref = head_ref, base_ref
            issue.head_repo = full_name if head_repo == "" else head_repo
            if issue.head_repo and issue.head_repo.lower() not in self.repos:
                self.add_repo(issue.head_repo, fork=issue.head_repo.lower() != full_name.lower())
            issue.head_sha = head_sha or hashlib.sha1(f"{full_name}#{number}".encode()).hexdigest()
            issue.base_sha = hashlib.sha1(f"{full_name}@{base_ref}".encode()).hexdigest()
            issue.draft, issue.merged = draft, merged
            if merged:
                issue.state, issue.closed_at = "closed", issue.created_at
            issue.files = [_file_entry(f) for f in files]
            return issue

    def add_comment(
        self,
        full_name: str,
        number: int,
        body: str,
        user: str = "octocat",
        created_at: float | str | None = None,
        author_association: str | None = None,
    ) -> Comment:
        with self.lock:
            if (full_name.lower(), number) not in self.issues:
                self.add_issue(full_name, number)
            self.user(user)
            ts = _timestamp(created_at, self.clock())
            comment = Comment(
                id=self._next_id("comment", 1_000_000_000),
                repo=full_name,
                number=number,
                body=body,
                user=user,
                created_at=ts,
                updated_at=ts,
                author_association=author_association,
                via_app=user.endswith("[bot]"),
                history=[body],
            )
            self.comments[comment.id] = comment
            return comment

    def add_review_comment(
        self,
        full_name: str,
        number: int,
        body: str,
        user: str = "octocat",
        path: str = "README.md",
        line: int = 1,
        side: str = "RIGHT",
        diff_hunk: str = "@@ -1 +1 @@\n-old\n+new",
    ) -> ReviewComment:
        with self.lock:
            if (full_name.lower(), number) not in self.issues:
                self.add_pull(full_name, number)
            pull = self.issues[(full_name.lower(), number)]
            self.user(user)
            comment = ReviewComment(
                id=self._next_id("review_comment", 700_000_000),
                repo=full_name,
                number=number,
                body=body,
                user=user,
                path=path,
                line=line,
                side=side,
                commit_id=pull.head_sha,
                diff_hunk=diff_hunk,
                created_at=self.clock(),
            )
            self.review_comments[comment.id] = comment
            return comment

    def set_permission(self, full_name: str, login: str, role: str) -> None:
        """role: admin, maintain, write, triage, read or none."""
        if role not in ROLE_TO_PERMISSION:
            raise ValueError(f"unknown role {role!r}")
        with self.lock:
            self.user(login)
            self._repo(full_name).roles[login.lower()] = role

    def add_file(self, full_name: str, path: str, content: str, ref: str | None = None) -> None:
        with self.lock:
            repo = self._repo(full_name)
            repo.files[(ref or repo.default_branch, path.strip("/"))] = content

    def add_fault(
        self,
        method: str,
        path: str,
        status: int | None = None,
        *,
        times: int | None = 1,
        delay: float = 0.0,
        retry_after: float | None = None,
        rate_limit: str | None = None,
        reset_in: float = 3600.0,
        body: Any = None,
        matching: str | None = None,
    ) -> Fault:
        """Answer requests whose method and path (regex, searched) match with `status`.

        rate_limit="secondary": 403 with GitHub's secondary-limit message (add retry_after
        to send Retry-After); "primary": 403 with x-ratelimit-remaining 0 and a reset
        `reset_in` seconds ahead. status 429 alone is a plain 429. `delay` sleeps first
        (with status None the request then proceeds normally). `matching`: a regex the
        request body must contain (e.g. a comment edit that shows "finished").
        """
        if rate_limit and status is None:
            status = 403
        fault = Fault(
            method=method.upper(),
            path=re.compile(path),
            status=status,
            times=times,
            delay=delay,
            retry_after=retry_after,
            rate_limit=rate_limit,
            reset_in=reset_in,
            body=body,
            matching=re.compile(matching) if matching else None,
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def set_rate_limit(
        self, remaining: int | None = None, limit: int | None = None, reset_in: float | None = None
    ) -> None:
        with self.lock:
            if limit is not None:
                self.rate_limit = limit
            if remaining is not None:
                self.rate_used = max(self.rate_limit - remaining, 0)
            if reset_in is not None:
                self.rate_reset = self.clock() + reset_in

    def set_secondary_limits(
        self,
        per_minute: int | None = None,
        per_hour: int | None = None,
        retry_after: float | None = 60.0,
    ) -> None:
        """Answer content writes (POST/PATCH/PUT/DELETE) above `per_minute` in any 60 s
        or `per_hour` in any hour of one identity with GitHub's secondary-limit 403
        (Retry-After `retry_after`, or none when None). None: no limit."""
        with self.lock:
            self.secondary_per_minute = per_minute
            self.secondary_per_hour = per_hour
            self.secondary_retry_after = retry_after

    def admit_content_write(self, identity: str) -> bool:
        """Count one content write of `identity` now; False when a limit refuses it."""
        with self.lock:
            now = self.clock()
            times = self.content_writes.setdefault(identity, [])
            for window, limit in (
                (60.0, self.secondary_per_minute),
                (3600.0, self.secondary_per_hour),
            ):
                if limit is not None and sum(1 for t in times if t > now - window) >= limit:
                    self.secondary_limited[identity] = self.secondary_limited.get(identity, 0) + 1
                    return False
            times.append(now)
            return True

    def write_stats(self) -> dict[str, Any]:
        """Per identity: content writes accepted, the most in any 60 s and in any hour,
        and secondary-limit 403s answered."""
        with self.lock:
            identities = sorted(set(self.content_writes) | set(self.secondary_limited))
            return {
                ident: {
                    "writes": len(self.content_writes.get(ident, [])),
                    "max_per_minute": _most_within(self.content_writes.get(ident, []), 60.0),
                    "max_per_hour": _most_within(self.content_writes.get(ident, []), 3600.0),
                    "secondary_limited": self.secondary_limited.get(ident, 0),
                }
                for ident in identities
            }

    def reset(self) -> None:
        """Forget repositories, comments, faults and the log (tokens and App stay)."""
        with self.lock:
            self.content_writes.clear()
            self.secondary_limited.clear()
            self.repos.clear()
            self.issues.clear()
            self.comments.clear()
            self.review_comments.clear()
            self.check_runs.clear()
            self.faults.clear()
            self.log.clear()
            self.rate_used = 0
            self.oauth_scopes = None
            self.manifest_codes.clear()

    # --- inspection ---------------------------------------------------------------------

    def thread_comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        """The thread's comments as GitHub would return them, oldest first."""
        with self.lock:
            return [
                self.comment_json(c, "https://api.github.com")
                for c in self._thread(full_name, number)
            ]

    def comment_history(self, comment_id: int) -> list[str]:
        """Every body the comment has had, the original first."""
        with self.lock:
            comment = self.comments.get(comment_id)
            return list(comment.history) if comment else []

    def reactions(self, comment_id: int, review_comment: bool = False) -> list[dict[str, str]]:
        with self.lock:
            store: Mapping[int, Comment | ReviewComment] = (
                self.review_comments if review_comment else self.comments
            )
            target = store.get(comment_id)
            if target is None:
                return []
            return [{"user": r[0], "content": r[1]} for r in target.reactions]

    def requests(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Logged API requests, optionally filtered by method and path regex (searched)."""
        with self.lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method.upper())
                and (path is None or re.search(path, r.path))
            ]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    # --- auth ---------------------------------------------------------------------------

    def identify(self, header: str | None) -> tuple[Identity | None, str]:
        """Who the Authorization header belongs to, or None and GitHub's 401 message."""
        if not header:
            return None, "Requires authentication"
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() not in ("token", "bearer") or not credential:
            return None, "Bad credentials"
        with self.lock:
            if credential in self.tokens:
                return Identity("token", self.tokens[credential]), ""
            issued = self.installation_tokens.get(credential)
            if issued is not None:
                installation_id, expires_at = issued
                if self.clock() < expires_at:
                    return Identity("installation", f"{self.app_slug}[bot]", installation_id), ""
                return None, "Bad credentials"
        if credential.count(".") == 2 and self.app_public_key:
            problem = self._jwt_problem(credential)
            if problem:
                return None, problem
            return Identity("jwt", self.app_slug), ""
        return None, "Bad credentials"

    def _jwt_problem(self, token: str) -> str | None:
        undecodable = "A JSON web token could not be decoded"
        try:
            if jwt.get_unverified_header(token).get("alg") != "RS256":
                return undecodable
            claims = jwt.decode(
                token,
                self.app_public_key or "",
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iat", "exp", "iss"],
                },
            )
        except jwt.PyJWTError:
            return undecodable
        now = self.clock()
        if str(claims["iss"]) != str(self.app_id):
            return "Integration not found"
        if not isinstance(claims["iat"], int) or claims["iat"] > now + 60:
            return (
                "'Issued at' claim ('iat') must be an Integer representing the time that "
                "the assertion was issued"
            )
        if not isinstance(claims["exp"], int) or claims["exp"] <= now:
            return (
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires"
            )
        if claims["exp"] > now + 600:
            return "'Expiration time' claim ('exp') is too far in the future"
        return None

    def mint_installation_token(self, installation_id: int) -> tuple[str, float]:
        with self.lock:
            token = "ghs_" + secrets.token_urlsafe(27)[:36]
            expires_at = self.clock() + self.token_lifetime
            self.installation_tokens[token] = (installation_id, expires_at)
            return token, expires_at

    def can_see(self, ident: Identity, repo: Repo) -> bool:
        if ident.kind != "installation":
            return (
                not repo.private
                or repo.roles.get(ident.login.lower(), "none") != "none"
                or (repo.owner.lower() == ident.login.lower())
            )
        inst = self.installations.get(ident.installation_id or -1)
        return inst is not None and (inst.repos is None or repo.full_name.lower() in inst.repos)

    def role_of(self, repo: Repo, login: str) -> str:
        if login.lower() == repo.owner.lower() and self.user(login).type == "User":
            return "admin"
        role = repo.roles.get(login.lower())
        if role is not None:
            return role
        return "none" if repo.private else "read"

    def association(self, repo: Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        if self.user(login).type == "Bot":
            return "NONE"
        if repo.roles.get(login.lower(), "none") != "none":
            return "COLLABORATOR"
        return "NONE"

    # --- rendering ----------------------------------------------------------------------

    def _thread(self, full_name: str, number: int) -> list[Comment]:
        return sorted(
            (
                c
                for c in self.comments.values()
                if c.repo.lower() == full_name.lower() and c.number == number
            ),
            key=lambda c: (c.created_at, c.id),
        )

    def user_json(self, login: str, api: str) -> dict[str, Any]:
        user = self.user(login)
        if user.type == "Bot":
            slug = login.removesuffix("[bot]")
            html, avatar = (
                f"{self.web_url}/apps/{slug}",
                f"https://avatars.githubusercontent.com/in/{user.id}?v=4",
            )
        else:
            html, avatar = (
                f"{self.web_url}/{login}",
                f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
            )
        base = f"{api}/users/{login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": _node_id("Bot" if user.type == "Bot" else "User", user.id),
            "avatar_url": avatar,
            "gravatar_id": "",
            "url": base,
            "html_url": html,
            "followers_url": f"{base}/followers",
            "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}",
            "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions",
            "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def full_user_json(self, login: str, api: str) -> dict[str, Any]:
        user = self.user(login)
        data = self.user_json(login, api)
        data.update(
            name=user.name,
            company=None,
            blog="",
            location=None,
            email=None,
            hireable=None,
            bio=None,
            twitter_username=None,
            public_repos=1,
            public_gists=0,
            followers=0,
            following=0,
            created_at="2011-01-25T18:44:36Z",
            updated_at="2026-01-01T00:00:00Z",
        )
        return data

    def app_json(self) -> dict[str, Any]:
        app_id = self.app_id or 1
        return {
            "id": app_id,
            "client_id": f"Iv1.{app_id:016x}",
            "slug": self.app_slug,
            "node_id": _node_id("App", app_id),
            "owner": self.user_json("octo-org", "https://api.github.com"),
            "name": self.app_slug.replace("-", " ").title(),
            "description": "Hands issues and pull requests to Devin",
            "external_url": "https://example.com",
            "html_url": f"{self.web_url}/apps/{self.app_slug}",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "permissions": {
                "contents": "read",
                "issues": "write",
                "metadata": "read",
                "pull_requests": "write",
            },
            "events": ["issue_comment", "issues", "pull_request", "pull_request_review_comment"],
            "installations_count": len(self.installations),
        }

    def repo_json(self, repo: Repo, api: str, ident: Identity | None = None) -> dict[str, Any]:
        base = f"{api}/repos/{repo.full_name}"
        html = f"{self.web_url}/{repo.full_name}"
        data: dict[str, Any] = {
            "id": repo.id,
            "node_id": _node_id("Repository", repo.id),
            "name": repo.full_name.split("/", 1)[1],
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self.user_json(repo.owner, api),
            "html_url": html,
            "description": None,
            "fork": repo.fork,
            "url": base,
            "issues_url": f"{base}/issues{{/number}}",
            "pulls_url": f"{base}/pulls{{/number}}",
            "contents_url": f"{base}/contents/{{+path}}",
            "issue_comment_url": f"{base}/issues/comments{{/number}}",
            "collaborators_url": f"{base}/collaborators{{/collaborator}}",
            "git_url": f"git://github.com/{repo.full_name}.git",
            "ssh_url": f"git@github.com:{repo.full_name}.git",
            "clone_url": f"{html}.git",
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.created_at),
            "pushed_at": iso(repo.created_at),
            "homepage": None,
            "size": 108,
            "language": "Python",
            "has_issues": True,
            "archived": False,
            "disabled": False,
            "visibility": "private" if repo.private else "public",
            "default_branch": repo.default_branch,
            "open_issues_count": sum(1 for i in self.issues.values() if i.repo == repo.full_name),
            "topics": [],
            "is_template": False,
        }
        if ident is not None and ident.kind == "token":
            role = self.role_of(repo, ident.login)
            data["permissions"] = {
                "admin": role == "admin",
                "maintain": role in ("admin", "maintain"),
                "push": role in ("admin", "maintain", "write"),
                "triage": role in ("admin", "maintain", "write", "triage"),
                "pull": role != "none",
            }
        return data

    def label_json(self, repo: str, name: str, api: str) -> dict[str, Any]:
        number = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
        return {
            "id": number,
            "node_id": _node_id("Label", number),
            "url": f"{api}/repos/{repo}/labels/{name}",
            "name": name,
            "color": "5319e7",
            "default": False,
            "description": None,
        }

    def issue_json(self, issue: Issue, api: str) -> dict[str, Any]:
        repo = self._repo(issue.repo)
        base = f"{api}/repos/{issue.repo}/issues/{issue.number}"
        kind = "pull" if issue.is_pull else "issues"
        data: dict[str, Any] = {
            "url": base,
            "repository_url": f"{api}/repos/{issue.repo}",
            "labels_url": f"{base}/labels{{/name}}",
            "comments_url": f"{base}/comments",
            "events_url": f"{base}/events",
            "html_url": f"{self.web_url}/{issue.repo}/{kind}/{issue.number}",
            "id": issue.id,
            "node_id": _node_id("PullRequest" if issue.is_pull else "Issue", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.user_json(issue.user, api),
            "labels": [self.label_json(issue.repo, n, api) for n in issue.labels],
            "state": issue.state,
            "state_reason": "completed" if issue.state == "closed" else None,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(self._thread(issue.repo, issue.number)),
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at) if issue.closed_at else None,
            "author_association": self.association(repo, issue.user),
            "type": None,
            "active_lock_reason": None,
            "body": issue.body,
            "closed_by": None,
            "reactions": _reaction_summary(f"{base}/reactions", []),
            "timeline_url": f"{base}/timeline",
            "performed_via_github_app": None,
        }
        if issue.is_pull:
            data["draft"] = issue.draft
            data["pull_request"] = {
                "url": f"{api}/repos/{issue.repo}/pulls/{issue.number}",
                "html_url": data["html_url"],
                "diff_url": f"{data['html_url']}.diff",
                "patch_url": f"{data['html_url']}.patch",
                "merged_at": iso(issue.closed_at or issue.created_at) if issue.merged else None,
            }
        return data

    def _branch_json(self, full_name: str | None, ref: str, sha: str, api: str) -> dict[str, Any]:
        owner = (full_name or "ghost/deleted").split("/", 1)[0]
        repo = self.repos.get(full_name.lower()) if full_name else None
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user_json(owner, api),
            "repo": self.repo_json(repo, api) if repo is not None else None,
        }

    def pull_json(self, issue: Issue, api: str) -> dict[str, Any]:
        base = f"{api}/repos/{issue.repo}/pulls/{issue.number}"
        shared = self.issue_json(issue, api)
        merged_at = shared["pull_request"]["merged_at"]
        return {
            "url": base,
            "id": issue.id + 1_000_000_000,
            "node_id": _node_id("PullRequest", issue.id),
            "html_url": shared["html_url"],
            "diff_url": f"{shared['html_url']}.diff",
            "patch_url": f"{shared['html_url']}.patch",
            "issue_url": shared["url"],
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "user": shared["user"],
            "body": issue.body,
            "labels": shared["labels"],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": shared["created_at"],
            "updated_at": shared["updated_at"],
            "closed_at": shared["closed_at"],
            "merged_at": merged_at,
            "merge_commit_sha": hashlib.sha1(f"merge{issue.id}".encode()).hexdigest(),
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._branch_json(issue.head_repo, issue.head_ref, issue.head_sha, api),
            "base": self._branch_json(issue.repo, issue.base_ref, issue.base_sha, api),
            "commits_url": f"{base}/commits",
            "review_comments_url": f"{base}/comments",
            "review_comment_url": f"{api}/repos/{issue.repo}/pulls/comments{{/number}}",
            "comments_url": shared["comments_url"],
            "statuses_url": f"{api}/repos/{issue.repo}/statuses/{issue.head_sha}",
            "author_association": shared["author_association"],
            "auto_merge": None,
            "draft": issue.draft,
            "merged": issue.merged,
            "mergeable": None if issue.merged else True,
            "rebaseable": None if issue.merged else True,
            "mergeable_state": "unknown" if issue.merged else "clean",
            "merged_by": self.user_json(issue.user, api) if issue.merged else None,
            "comments": shared["comments"],
            "review_comments": sum(
                1
                for c in self.review_comments.values()
                if c.repo.lower() == issue.repo.lower() and c.number == issue.number
            ),
            "maintainer_can_modify": False,
            "commits": 1,
            "additions": sum(f["additions"] for f in issue.files),
            "deletions": sum(f["deletions"] for f in issue.files),
            "changed_files": len(issue.files),
        }

    def comment_json(self, comment: Comment, api: str) -> dict[str, Any]:
        repo = self._repo(comment.repo)
        issue = self.issues.get((comment.repo.lower(), comment.number))
        kind = "pull" if issue is not None and issue.is_pull else "issues"
        base = f"{api}/repos/{comment.repo}/issues/comments/{comment.id}"
        return {
            "url": base,
            "html_url": f"{self.web_url}/{comment.repo}/{kind}/{comment.number}"
            f"#issuecomment-{comment.id}",
            "issue_url": f"{api}/repos/{comment.repo}/issues/{comment.number}",
            "id": comment.id,
            "node_id": _node_id("IssueComment", comment.id),
            "user": self.user_json(comment.user, api),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": comment.author_association
            or self.association(repo, comment.user),
            "body": comment.body,
            "reactions": _reaction_summary(f"{base}/reactions", comment.reactions),
            "performed_via_github_app": self.app_json() if comment.via_app else None,
        }

    def reaction_json(self, reaction: tuple[str, str, int, float], api: str) -> dict[str, Any]:
        user, content, reaction_id, created = reaction
        return {
            "id": reaction_id,
            "node_id": _node_id("Reaction", reaction_id),
            "user": self.user_json(user, api),
            "content": content,
            "created_at": iso(created),
        }


def _most_within(times: list[float], window: float) -> int:
    """The largest number of `times` (ascending) inside any half-open window."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _write_identity(ident: Identity) -> str:
    if ident.kind == "installation":
        return f"installation:{ident.installation_id}"
    return f"{ident.kind}:{ident.login}"


def _timestamp(value: float | str | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, str):
        parsed = _parse_iso(value)
        return default if parsed is None else parsed
    return float(value)


def _file_entry(entry: Mapping[str, Any] | str) -> dict[str, Any]:
    data = {"filename": entry} if isinstance(entry, str) else dict(entry)
    data.setdefault("status", "modified")
    data.setdefault("additions", 1)
    data.setdefault("deletions", 0)
    return data


def _reaction_summary(url: str, reactions: list[tuple[str, str, int, float]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"url": url, "total_count": len(reactions)}
    for name in REACTIONS:
        summary[name] = sum(1 for r in reactions if r[1] == name)
    return summary


# --- HTTP ---------------------------------------------------------------------------------


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(data), status=status, mimetype="application/json", headers=dict(headers or {})
    )
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response


def _error(status: int, message: str, doc: str = "", **extra: Any) -> Response:
    body = {"message": message, **extra, "documentation_url": f"{DOCS}{doc}", "status": str(status)}
    return _json(body, status)


def _not_found() -> Response:
    return _error(404, "Not Found")


def _api_base() -> str:
    return request.host_url.rstrip("/")


def _paginate(items: list[Any]) -> Response:
    try:
        per_page = min(max(int(request.args.get("per_page", 30)), 1), 100)
    except ValueError:
        per_page = 30
    try:
        page = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        page = 1
    last = max(math.ceil(len(items) / per_page), 1)
    chunk = items[(page - 1) * per_page : page * per_page]

    def link(target: int, rel: str) -> str:
        query = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
        query.update(per_page=str(per_page), page=str(target))
        return f'<{request.base_url}?{urlencode(query)}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(page - 1, "prev"))
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links.append(link(1, "first"))
    response = _json(chunk)
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


def create_fake_github(state: FakeGitHub | None = None, **options: Any) -> Flask:
    """The fake's WSGI app; `options` go to FakeGitHub when no `state` is given."""
    fake = state or FakeGitHub(**options)
    app = Flask("fake_github")
    app.extensions["fake_github"] = fake
    _register_gate(app, fake)
    _register_api(app, fake)
    register_checks(app, fake)
    _register_admin(app, fake)
    return app


def _register_gate(app: Flask, fake: FakeGitHub) -> None:
    @app.before_request
    def gate() -> Response | None:
        g.request_id = f"{secrets.token_hex(2).upper()}:{secrets.token_hex(3).upper()}"
        g.identity = None
        if request.path.startswith("/_fake/"):
            return None
        if _NO_AUTH_PATH.match(request.path):
            return None  # the manifest flow: a browser form and an unauthenticated POST
        ident, problem = fake.identify(request.headers.get("Authorization"))
        g.identity = ident  # for the log; cleared below when it may not call this path
        fault = _take_fault(fake, request.method, request.path, request.get_data(as_text=True))
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            return _fault_response(fake, fault)
        g.identity = None
        needs_jwt = bool(_JWT_PATH.match(request.path))
        if ident is None:
            return _error(401, problem, "")
        if needs_jwt != (ident.kind == "jwt"):
            if needs_jwt:
                return _error(
                    401,
                    "A JSON web token could not be decoded",
                    "/apps/apps#get-the-authenticated-app",
                )
            return _error(401, "Bad credentials")
        g.identity = ident
        if request.method in CONTENT_WRITES and not fake.admit_content_write(
            _write_identity(ident)
        ):
            headers = {}
            if fake.secondary_retry_after is not None:
                headers["Retry-After"] = str(int(fake.secondary_retry_after))
            return _json(
                {
                    "message": SECONDARY_MESSAGE.format(request_id=g.request_id),
                    "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api"
                    "#about-secondary-rate-limits",
                },
                403,
                headers,
            )
        if request.path == "/rate_limit":
            return None
        with fake.lock:
            if fake.clock() >= fake.rate_reset:
                fake.rate_used, fake.rate_reset = 0, fake.clock() + 3600
            if fake.rate_used >= fake.rate_limit:
                who = (
                    f"installation ID {ident.installation_id}"
                    if ident.kind == "installation"
                    else f"user ID {fake.user(ident.login).id}"
                )
                return _error(
                    403,
                    PRIMARY_MESSAGE.format(who=who, request_id=g.request_id),
                    "/overview/rate-limits-for-the-rest-api",
                )
            fake.rate_used += 1
        return None

    @app.after_request
    def finish(response: Response) -> Response:
        if request.path.startswith("/_fake/"):
            return response
        if (
            request.method == "GET"
            and response.status_code == 200
            and response.mimetype == "application/json"
        ):
            etag = 'W/"' + hashlib.sha256(response.get_data()).hexdigest()[:40] + '"'
            response.headers["ETag"] = etag
            if request.headers.get("If-None-Match") == etag:
                response = Response(status=304, headers={"ETag": etag})
                if g.identity is not None:
                    with fake.lock:  # GitHub: a 304 does not count against the limit
                        fake.rate_used = max(fake.rate_used - 1, 0)
        with fake.lock:
            headers = {
                "x-ratelimit-limit": str(fake.rate_limit),
                "x-ratelimit-remaining": str(max(fake.rate_limit - fake.rate_used, 0)),
                "x-ratelimit-reset": str(int(fake.rate_reset)),
                "x-ratelimit-used": str(fake.rate_used),
                "x-ratelimit-resource": "core",
            }
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("x-github-request-id", g.request_id)
        response.headers.setdefault("x-github-media-type", "github.v3; format=json")
        response.headers.setdefault("x-github-api-version-selected", "2022-11-28")
        if g.identity is not None and g.identity.kind == "token" and fake.oauth_scopes is not None:
            response.headers["X-OAuth-Scopes"] = fake.oauth_scopes
        ident = g.identity
        body = request.get_json(silent=True) if request.data else None
        entry = LoggedRequest(
            method=request.method,
            path=request.path,
            query={k: v for k, v in request.args.items()},
            json=body,
            status=response.status_code,
            actor=ident.login if ident is not None else None,
            delivery=request.headers.get("X-GitHub-Delivery"),
            at=fake.clock(),
        )
        with fake.lock:
            fake.log.append(entry)
        return response

    @app.errorhandler(404)
    def unknown_route(_: Exception) -> Response:
        return _not_found()

    @app.errorhandler(405)
    def wrong_method(_: Exception) -> Response:
        return _not_found()


def _take_fault(fake: FakeGitHub, method: str, path: str, body: str = "") -> Fault | None:
    with fake.lock:
        for fault in fake.faults:
            if fault.method not in ("*", method.upper()) or not fault.path.search(path):
                continue
            if fault.matching is not None and not fault.matching.search(body):
                continue
            if fault.times is not None and fault.hits >= fault.times:
                continue
            fault.hits += 1
            return fault
    return None


def _fault_response(fake: FakeGitHub, fault: Fault) -> Response:
    status = fault.status or 500
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(int(fault.retry_after))
    if fault.rate_limit == "secondary":
        body: Any = {
            "message": SECONDARY_MESSAGE.format(request_id=g.request_id),
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api"
            "#about-secondary-rate-limits",
        }
    elif fault.rate_limit == "primary":
        reset = int(fake.clock() + fault.reset_in)
        headers.update(
            {
                "x-ratelimit-limit": str(fake.rate_limit),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": str(fake.rate_limit),
                "x-ratelimit-reset": str(reset),
            }
        )
        body = {
            "message": PRIMARY_MESSAGE.format(who="user ID 1", request_id=g.request_id),
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
        }
    elif status == 429:
        body = {"message": "Too Many Requests", "documentation_url": DOCS}
    elif status >= 500:
        body = None  # GitHub's edge answers 502/503 with an HTML page, not JSON
    else:
        body = {"message": "Fault injected", "documentation_url": DOCS}
    if fault.body is not None:
        body = fault.body
    if body is None:
        return Response(
            "<html><body><h1>Server Error</h1></body></html>",
            status=status,
            mimetype="text/html",
            headers=headers,
        )
    return _json(body, status, headers)


def _register_api(app: Flask, fake: FakeGitHub) -> None:
    def repo_or_404(owner: str, name: str) -> Repo | Response:
        repo = fake.repos.get(f"{owner}/{name}".lower())
        if repo is None or g.identity is None or not fake.can_see(g.identity, repo):
            return _not_found()
        return repo

    def issue_or_404(owner: str, name: str, number: int) -> Issue | Response:
        repo = repo_or_404(owner, name)
        if isinstance(repo, Response):
            return repo
        issue = fake.issues.get((repo.full_name.lower(), number))
        return issue if issue is not None else _not_found()

    def comment_body(doc: str) -> str | Response:
        payload = request.get_json(silent=True)
        body = payload.get("body") if isinstance(payload, dict) else None
        if not isinstance(body, str):
            return _error(422, 'Invalid request.\n\n"body" wasn\'t supplied.', doc)
        if len(body) > MAX_COMMENT:
            return _error(
                422,
                "Validation Failed",
                doc,
                errors=[
                    {
                        "resource": "IssueComment",
                        "code": "unprocessable",
                        "field": "data",
                        "message": f"Body is too long (maximum is {MAX_COMMENT} characters)",
                    }
                ],
            )
        return body

    def actor_login() -> str:
        ident: Identity = g.identity
        return ident.login

    @app.get("/repos/<owner>/<name>")
    def get_repo(owner: str, name: str) -> Response:
        with fake.lock:
            repo = repo_or_404(owner, name)
            if isinstance(repo, Response):
                return repo
            return _json(fake.repo_json(repo, _api_base(), g.identity))

    @app.get("/repos/<owner>/<name>/contents/")
    @app.get("/repos/<owner>/<name>/contents/<path:path>")
    def get_contents(owner: str, name: str, path: str = "") -> Response:
        with fake.lock:
            repo = repo_or_404(owner, name)
            if isinstance(repo, Response):
                return repo
            ref = request.args.get("ref") or repo.default_branch
            refs = {r for r, _ in repo.files} | {repo.default_branch}
            if ref not in refs:
                return _error(404, f"No commit found for the ref {ref}", "/repos/contents")
            path = path.strip("/")
            api = _api_base()
            text = repo.files.get((ref, path))
            if text is not None:
                return _json(_content_json(repo, path, ref, text, api, fake.web_url))
            prefix = f"{path}/" if path else ""
            children = sorted(
                {
                    p[len(prefix) :].split("/", 1)[0]
                    for r, p in repo.files
                    if r == ref and p.startswith(prefix)
                }
            )
            if not children:
                return _error(404, "Not Found", "/repos/contents#get-repository-content")
            entries = []
            for child in children:
                child_path = f"{prefix}{child}"
                child_text = repo.files.get((ref, child_path))
                entry = _content_json(repo, child_path, ref, child_text or "", api, fake.web_url)
                del entry["content"], entry["encoding"]
                if child_text is None:
                    entry.update(type="dir", size=0, download_url=None)
                entries.append(entry)
            return _json(entries)

    @app.get("/repos/<owner>/<name>/collaborators/<login>/permission")
    def get_permission(owner: str, name: str, login: str) -> Response:
        with fake.lock:
            repo = repo_or_404(owner, name)
            if isinstance(repo, Response):
                return repo
            user = fake.users.get(login.lower())
            if user is None:
                return _not_found()
            if user.type == "Bot":
                return _error(
                    404,
                    f"{login} is not a user",
                    "/collaborators/collaborators#get-repository-permissions-for-a-user",
                )
            role = fake.role_of(repo, login)
            api = _api_base()
            collaborator = fake.user_json(login, api)
            collaborator["permissions"] = {
                "admin": role == "admin",
                "maintain": role in ("admin", "maintain"),
                "push": role in ("admin", "maintain", "write"),
                "triage": role in ("admin", "maintain", "write", "triage"),
                "pull": role != "none",
            }
            collaborator["role_name"] = role
            return _json(
                {
                    "permission": ROLE_TO_PERMISSION[role],
                    "role_name": role,
                    "user": collaborator,
                }
            )

    @app.get("/users/<login>")
    def get_user(login: str) -> Response:
        with fake.lock:
            if login.lower() not in fake.users:
                return _not_found()
            return _json(fake.full_user_json(login, _api_base()))

    @app.get("/user")
    def get_authenticated_user() -> Response:
        ident: Identity = g.identity
        with fake.lock:
            user = fake.users.get(ident.login.lower())
        # Installation tokens, GITHUB_TOKEN included, act as a Bot and cannot read /user.
        if ident.kind != "token" or (user is not None and user.type == "Bot"):
            return _error(
                403,
                "Resource not accessible by integration",
                "/users/users#get-the-authenticated-user",
            )
        with fake.lock:
            return _json(fake.full_user_json(ident.login, _api_base()))

    @app.get("/app")
    def get_app() -> Response:
        with fake.lock:
            return _json(fake.app_json())

    @app.get("/app/installations")
    def list_installations() -> Response:
        with fake.lock:
            found = sorted(fake.installations.values(), key=lambda i: i.id)
            return _paginate([_installation_json(fake, i, _api_base()) for i in found])

    _register_manifest_flow(app, fake)

    @app.get("/repos/<owner>/<name>/installation")
    def get_installation(owner: str, name: str) -> Response:
        full_name = f"{owner}/{name}".lower()
        with fake.lock:
            for inst in fake.installations.values():
                if full_name in fake.repos and (inst.repos is None or full_name in inst.repos):
                    return _json(_installation_json(fake, inst, _api_base()))
        return _error(
            404, "Not Found", "/apps/apps#get-a-repository-installation-for-the-authenticated-app"
        )

    @app.post("/app/installations/<int:installation_id>/access_tokens")
    def create_access_token(installation_id: int) -> Response:
        with fake.lock:
            inst = fake.installations.get(installation_id)
            if inst is None:
                return _error(
                    404,
                    "Not Found",
                    "/apps/apps#create-an-installation-access-token-for-an-app",
                )
            token, expires_at = fake.mint_installation_token(installation_id)
            api = _api_base()
            repos = [] if inst.repos is None else sorted(inst.repos)
            body: dict[str, Any] = {
                "token": token,
                "expires_at": iso(expires_at),
                "permissions": fake.app_json()["permissions"],
                "repository_selection": "all" if inst.repos is None else "selected",
            }
            if repos:
                body["repositories"] = [
                    fake.repo_json(fake.repos[r], api) for r in repos if r in fake.repos
                ]
            return _json(body, 201)

    @app.get("/repos/<owner>/<name>/issues/<int:number>")
    def get_issue(owner: str, name: str, number: int) -> Response:
        with fake.lock:
            issue = issue_or_404(owner, name, number)
            if isinstance(issue, Response):
                return issue
            return _json(fake.issue_json(issue, _api_base()))

    @app.get("/repos/<owner>/<name>/issues/<int:number>/comments")
    def list_comments(owner: str, name: str, number: int) -> Response:
        with fake.lock:
            issue = issue_or_404(owner, name, number)
            if isinstance(issue, Response):
                return issue
            comments = fake._thread(issue.repo, number)
            since = request.args.get("since")
            if since:
                cutoff = _parse_iso(since)
                if cutoff is None:
                    return _error(422, "Invalid request.\n\nInvalid since.", "/issues/comments")
                comments = [c for c in comments if c.updated_at >= cutoff]
            api = _api_base()
            return _paginate([fake.comment_json(c, api) for c in comments])

    @app.post("/repos/<owner>/<name>/issues/<int:number>/comments")
    def create_comment(owner: str, name: str, number: int) -> Response:
        doc = "/issues/comments#create-an-issue-comment"
        body = comment_body(doc)
        if isinstance(body, Response):
            return body
        with fake.lock:
            issue = issue_or_404(owner, name, number)
            if isinstance(issue, Response):
                return issue
            comment = fake.add_comment(issue.repo, number, body, user=actor_login())
            comment.via_app = g.identity.kind == "installation"
            issue.updated_at = comment.created_at
            data = fake.comment_json(comment, _api_base())
            return _json(data, 201, {"Location": data["url"]})

    def comment_or_404(owner: str, name: str, comment_id: int) -> Comment | Response:
        repo = repo_or_404(owner, name)
        if isinstance(repo, Response):
            return repo
        comment = fake.comments.get(comment_id)
        if comment is None or comment.repo.lower() != repo.full_name.lower():
            return _not_found()
        return comment

    @app.get("/repos/<owner>/<name>/issues/comments/<int:comment_id>")
    def get_comment(owner: str, name: str, comment_id: int) -> Response:
        with fake.lock:
            comment = comment_or_404(owner, name, comment_id)
            if isinstance(comment, Response):
                return comment
            return _json(fake.comment_json(comment, _api_base()))

    @app.patch("/repos/<owner>/<name>/issues/comments/<int:comment_id>")
    def edit_comment(owner: str, name: str, comment_id: int) -> Response:
        body = comment_body("/issues/comments#update-an-issue-comment")
        if isinstance(body, Response):
            return body
        with fake.lock:
            comment = comment_or_404(owner, name, comment_id)
            if isinstance(comment, Response):
                return comment
            comment.body = body
            comment.updated_at = max(fake.clock(), comment.created_at)
            comment.history.append(body)
            return _json(fake.comment_json(comment, _api_base()))

    @app.delete("/repos/<owner>/<name>/issues/comments/<int:comment_id>")
    def delete_comment(owner: str, name: str, comment_id: int) -> Response:
        with fake.lock:
            comment = comment_or_404(owner, name, comment_id)
            if isinstance(comment, Response):
                return comment
            del fake.comments[comment_id]
            return Response(status=204)

    def react(target: Comment | ReviewComment) -> Response:
        payload = request.get_json(silent=True)
        content = payload.get("content") if isinstance(payload, dict) else None
        if content not in REACTIONS:
            return _error(
                422,
                "Validation Failed",
                "/reactions/reactions",
                errors=[{"resource": "Reaction", "code": "invalid", "field": "content"}],
            )
        login = actor_login()
        api = _api_base()
        for existing in target.reactions:
            if existing[0] == login and existing[1] == content:
                return _json(fake.reaction_json(existing, api), 200)
        reaction = (login, str(content), fake._next_id("reaction", 5_000_000), fake.clock())
        target.reactions.append(reaction)
        return _json(fake.reaction_json(reaction, api), 201)

    @app.post("/repos/<owner>/<name>/issues/comments/<int:comment_id>/reactions")
    def react_issue_comment(owner: str, name: str, comment_id: int) -> Response:
        with fake.lock:
            comment = comment_or_404(owner, name, comment_id)
            if isinstance(comment, Response):
                return comment
            return react(comment)

    @app.post("/repos/<owner>/<name>/pulls/comments/<int:comment_id>/reactions")
    def react_review_comment(owner: str, name: str, comment_id: int) -> Response:
        with fake.lock:
            repo = repo_or_404(owner, name)
            if isinstance(repo, Response):
                return repo
            comment = fake.review_comments.get(comment_id)
            if comment is None or comment.repo.lower() != repo.full_name.lower():
                return _not_found()
            return react(comment)

    @app.get("/repos/<owner>/<name>/pulls/<int:number>")
    def get_pull(owner: str, name: str, number: int) -> Response:
        with fake.lock:
            issue = issue_or_404(owner, name, number)
            if isinstance(issue, Response):
                return issue
            if not issue.is_pull:
                return _not_found()
            return _json(fake.pull_json(issue, _api_base()))

    @app.get("/repos/<owner>/<name>/pulls/<int:number>/files")
    def list_pull_files(owner: str, name: str, number: int) -> Response:
        with fake.lock:
            issue = issue_or_404(owner, name, number)
            if isinstance(issue, Response):
                return issue
            if not issue.is_pull:
                return _not_found()
            api = _api_base()
            files = []
            for entry in issue.files[:3000]:  # GitHub lists at most 3,000 files
                sha = hashlib.sha1(str(entry["filename"]).encode()).hexdigest()
                files.append(
                    {
                        "sha": sha,
                        "filename": entry["filename"],
                        "status": entry["status"],
                        "additions": entry["additions"],
                        "deletions": entry["deletions"],
                        "changes": entry["additions"] + entry["deletions"],
                        "blob_url": f"{fake.web_url}/{issue.repo}/blob/{issue.head_sha}/"
                        f"{entry['filename']}",
                        "raw_url": f"{fake.web_url}/{issue.repo}/raw/{issue.head_sha}/"
                        f"{entry['filename']}",
                        "contents_url": f"{api}/repos/{issue.repo}/contents/"
                        f"{entry['filename']}?ref={issue.head_sha}",
                        "patch": entry.get("patch", "@@ -1 +1 @@\n-old\n+new"),
                    }
                )
            return _paginate(files)

    @app.get("/rate_limit")
    def rate_limit() -> Response:
        with fake.lock:
            core = {
                "limit": fake.rate_limit,
                "remaining": max(fake.rate_limit - fake.rate_used, 0),
                "reset": int(fake.rate_reset),
                "used": fake.rate_used,
                "resource": "core",
            }
        reset = int(fake.clock()) + 60
        search = {"limit": 30, "remaining": 30, "reset": reset, "used": 0, "resource": "search"}
        graphql = {
            "limit": 5000,
            "remaining": 5000,
            "reset": reset + 3540,
            "used": 0,
            "resource": "graphql",
        }
        return _json(
            {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}
        )


def _content_json(repo: Repo, path: str, ref: str, text: str, api: str, web: str) -> dict[str, Any]:
    raw = text.encode()
    sha = hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()
    encoded = base64.b64encode(raw).decode()
    url = f"{api}/repos/{repo.full_name}/contents/{path}?ref={ref}"
    html = f"{web}/{repo.full_name}/blob/{ref}/{path}"
    git = f"{api}/repos/{repo.full_name}/git/blobs/{sha}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(raw),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        # GitHub wraps the base64 text at 60 characters
        "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
        "sha": sha,
        "url": url,
        "git_url": git,
        "html_url": html,
        "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
        "_links": {"self": url, "git": git, "html": html},
    }


def _installation_json(fake: FakeGitHub, inst: Installation, api: str) -> dict[str, Any]:
    return {
        "id": inst.id,
        "account": fake.user_json(inst.account, api),
        "repository_selection": "all" if inst.repos is None else "selected",
        "access_tokens_url": f"{api}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{fake.web_url}/organizations/{inst.account}/settings/installations/{inst.id}",
        "app_id": fake.app_id,
        "app_slug": fake.app_slug,
        "target_id": fake.user(inst.account).id,
        "target_type": fake.user(inst.account).type,
        "permissions": fake.app_json()["permissions"],
        "events": fake.app_json()["events"],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "single_file_name": None,
        "suspended_at": None,
        "suspended_by": None,
    }


# --- registering an App from a manifest (github.com web form + REST conversion) -----------

MANIFEST_CODE_TTL = 3600.0


def _register_manifest_flow(app: Flask, fake: FakeGitHub) -> None:
    """`POST /settings/apps/new` (or `/organizations/ORG/settings/apps/new`) is the web
    form a browser posts the manifest to; GitHub answers with a redirect to the
    manifest's `redirect_url` with `code` and `state`. The code converts once, within an
    hour, at `POST /app-manifests/{code}/conversions` (no authentication)."""

    @app.post("/settings/apps/new")
    @app.post("/organizations/<org>/settings/apps/new")
    def new_app(org: str | None = None) -> Response:
        try:
            manifest = json.loads(request.form.get("manifest") or "")
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or not manifest.get("url"):
            return Response("Invalid GitHub App configuration", status=422)
        redirect = manifest.get("redirect_url")
        hook = manifest.get("hook_attributes") or {}
        if not isinstance(redirect, str) or (
            hook and hook.get("active", True) and not hook.get("url")
        ):
            return Response("Invalid GitHub App configuration", status=422)
        code = secrets.token_hex(10)
        with fake.lock:
            fake.manifest_codes[code] = ({**manifest, "_owner": org or "octocat"}, fake.clock())
        query = {"code": code}
        if request.form.get("state"):
            query["state"] = request.form["state"]
        sep = "&" if "?" in redirect else "?"
        return Response(status=302, headers={"Location": f"{redirect}{sep}{urlencode(query)}"})

    @app.post("/app-manifests/<code>/conversions")
    def convert(code: str) -> Response:
        with fake.lock:
            found = fake.manifest_codes.pop(code, None)
            if found is None or fake.clock() - found[1] > MANIFEST_CODE_TTL:
                return _error(404, "Not Found", "/apps/apps#create-a-github-app-from-a-manifest")
            manifest = found[0]
            hook_set = bool(manifest.get("hook_attributes"))
            private, public = make_rsa_keypair()
            app_id = fake._next_id("app", 900_000)
            name = str(manifest.get("name") or f"app-{app_id}")
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            fake.configure_app(app_id, public, slug=slug)
            body = {
                "id": app_id,
                "slug": slug,
                "node_id": _node_id("App", app_id),
                "owner": fake.user_json(manifest["_owner"], _api_base()),
                "name": name,
                "description": manifest.get("description"),
                "external_url": manifest.get("url"),
                "html_url": f"{fake.web_url}/apps/{slug}",
                "created_at": iso(fake.clock()),
                "updated_at": iso(fake.clock()),
                "permissions": manifest.get("default_permissions") or {},
                "events": manifest.get("default_events") or [],
                "client_id": f"Iv23li{secrets.token_hex(7)}",
                "client_secret": secrets.token_hex(20),
                # No webhook, no secret (as GitHub answers).
                "webhook_secret": secrets.token_hex(20) if hook_set else None,
                "pem": private,
            }
            fake.apps_created.append({**body, "manifest": manifest})
        return _json(body, 201)


# --- admin endpoints (for code under test in another process) -----------------------------

_SEEDERS: dict[str, str] = {
    "users": "add_user",
    "tokens": "add_token",
    "app": "configure_app",
    "installations": "add_installation",
    "repos": "add_repo",
    "issues": "add_issue",
    "pulls": "add_pull",
    "comments": "add_comment",
    "review_comments": "add_review_comment",
    "collaborators": "set_permission",
    "files": "add_file",
    "faults": "add_fault",
    "rate_limit": "set_rate_limit",
    "secondary_limits": "set_secondary_limits",
}


def _register_admin(app: Flask, fake: FakeGitHub) -> None:
    """POST /_fake/<kind> with the seeding method's keyword arguments as JSON.

    kinds: users, tokens, app, installations, repos, issues, pulls, comments,
    review_comments, collaborators (full_name, login, role), files, faults, rate_limit,
    secondary_limits (per_minute, per_hour, retry_after). Also: GET /_fake/write_stats,
    POST /_fake/reset, DELETE /_fake/faults, GET|DELETE /_fake/requests,
    GET /_fake/comments?repo=&number=, GET /_fake/comments/<id>/history,
    GET /_fake/comments/<id>/reactions[?review=1].
    """

    @app.post("/_fake/<kind>")
    def seed(kind: str) -> Response:
        if kind == "reset":
            fake.reset()
            return _json({"ok": True})
        method = _SEEDERS.get(kind)
        payload = request.get_json(silent=True)
        if method is None or not isinstance(payload, dict):
            return _json({"error": f"unknown kind {kind!r} or body not a JSON object"}, 400)
        try:
            result = getattr(fake, method)(**payload)
        except (TypeError, ValueError, re.error) as exc:
            return _json({"error": str(exc)}, 400)
        if isinstance(result, Fault):
            return _json({"ok": True}, 201)
        summary: Any = {"ok": True}
        if result is not None and hasattr(result, "__dataclass_fields__"):
            summary = {k: v for k, v in asdict(result).items() if _jsonable(v)}
        return _json(summary, 201)

    @app.get("/_fake/write_stats")
    def write_stats() -> Response:
        return _json(fake.write_stats())

    @app.delete("/_fake/faults")
    def clear_faults() -> Response:
        fake.clear_faults()
        return _json({"ok": True})

    @app.get("/_fake/requests")
    def list_requests() -> Response:
        found = fake.requests(request.args.get("method"), request.args.get("path"))
        return _json([asdict(r) for r in found])

    @app.delete("/_fake/requests")
    def clear_requests() -> Response:
        fake.clear_log()
        return _json({"ok": True})

    @app.get("/_fake/comments")
    def thread() -> Response:
        try:
            number = int(request.args.get("number", ""))
        except ValueError:
            return _json({"error": "number must be an integer"}, 400)
        return _json(fake.thread_comments(request.args.get("repo", ""), number))

    @app.get("/_fake/comments/<int:comment_id>/history")
    def history(comment_id: int) -> Response:
        return _json(fake.comment_history(comment_id))

    @app.get("/_fake/comments/<int:comment_id>/reactions")
    def reactions(comment_id: int) -> Response:
        review = request.args.get("review") in ("1", "true")
        return _json(fake.reactions(comment_id, review_comment=review))


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True
