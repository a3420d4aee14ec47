"""Plumbing of the Devin API client: one ``requests.Session``, explicit
connect/read timeouts on every call, retries with exponential backoff and jitter
where they are safe, error mapping, and the key kept out of every message."""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from bot import __version__
from bot.core.parsing import Page
from bot.devin.errors import (
    DevinConfigError,
    DevinError,
    DevinRateLimited,
    DevinServerError,
    DevinUnavailable,
    DevinValidationError,
    error_for_status,
)

DEFAULT_API_URL = "https://api.devin.ai/v3"
# The base ends in the API version (/v3, /v3beta1); without it every path is wrong and
# the API's 404s would blame the session or organisation id instead.
_VERSIONED_PATH = re.compile(r"/v\d+(?:beta\d+)?$")

RetryMode = Literal["idempotent", "rate_limit", "none"]
# Observer for metrics: (method, route template, HTTP status or None, seconds).
RequestObserver = Callable[[str, str, int | None, float], None]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    # A Retry-After longer than this is not slept through: the caller decides.
    max_retry_after: float = 60.0


class DevinTransport:
    """Authenticated, retrying HTTP access to one Devin API base URL and org."""

    def __init__(
        self,
        api_key: str,
        org_id: str | None = None,
        base_url: str = DEFAULT_API_URL,
        *,
        http: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        observer: RequestObserver | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise DevinConfigError(
                "DEVIN_API_KEY is not set: create a service user in Devin "
                "(Settings → Service users) and pass its cog_ key"
            )
        base = base_url.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DevinConfigError(
                f"DEVIN_API_URL {base_url!r} is not an http(s) URL; "
                "use e.g. https://api.devin.ai/v3"
            )
        if not _VERSIONED_PATH.search(parts.path):
            raise DevinConfigError(
                f"DEVIN_API_URL {base_url!r} has no API version at its end; "
                f"use {base}/v3 (e.g. https://api.devin.ai/v3)"
            )
        self._key = api_key.strip()
        self.org_id = org_id.strip() if org_id and org_id.strip() else None
        self.base_url = base
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._http = http or requests.Session()
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._jitter = jitter
        self._observer = observer

    def __repr__(self) -> str:
        return f"DevinClient(base_url={self.base_url!r}, org_id={self.org_id!r}, api_key='***')"

    @property
    def api_host(self) -> str:
        return urlsplit(self.base_url).netloc

    # -- plumbing ---------------------------------------------------------

    def _org_path(self, suffix: str) -> str:
        if not self.org_id:
            raise DevinConfigError(
                "DEVIN_ORG_ID is not set: find it in Devin under Settings → Devin API "
                "(or Service users) and set it"
            )
        return f"/organizations/{self.org_id}{suffix}"

    def _auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def _backoff(self, attempt: int) -> float:
        delay = min(self._retry.max_delay, self._retry.base_delay * (2**attempt))
        return float(delay * (0.5 + self._jitter() / 2))

    def _paginate(
        self,
        path: str,
        params: Mapping[str, Any],
        parse: Callable[[Any], Any],
        first: int,
        what: str,
    ) -> Iterator[Any]:
        after: str | None = None
        seen: set[str] = set()
        while True:
            query = dict(params)
            query["first"] = max(1, min(200, first))
            if after:
                query["after"] = after
            page = Page.from_api(self._request("GET", path, params=query, what=what), parse)
            yield from page.items
            if not page.has_next_page or not page.end_cursor or page.end_cursor in seen:
                return
            seen.add(page.end_cursor)
            after = page.end_cursor

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        retry: RetryMode | None = None,
    ) -> Any:
        mode: RetryMode = retry or ("idempotent" if method != "POST" else "rate_limit")
        url = self.base_url + path
        headers = {
            **self._auth_header(),
            "Accept": "application/json",
            "User-Agent": f"devin-bridge/{__version__}",
        }
        attempts = self._retry.attempts if mode != "none" else 1
        for attempt in range(attempts):
            last_try = attempt == attempts - 1
            started = time.monotonic()
            try:
                resp = self._http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    files=files,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as err:
                self._observe(method, path, None, started)
                kind = "timed out" if isinstance(err, requests.Timeout) else "could not connect"
                failure = DevinUnavailable(
                    f"Devin API at {self.api_host} {kind} for {what}; "
                    "check DEVIN_API_URL and the network, then try again"
                )
                if mode == "idempotent" and not last_try:
                    self._sleep(self._backoff(attempt))
                    continue
                raise failure from None
            self._observe(method, path, resp.status_code, started)
            if resp.status_code < 300:
                return _json_or_none(resp, what)
            body = _error_body(resp, self._key)
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            error = error_for_status(resp.status_code, body, what=what, retry_after=retry_after)
            self._scrub(error)
            if last_try or mode == "none":
                raise error
            if isinstance(error, DevinRateLimited):
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                if wait > self._retry.max_retry_after:
                    raise error
                self._sleep(wait)
                continue
            if isinstance(error, DevinServerError) and mode == "idempotent":
                self._sleep(self._backoff(attempt))
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _observe(self, method: str, path: str, status: int | None, started: float) -> None:
        if self._observer is not None:
            self._observer(method, _route_of(path), status, time.monotonic() - started)

    def _scrub(self, error: DevinError) -> None:
        # A server that echoes the Authorization header must not leak the key.
        if self._key in error.message or self._key in error.detail:
            error.message = error.message.replace(self._key, "***")
            error.detail = error.detail.replace(self._key, "***")
            error.args = (error.message,)


def path_segment(value: str, what: str) -> str:
    v = value.strip()
    # "." and ".." would be resolved as path segments and hit another endpoint.
    if not v or v in (".", "..") or "/" in v or "?" in v or "#" in v:
        raise DevinValidationError(f"not a valid {what}: {value!r}")
    return v


def _route_of(path: str) -> str:
    """A low-cardinality route label for metrics (ids replaced)."""
    out = []
    for part in path.split("/"):
        if part.startswith(("org-", "devin-", "note-", "playbook-", "sched-", "secret-")) or (
            len(part) >= 16 and any(c.isdigit() for c in part)
        ):
            out.append("{id}")
        else:
            out.append(part)
    return "/".join(out)


def list_params(first: int, after: str | None, **filters: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"first": max(1, min(200, first))}
    if after:
        params["after"] = after
    for key, value in filters.items():
        if value is None:
            continue
        params[key] = list(value) if isinstance(value, tuple | list | set) else value
    return params


def _json_or_none(resp: requests.Response, what: str) -> Any:
    if not resp.content or resp.status_code == 204:
        return None
    try:
        return _valid_text(resp.json())
    except ValueError:
        raise DevinError(
            f"Devin answered {what} with something that is not JSON; check DEVIN_API_URL "
            "(it must include the version, e.g. https://api.devin.ai/v3)",
            status=resp.status_code,
        ) from None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(data: Any) -> Any:
    """Devin's JSON with lone UTF-16 surrogates (a `\\udfff` escape decodes to one)
    replaced by U+FFFD: such text would fail in the store, a URL, a hash or a log."""
    text = json.dumps(data, ensure_ascii=False)
    if not _LONE_SURROGATE.search(text):
        return data
    return json.loads(_LONE_SURROGATE.sub("\ufffd", text))


def _error_body(resp: requests.Response, key: str) -> Any:
    # Masked before parsing: a cut-off echo of the key would escape _scrub later.
    text = resp.text.replace(key, "***")
    try:
        return json.loads(text)
    except ValueError:
        return text[:300] if "html" not in resp.headers.get("Content-Type", "") else ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
