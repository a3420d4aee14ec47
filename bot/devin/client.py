"""Devin REST API v3 client for an org-scoped service user.

Typed results (``devin_models``, ``devin_org``), the error hierarchy of
``devin_errors``, the plumbing of ``devin_transport`` and the resources of
``devin_resources``. Session creation is never duplicated: each create carries a
unique idempotency tag and, after an ambiguous failure, the session is looked up
by that tag before anything is sent again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from bot.core.devin_models import Attachment, Message, Session, path_session_id
from bot.core.devin_org import Identity, Organization, SessionInsights
from bot.core.parsing import Page, parse_optional
from bot.core.validation import json_schema_error
from bot.devin.bodies import MAX_TAGS, SessionRequest, dedupe, drop_none
from bot.devin.download import open_safely
from bot.devin.errors import (
    DevinError,
    DevinServerError,
    DevinUnavailable,
    DevinValidationError,
)
from bot.devin.resources import DevinResources
from bot.devin.transport import (
    DEFAULT_API_URL,
    RequestObserver,
    RetryPolicy,
    list_params,
)

__all__ = [
    "DEFAULT_API_URL",
    "IDEMPOTENCY_TAG_PREFIX",
    "DevinClient",
    "RequestObserver",
    "RetryPolicy",
]

IDEMPOTENCY_TAG_PREFIX = "devin-bridge-request:"
LOOKUPS_BEFORE_RESEND = 2


class DevinClient(DevinResources):
    """Typed access to the org-scoped Devin API v3."""

    # -- identity ---------------------------------------------------------

    def whoami(self) -> Identity:
        return Identity.from_api(self._request("GET", "/self", what="GET /self"))

    def list_organizations(self, *, first: int = 100) -> Iterator[Organization]:
        yield from self._paginate(
            "/enterprise/organizations", {}, Organization.from_api, first, "organizations"
        )

    # -- sessions ---------------------------------------------------------

    def create_session(
        self,
        request: SessionRequest,
        *,
        idempotency_key: str | None = None,
        parent_session_id: str | None = None,
    ) -> Session:
        """Create a session exactly once.

        With an ``idempotency_key`` (e.g. a webhook delivery id) a session
        created by an earlier, interrupted attempt is found and returned first.
        ``parent_session_id`` makes it a child session (query ``devin_id``).
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
        params = None
        if parent_session_id:
            try:
                params = {"devin_id": path_session_id(parent_session_id)}
            except ValueError as err:
                raise DevinValidationError(str(err), fields=("parent_session_id",)) from None
        last: DevinError | None = None
        for attempt in range(self._retry.attempts):
            try:
                data = self._request(
                    "POST",
                    path,
                    json=body,
                    params=params,
                    what="creating a session",
                    retry="rate_limit",
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
        # The tag filter's semantics are not documented: check the tag ourselves.
        page = self.list_sessions(tags=[tag], first=10)
        return next((s for s in page.items if tag in s.tags), None)

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
        params = list_params(first, after, tags=tags, **filters)
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
        params = list_params(first, None, tags=tags, **filters)
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
        return parse_optional(Session.from_api, data)

    def list_messages(
        self, session_id: str, *, first: int = 100, after: str | None = None
    ) -> Page[Message]:
        data = self._request(
            "GET",
            self._session_path(session_id) + "/messages",
            params=list_params(first, after),
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
        return parse_optional(Session.from_api, data)

    def archive_session(self, session_id: str) -> Session | None:
        data = self._request(
            "POST",
            self._session_path(session_id) + "/archive",
            what=f"archiving session {session_id}",
            retry="rate_limit",
        )
        return parse_optional(Session.from_api, data)

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

    def session_insights(self, session_id: str) -> SessionInsights:
        data = self._request(
            "GET",
            self._session_path(session_id) + "/insights",
            what=f"insights of session {session_id}",
        )
        return SessionInsights.from_api(data)

    def generate_insights(self, session_id: str) -> str:
        """``started``, or ``already_exists`` when generated or in progress."""
        data = self._request(
            "POST",
            self._session_path(session_id) + "/insights/generate",
            what=f"generating insights of session {session_id}",
            retry="idempotent",
        )
        status = data.get("status") if isinstance(data, Mapping) else None
        return status if isinstance(status, str) else "started"

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
        return open_safely(
            self._http,
            url,
            api_origin=self._origin,
            auth_header=self._auth_header(),
            timeout=self._timeout,
        )

    def _session_path(self, session_id: str) -> str:
        try:
            return self._org_path("/sessions/" + path_session_id(session_id))
        except ValueError as err:
            raise DevinValidationError(str(err), fields=("session_id",)) from None

    def _tags_path(self, session_id: str) -> str:
        return self._session_path(session_id) + "/tags"


def _tags(data: Any) -> tuple[str, ...]:
    if isinstance(data, Mapping) and isinstance(data.get("tags"), list):
        return tuple(t for t in data["tags"] if isinstance(t, str))
    return ()
