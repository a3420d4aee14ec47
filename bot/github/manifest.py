"""Registering the bridge's GitHub App from a manifest (GitHub's "Registering a GitHub App
from a manifest"): the manifest with exactly the permissions and events the bridge
needs, where the browser posts it, and the conversion of the returned code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from bot.github.auth import API_VERSION, DEFAULT_API_URL
from bot.github.errors import GitHubError, GitHubNotFound, GitHubUnavailable

DEFAULT_WEB_URL = "https://github.com"
HOMEPAGE = "https://devin.ai"
# The bridge reads threads and config, comments and reacts, and keeps the "Devin" check
# run on pull requests up to date; nothing more.
PERMISSIONS = {
    "issues": "write",
    "pull_requests": "write",
    "checks": "write",
    "contents": "read",
    "metadata": "read",
}
EVENTS = ["issue_comment", "issues", "pull_request", "pull_request_review_comment"]
TIMEOUT_S = 15.0


@dataclass(frozen=True)
class NewApp:
    """What the conversion answers: the App, its private key and its webhook secret."""

    id: int
    slug: str
    name: str
    html_url: str
    owner: str
    pem: str = field(repr=False)
    webhook_secret: str = field(repr=False)

    @property
    def install_url(self) -> str:
        return f"{self.html_url.rstrip('/')}/installations/new"

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


def urls_from_env(github_url: str, github_api_url: str) -> tuple[str, str]:
    """(web, API) bases. GitHub Enterprise Server: GITHUB_URL=https://ghes.example.com
    alone gives its API at /api/v3; both may be set explicitly."""
    web = (github_url or DEFAULT_WEB_URL).rstrip("/")
    if github_api_url:
        return web, github_api_url.rstrip("/")
    if web == DEFAULT_WEB_URL:
        return web, DEFAULT_API_URL
    return web, f"{web}/api/v3"


def form_action(web_url: str, org: str | None) -> str:
    """Where the browser posts the manifest: the user's or an organisation's settings."""
    if org:
        return f"{web_url}/organizations/{quote(org, safe='')}/settings/apps/new"
    return f"{web_url}/settings/apps/new"


def build_manifest(*, name: str, webhook_url: str | None, redirect_url: str) -> dict[str, Any]:
    """The manifest. Without a webhook URL the App has no webhook yet: set its URL and
    secret later in the App's settings."""
    manifest: dict[str, Any] = {
        "name": name,
        "url": HOMEPAGE,
        "description": "Hands issues and pull requests to Devin: /devin comments and labels.",
        "redirect_url": redirect_url,
        "public": False,
        "default_permissions": dict(PERMISSIONS),
        "default_events": list(EVENTS),
    }
    if webhook_url:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--webhook-url {webhook_url!r} is not an http(s) URL")
        manifest["hook_attributes"] = {"url": webhook_url, "active": True}
    return manifest


def convert(api_url: str, code: str, *, session: requests.Session | None = None) -> NewApp:
    """`POST /app-manifests/{code}/conversions` (no authentication; the code is the proof)."""
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "devin-bridge",
    }
    try:
        response = (session or requests).post(url, headers=headers, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise GitHubUnavailable(
            f"GitHub did not answer the manifest conversion ({type(exc).__name__}); "
            "check GITHUB_API_URL and the network"
        ) from None
    if response.status_code == 404:
        raise GitHubNotFound(
            "GitHub does not know this manifest code (it works once, within an hour); "
            "run devin-bridge app create again",
            404,
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 201 or not isinstance(data, dict):
        raise GitHubError(
            f"GitHub refused the manifest conversion (HTTP {response.status_code})",
            response.status_code,
        )
    try:
        owner = data.get("owner") or {}
        return NewApp(
            id=int(data["id"]),
            slug=str(data["slug"]),
            name=str(data.get("name") or data["slug"]),
            html_url=str(data["html_url"]),
            owner=str(owner.get("login") or "") if isinstance(owner, dict) else "",
            pem=str(data["pem"]),
            webhook_secret=str(data.get("webhook_secret") or ""),
        )
    except (KeyError, TypeError, ValueError):
        raise GitHubError("GitHub sent a malformed answer to the manifest conversion") from None
