"""GitHub App authentication: RS256 JWTs and cached installation tokens.

Plain `requests` with explicit timeouts (PyGithub stays inside github_api.py). One lock
guards the token cache, so concurrent callers wait for a single refresh instead of each
minting its own token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jwt
import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from bot.core.github_models import parse_timestamp
from bot.github.errors import GitHubAuthError, GitHubError, GitHubUnavailable, error_from_response

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
JWT_BACKDATE = 60  # GitHub: set iat 60 s in the past against clock drift
JWT_LIFETIME = 9 * 60  # GitHub allows at most 10 minutes
REFRESH_MARGIN = 5 * 60  # renew an installation token 5 minutes before it expires


@dataclass(frozen=True)
class _CachedToken:
    token: str
    expires_at: float  # epoch seconds

    def __repr__(self) -> str:
        return f"_CachedToken(expires_at={self.expires_at!r})"


class AppAuthProvider:
    """Mints installation tokens for one GitHub App and caches them per installation."""

    def __init__(
        self,
        app_id: int | str,
        private_key_pem: str,
        base_url: str = DEFAULT_API_URL,
        clock: Callable[[], float] = time.time,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.app_id = str(app_id).strip()
        if not self.app_id:
            raise GitHubAuthError("GITHUB_APP_ID is empty; set it to the App's numeric id")
        self.base_url = base_url.rstrip("/")
        self._key = _load_private_key(private_key_pem)
        self._clock = clock
        self._timeout = timeout
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._tokens: dict[int, _CachedToken] = {}
        self._installations: dict[str, int] = {}
        self._slug: str | None = None

    def __repr__(self) -> str:
        return f"AppAuthProvider(app_id={self.app_id!r}, base_url={self.base_url!r})"

    def jwt(self) -> str:
        """A fresh app JWT (RS256; iat now-60 s, exp now+9 min, iss app id)."""
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME, "iss": self.app_id}
        return jwt.encode(claims, self._key, algorithm="RS256")

    def token(self, installation_id: int) -> str:
        """An installation token valid for at least five more minutes."""
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached is not None and self._clock() < cached.expires_at - REFRESH_MARGIN:
                return cached.token
            fresh = self._mint(installation_id)
            self._tokens[installation_id] = fresh
            return fresh.token

    def invalidate(self, installation_id: int) -> None:
        """Forget a cached token (e.g. after GitHub answered 401 with it)."""
        with self._lock:
            self._tokens.pop(installation_id, None)

    def installation_for_repo(self, full_name: str) -> int:
        with self._lock:
            known = self._installations.get(full_name.lower())
        if known is not None:
            return known
        owner, _, repo = full_name.partition("/")
        data = self._call(
            "GET",
            f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/installation",
            action=f"looking up the App installation of {full_name}",
        )
        installation_id = data.get("id")
        if not isinstance(installation_id, int):
            raise GitHubError(f"GitHub sent no installation id for {full_name}")
        with self._lock:
            self._installations[full_name.lower()] = installation_id
        return installation_id

    def app_slug(self) -> str:
        with self._lock:
            if self._slug is not None:
                return self._slug
        data = self._call("GET", "/app", action="reading the App's own details")
        slug = data.get("slug")
        if not isinstance(slug, str) or not slug:
            raise GitHubError("GitHub sent no slug for the App (GET /app)")
        with self._lock:
            self._slug = slug
        return slug

    def app_details(self) -> dict[str, Any]:
        """`GET /app` with the App's JWT: its id, slug, name, owner and html_url."""
        data = self._call("GET", "/app", action="reading the App's own details")
        slug = data.get("slug")
        if isinstance(slug, str) and slug:
            with self._lock:
                self._slug = slug
        return data

    def installation_accounts(self) -> list[str]:
        """The accounts the App is installed on (`GET /app/installations`, first 100)."""
        items = self._call_list("/app/installations?per_page=100", action="listing installations")
        accounts = []
        for item in items:
            if not isinstance(item, dict):
                continue
            account = item.get("account")
            login = account.get("login") if isinstance(account, dict) else None
            accounts.append(str(login or item.get("id")))
        return accounts

    def _mint(self, installation_id: int) -> _CachedToken:
        data = self._call(
            "POST",
            f"/app/installations/{int(installation_id)}/access_tokens",
            action=f"creating a token for App installation {installation_id}",
        )
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise GitHubError("GitHub sent no installation token")
        expires = data.get("expires_at")
        expires_at = (
            parse_timestamp(expires).timestamp()
            if isinstance(expires, str)
            else self._clock() + 3600
        )
        return _CachedToken(token=token, expires_at=expires_at)

    def _call(self, method: str, path: str, *, action: str) -> dict[str, Any]:
        data = self._send(method, path, action=action)
        if not isinstance(data, dict):
            raise GitHubError(f"GitHub sent a malformed answer while {action}")
        return data

    def _call_list(self, path: str, *, action: str) -> list[Any]:
        data = self._send("GET", path, action=action)
        if not isinstance(data, list):
            raise GitHubError(f"GitHub sent a malformed answer while {action}")
        return data

    def _send(self, method: str, path: str, *, action: str) -> Any:
        headers = {
            "Authorization": f"Bearer {self.jwt()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "devin-bridge",
        }
        try:
            response = self._session.request(
                method, self.base_url + path, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise GitHubUnavailable(
                f"GitHub did not answer while {action} ({type(exc).__name__}); "
                "check GITHUB_API_URL and the network, then try again"
            ) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            message = data.get("message", "") if isinstance(data, dict) else ""
            raise error_from_response(
                response.status_code,
                {k.lower(): v for k, v in response.headers.items()},
                str(message),
                action=action,
                now=self._clock(),
            )
        return data


def _load_private_key(pem: str) -> RSAPrivateKey:
    text = pem.strip()
    if "\\n" in text and "\n" not in text:  # a PEM pasted into a one-line env var
        text = text.replace("\\n", "\n")
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, RSAPrivateKey):
        raise GitHubAuthError(
            "the GitHub App private key is not an unencrypted PEM RSA key; set "
            "GITHUB_APP_PRIVATE_KEY to the text of the .pem file GitHub generated"
        )
    return key
