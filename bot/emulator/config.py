"""Settings of one emulator instance (frozen; pass a new one to change behaviour)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

SessionIdForm = Literal["bare", "prefixed"]
ErrorStyle = Literal["problem", "detail"]


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator answers.

    The choices marked "[?]" in the API reference (§11) are switches here so a
    client can be tested against every plausible variant of the real service.
    """

    # The accepted bearer token(s). Not a secret (it only opens the emulator),
    # but kept out of reprs all the same.
    api_key: str = field(default="cog_emulator_key", repr=False)
    extra_keys: tuple[str, ...] = field(default=(), repr=False)
    org_id: str = "org-emulator"
    org_name: str = "Emulator Org"
    service_user_id: str = "service-user-emulator"
    service_user_name: str = "Devin API Emulator"
    # "bare": session_id = 32 hex; "prefixed": "devin-<hex>" (both in session_id and url).
    session_id_form: SessionIdForm = "bare"
    # "problem": RFC 9457 application/problem+json; "detail": legacy FastAPI {"detail": ...}.
    error_style: ErrorStyle = "problem"
    page_size_max: int = 200
    page_size_default: int = 100
    default_scenario: str = "finish"
    # Base for attachment URLs (e.g. "http://localhost:8900"); default: the request's host.
    public_url: str | None = None
    app_url: str = "https://app.devin.ai"
    # Session attachment list: bare JSON array (endpoint page) or {"items": [...]} (Common Flows).
    attachments_envelope: bool = False
    # "status_detail ... only populated on get/list": leave it (and structured_output) out
    # of the create response.
    omit_status_detail_on_create: bool = True
    # PaginatedResponse.end_cursor is null on the last page per the docs; True keeps the
    # cursor of the last item instead (GraphQL-style).
    end_cursor_on_last_page: bool = False
    # Unknown playbook_id on session/schedule create: 422 (True) or accepted as-is (False).
    strict_playbook_ids: bool = True
    # List filters the server silently ignores (e.g. ("updated_after",) or ("tags",)): to
    # test clients that must notice a filter was not applied.
    ignored_list_filters: tuple[str, ...] = ()
    blob_ttl_seconds: float = 60.0
    request_log_limit: int = 10_000
    max_upload_bytes: int = 50 * 1024 * 1024
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.session_id_form not in ("bare", "prefixed"):
            raise ValueError("session_id_form must be 'bare' or 'prefixed'")
        if self.error_style not in ("problem", "detail"):
            raise ValueError("error_style must be 'problem' or 'detail'")
        if not 1 <= self.page_size_default <= self.page_size_max:
            raise ValueError("need 1 <= page_size_default <= page_size_max")
        if not self.api_key:
            raise ValueError("api_key must not be empty")

    def accepts_key(self, token: str) -> bool:
        candidates = (self.api_key, *self.extra_keys)
        # compare_digest on every candidate so timing does not reveal which one matched.
        matches = [hmac.compare_digest(token.encode(), key.encode()) for key in candidates]
        return any(matches)
