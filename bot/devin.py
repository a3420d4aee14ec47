"""Devin REST API v3 client for an org-scoped service user.

One ``requests.Session``, explicit connect/read timeouts on every call,
retries with exponential backoff and jitter where they are safe, and typed
results. Session creation is never duplicated: each create carries a unique
idempotency tag and, after an ambiguous failure, the session is looked up by
that tag before anything is sent again.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from bot import __version__
from bot.devin_errors import (
    DevinConfigError,
    DevinError,
    DevinRateLimited,
    DevinServerError,
    DevinUnavailable,
    DevinValidationError,
    error_for_status,
)
from bot.devin_models import (
    Attachment,
    FolderTree,
    Identity,
    KnowledgeNote,
    Message,
    Organization,
    Page,
    Playbook,
    Schedule,
    Session,
    path_session_id,
)
from bot.devin_requests import MAX_TAGS, SessionRequest, dedupe, drop_none
from bot.validation import cron_error, json_schema_error

DEFAULT_API_URL = "https://api.devin.ai/v3"
IDEMPOTENCY_TAG_PREFIX = "devin-bridge-request:"
LOOKUPS_BEFORE_RESEND = 2

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


class DevinClient:
    """Typed access to the org-scoped Devin API v3."""

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

    # -- identity ---------------------------------------------------------

    def whoami(self) -> Identity:
        return Identity.from_api(self._request("GET", "/self", what="GET /self"))

    def list_organizations(self, *, first: int = 100) -> Iterator[Organization]:
        yield from self._paginate(
            "/enterprise/organizations", {}, Organization.from_api, first, "organizations"
        )

    # -- sessions ---------------------------------------------------------

    def create_session(
        self, request: SessionRequest, *, idempotency_key: str | None = None
    ) -> Session:
        """Create a session exactly once.

        With an ``idempotency_key`` (e.g. a webhook delivery id) a session
        created by an earlier, interrupted attempt is found and returned first.
        """
        if not request.prompt or not request.prompt.strip():
            raise DevinValidationError("a session needs a non-empty prompt", fields=("prompt",))
        if request.structured_output_schema is not None:
            problem = json_schema_error(request.structured_output_schema)
            if problem:
                raise DevinValidationError(problem, fields=("structured_output_schema",))
        key = idempotency_key or uuid.uuid4().hex
        tag = IDEMPOTENCY_TAG_PREFIX + key
        tags = dedupe([*request.tags, tag])
        if len(tags) > MAX_TAGS:
            raise DevinValidationError(
                f"a session takes at most {MAX_TAGS} tags, got {len(tags)}", fields=("tags",)
            )
        if idempotency_key:
            existing = self.find_session_by_tag(tag)
            if existing:
                return existing
        body = request.to_json()
        body["tags"] = list(tags)
        path = self._org_path("/sessions")
        last: DevinError | None = None
        for attempt in range(self._retry.attempts):
            try:
                data = self._request(
                    "POST", path, json=body, what="creating a session", retry="rate_limit"
                )
                return Session.from_api(data)
            except (DevinUnavailable, DevinServerError) as err:
                # The server may have created the session and lost the answer, and it
                # may store it a moment later: look a few times before sending again.
                last = err
                for look in range(LOOKUPS_BEFORE_RESEND):
                    self._sleep(self._backoff(attempt + look))
                    found = self.find_session_by_tag(tag)
                    if found:
                        return found
        assert last is not None
        raise last

    def find_session_by_tag(self, tag: str) -> Session | None:
        page = self.list_sessions(tags=[tag], first=1)
        return page.items[0] if page.items else None

    def get_session(self, session_id: str) -> Session:
        data = self._request("GET", self._session_path(session_id), what="session " + session_id)
        return Session.from_api(data)

    def list_sessions(
        self,
        *,
        tags: list[str] | tuple[str, ...] | None = None,
        first: int = 100,
        after: str | None = None,
        **filters: Any,
    ) -> Page[Session]:
        params = _list_params(first, after, tags=tags, **filters)
        data = self._request("GET", self._org_path("/sessions"), params=params, what="sessions")
        return Page.from_api(data, Session.from_api)

    def iter_sessions(
        self,
        *,
        tags: list[str] | tuple[str, ...] | None = None,
        first: int = 100,
        limit: int | None = None,
        **filters: Any,
    ) -> Iterator[Session]:
        params = _list_params(first, None, tags=tags, **filters)
        sessions = self._paginate(
            self._org_path("/sessions"), params, Session.from_api, first, "sessions"
        )
        for count, session in enumerate(sessions, start=1):
            yield session
            if limit is not None and count >= limit:
                return

    def send_message(
        self,
        session_id: str,
        message: str,
        *,
        attachment_urls: list[str] | None = None,
        as_user_id: str | None = None,
    ) -> Session | None:
        if not message.strip():
            raise DevinValidationError("a message cannot be empty", fields=("message",))
        body = drop_none(
            {
                "message": message,
                "attachment_urls": attachment_urls,
                "message_as_user_id": as_user_id,
            }
        )
        data = self._request(
            "POST",
            self._session_path(session_id) + "/messages",
            json=body,
            what=f"a message to session {session_id}",
            retry="rate_limit",
        )
        return Session.from_api(data) if isinstance(data, Mapping) and data else None

    def list_messages(
        self, session_id: str, *, first: int = 100, after: str | None = None
    ) -> Page[Message]:
        data = self._request(
            "GET",
            self._session_path(session_id) + "/messages",
            params=_list_params(first, after),
            what=f"messages of session {session_id}",
        )
        return Page.from_api(data, Message.from_api)

    def iter_messages(self, session_id: str, *, first: int = 100) -> Iterator[Message]:
        yield from self._paginate(
            self._session_path(session_id) + "/messages",
            {},
            Message.from_api,
            first,
            f"messages of session {session_id}",
        )

    def terminate_session(self, session_id: str, *, archive: bool = False) -> Session | None:
        data = self._request(
            "DELETE",
            self._session_path(session_id),
            params={"archive": "true" if archive else "false"},
            what=f"terminating session {session_id}",
        )
        return Session.from_api(data) if isinstance(data, Mapping) and data else None

    def archive_session(self, session_id: str) -> Session | None:
        data = self._request(
            "POST",
            self._session_path(session_id) + "/archive",
            what=f"archiving session {session_id}",
            retry="rate_limit",
        )
        return Session.from_api(data) if isinstance(data, Mapping) and data else None

    def get_tags(self, session_id: str) -> tuple[str, ...]:
        return _tags(self._request("GET", self._tags_path(session_id), what="session tags"))

    def add_tags(self, session_id: str, tags: list[str]) -> tuple[str, ...]:
        # Appending is idempotent (the API de-duplicates), so retries are safe.
        data = self._request(
            "POST",
            self._tags_path(session_id),
            json={"tags": tags},
            what="adding tags",
            retry="idempotent",
        )
        return _tags(data)

    def replace_tags(self, session_id: str, tags: list[str]) -> tuple[str, ...]:
        data = self._request(
            "PUT", self._tags_path(session_id), json={"tags": tags}, what="replacing tags"
        )
        return _tags(data)

    def session_attachments(self, session_id: str) -> tuple[Attachment, ...]:
        data = self._request(
            "GET",
            self._session_path(session_id) + "/attachments",
            what=f"attachments of session {session_id}",
        )
        return Page.from_api(data, Attachment.from_api).items

    # -- attachments ------------------------------------------------------

    def upload_attachment(
        self, filename: str, content: bytes, content_type: str = "application/octet-stream"
    ) -> Attachment:
        data = self._request(
            "POST",
            self._org_path("/attachments"),
            files={"file": (filename, content, content_type)},
            what=f"uploading {filename}",
            retry="rate_limit",
        )
        return Attachment.from_api(data)

    def open_attachment(self, url: str) -> requests.Response:
        """Open an attachment URL and follow its redirects safely (see attachments.py).

        The key is sent only to the API's own host, never to a redirect target.
        """
        from bot.attachments import open_safely

        return open_safely(
            self._http,
            url,
            api_origin=self._origin,
            auth_header=self._auth_header(),
            timeout=self._timeout,
        )

    # -- knowledge notes --------------------------------------------------

    def iter_notes(self, *, first: int = 100, **filters: Any) -> Iterator[KnowledgeNote]:
        yield from self._paginate(
            self._org_path("/knowledge/notes"),
            drop_none(filters),
            KnowledgeNote.from_api,
            first,
            "knowledge notes",
        )

    def get_note(self, note_id: str) -> KnowledgeNote:
        return KnowledgeNote.from_api(
            self._request("GET", self._note_path(note_id), what=f"note {note_id}")
        )

    def create_note(
        self,
        name: str,
        body: str,
        trigger: str,
        *,
        folder_id: str | None = None,
        is_enabled: bool | None = None,
        pinned_repo: str | None = None,
    ) -> KnowledgeNote:
        payload = _note_body(name, body, trigger, folder_id, is_enabled, pinned_repo)
        data = self._request(
            "POST",
            self._org_path("/knowledge/notes"),
            json=payload,
            what="creating a knowledge note",
            retry="rate_limit",
        )
        return KnowledgeNote.from_api(data)

    def update_note(
        self,
        note_id: str,
        name: str,
        body: str,
        trigger: str,
        *,
        folder_id: str | None = None,
        is_enabled: bool | None = None,
        pinned_repo: str | None = None,
    ) -> KnowledgeNote:
        payload = _note_body(name, body, trigger, folder_id, is_enabled, pinned_repo)
        data = self._request(
            "PUT", self._note_path(note_id), json=payload, what=f"updating note {note_id}"
        )
        return KnowledgeNote.from_api(data)

    def delete_note(self, note_id: str) -> KnowledgeNote | None:
        data = self._request("DELETE", self._note_path(note_id), what=f"deleting note {note_id}")
        return KnowledgeNote.from_api(data) if isinstance(data, Mapping) and data else None

    def note_folders(self) -> FolderTree:
        data = self._request("GET", self._org_path("/knowledge/folders"), what="note folders")
        return FolderTree.from_api(data)

    # -- playbooks --------------------------------------------------------

    def iter_playbooks(self, *, first: int = 100) -> Iterator[Playbook]:
        yield from self._paginate(
            self._org_path("/playbooks"), {}, Playbook.from_api, first, "playbooks"
        )

    def get_playbook(self, playbook_id: str) -> Playbook:
        return Playbook.from_api(
            self._request("GET", self._playbook_path(playbook_id), what=f"playbook {playbook_id}")
        )

    def create_playbook(
        self,
        title: str,
        body: str,
        *,
        macro: str | None = None,
        structured_output_schema: Mapping[str, Any] | None = None,
    ) -> Playbook:
        payload = _playbook_body(title, body, macro, structured_output_schema)
        data = self._request(
            "POST",
            self._org_path("/playbooks"),
            json=payload,
            what="creating a playbook",
            retry="rate_limit",
        )
        return Playbook.from_api(data)

    def update_playbook(
        self,
        playbook_id: str,
        title: str,
        body: str,
        *,
        macro: str | None = None,
        structured_output_schema: Mapping[str, Any] | None = None,
    ) -> Playbook:
        payload = _playbook_body(title, body, macro, structured_output_schema)
        data = self._request(
            "PUT",
            self._playbook_path(playbook_id),
            json=payload,
            what=f"updating playbook {playbook_id}",
        )
        return Playbook.from_api(data)

    def delete_playbook(self, playbook_id: str) -> Playbook | None:
        data = self._request(
            "DELETE", self._playbook_path(playbook_id), what=f"deleting playbook {playbook_id}"
        )
        return Playbook.from_api(data) if isinstance(data, Mapping) and data else None

    # -- schedules --------------------------------------------------------

    def iter_schedules(self, *, page_size: int = 100) -> Iterator[Schedule]:
        # Schedules page by limit/offset (the others by cursor).
        offset = 0
        seen: set[str] = set()
        while True:
            data = self._request(
                "GET",
                self._org_path("/schedules"),
                params={"limit": page_size, "offset": offset},
                what="schedules",
            )
            page = Page.from_api(data, Schedule.from_api)
            fresh = [s for s in page.items if s.schedule_id not in seen]
            yield from fresh
            seen.update(s.schedule_id for s in fresh)
            offset += len(page.items)
            more = page.has_next_page or (page.total is not None and offset < page.total)
            # A server that ignores offset would repeat the same page forever.
            if not fresh or not more:
                return

    def get_schedule(self, schedule_id: str) -> Schedule:
        return Schedule.from_api(
            self._request("GET", self._schedule_path(schedule_id), what=f"schedule {schedule_id}")
        )

    def create_schedule(self, name: str, prompt: str, **fields: Any) -> Schedule:
        payload = {"name": name, "prompt": prompt, **drop_none(fields)}
        _check_schedule(payload, creating=True)
        data = self._request(
            "POST",
            self._org_path("/schedules"),
            json=payload,
            what="creating a schedule",
            retry="rate_limit",
        )
        return Schedule.from_api(data)

    def update_schedule(self, schedule_id: str, **fields: Any) -> Schedule:
        payload = drop_none(fields)
        _check_schedule(payload, creating=False)
        data = self._request(
            "PATCH",
            self._schedule_path(schedule_id),
            json=payload,
            what=f"updating schedule {schedule_id}",
        )
        return Schedule.from_api(data)

    def delete_schedule(self, schedule_id: str) -> Schedule | None:
        data = self._request(
            "DELETE", self._schedule_path(schedule_id), what=f"deleting schedule {schedule_id}"
        )
        return Schedule.from_api(data) if isinstance(data, Mapping) and data else None

    # -- plumbing ---------------------------------------------------------

    def _org_path(self, suffix: str) -> str:
        if not self.org_id:
            raise DevinConfigError(
                "DEVIN_ORG_ID is not set: find it in Devin under Settings → Devin API "
                "(or Service users) and set it"
            )
        return f"/organizations/{self.org_id}{suffix}"

    def _session_path(self, session_id: str) -> str:
        try:
            return self._org_path("/sessions/" + path_session_id(session_id))
        except ValueError as err:
            raise DevinValidationError(str(err), fields=("session_id",)) from None

    def _tags_path(self, session_id: str) -> str:
        return self._session_path(session_id) + "/tags"

    def _note_path(self, note_id: str) -> str:
        return self._org_path("/knowledge/notes/" + _segment(note_id, "note id"))

    def _playbook_path(self, playbook_id: str) -> str:
        return self._org_path("/playbooks/" + _segment(playbook_id, "playbook id"))

    def _schedule_path(self, schedule_id: str) -> str:
        return self._org_path("/schedules/" + _segment(schedule_id, "schedule id"))

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


def _segment(value: str, what: str) -> str:
    v = value.strip()
    # "." and ".." would be resolved as path segments and hit another endpoint.
    if not v or v in (".", "..") or "/" in v or "?" in v or "#" in v:
        raise DevinValidationError(f"not a valid {what}: {value!r}")
    return v


def _route_of(path: str) -> str:
    """A low-cardinality route label for metrics (ids replaced)."""
    out = []
    for part in path.split("/"):
        if part.startswith(("org-", "devin-", "note-", "playbook-", "sched-")) or (
            len(part) >= 16 and any(c.isdigit() for c in part)
        ):
            out.append("{id}")
        else:
            out.append(part)
    return "/".join(out)


def _list_params(first: int, after: str | None, **filters: Any) -> dict[str, Any]:
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
        return resp.json()
    except ValueError:
        raise DevinError(
            f"Devin answered {what} with something that is not JSON; check DEVIN_API_URL "
            "(it must include the version, e.g. https://api.devin.ai/v3)",
            status=resp.status_code,
        ) from None


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


def _tags(data: Any) -> tuple[str, ...]:
    if isinstance(data, Mapping) and isinstance(data.get("tags"), list):
        return tuple(t for t in data["tags"] if isinstance(t, str))
    return ()


def _note_body(
    name: str,
    body: str,
    trigger: str,
    folder_id: str | None,
    is_enabled: bool | None,
    pinned_repo: str | None,
) -> dict[str, Any]:
    missing = [k for k, v in (("name", name), ("body", body), ("trigger", trigger)) if not v]
    if missing:
        raise DevinValidationError(
            "a knowledge note needs " + ", ".join(missing), fields=tuple(missing)
        )
    return drop_none(
        {
            "name": name,
            "body": body,
            "trigger": trigger,
            "folder_id": folder_id,
            "is_enabled": is_enabled,
            "pinned_repo": pinned_repo,
        }
    )


def _playbook_body(
    title: str, body: str, macro: str | None, schema: Mapping[str, Any] | None
) -> dict[str, Any]:
    if not title or not body:
        raise DevinValidationError("a playbook needs a title and a body", fields=("title", "body"))
    if macro is not None and not _valid_macro(macro):
        raise DevinValidationError(
            f"playbook macro {macro!r} must be '!' followed by letters, digits, _ or -",
            fields=("macro",),
        )
    if schema is not None:
        problem = json_schema_error(schema)
        if problem:
            raise DevinValidationError(problem, fields=("structured_output_schema",))
    return drop_none(
        {
            "title": title,
            "body": body,
            "macro": macro,
            "structured_output_schema": dict(schema) if schema is not None else None,
        }
    )


def _valid_macro(macro: str) -> bool:
    rest = macro[1:]
    return macro.startswith("!") and bool(rest) and all(c.isalnum() or c in "_-" for c in rest)


def _check_schedule(payload: Mapping[str, Any], *, creating: bool) -> None:
    frequency = payload.get("frequency")
    kind = payload.get("schedule_type") or ("recurring" if creating else None)
    if kind not in (None, "recurring", "one_time"):
        raise DevinValidationError(
            f"schedule_type must be recurring or one_time, got {kind!r}",
            fields=("schedule_type",),
        )
    if creating and kind == "recurring" and not frequency:
        raise DevinValidationError(
            "a recurring schedule needs a cron frequency, e.g. '0 9 * * 1-5' (UTC)",
            fields=("frequency",),
        )
    if creating and kind == "one_time" and not payload.get("scheduled_at"):
        raise DevinValidationError(
            "a one-time schedule needs scheduled_at (ISO 8601 with a time zone)",
            fields=("scheduled_at",),
        )
    if isinstance(frequency, str):
        problem = cron_error(frequency)
        if problem:
            raise DevinValidationError(problem, fields=("frequency",))
