"""The one error hierarchy for the Devin API, with messages that say what to do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DevinError(Exception):
    """Any failure talking to the Devin API. ``str(err)`` is safe to show users."""

    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"


class DevinConfigError(DevinError):
    """Missing or malformed settings (key, org id, URL) before any request."""


class DevinAuthError(DevinError):
    status = 401


class DevinForbidden(DevinError):
    status = 403


class DevinNotFound(DevinError):
    status = 404


class DevinBadRequest(DevinError):
    """400 or 409: the request conflicts with the resource's state."""

    status = 400


class DevinValidationError(DevinError):
    status = 422

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: str = "",
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.fields = fields


class DevinRateLimited(DevinError):
    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, detail: str = "") -> None:
        super().__init__(message, status=429, detail=detail)
        self.retry_after = retry_after


class DevinServerError(DevinError):
    status = 500


class DevinUnavailable(DevinError):
    """Timeout or connection failure: the request may or may not have been processed."""


def error_detail(body: Any, limit: int = 300) -> tuple[str, tuple[str, ...]]:
    """Extract a human message and the names of fields at fault from any documented
    error shape: ``{"detail": str}``, FastAPI's validation list, or problem+json."""
    fields: list[str] = []
    parts: list[str] = []
    if isinstance(body, Mapping):
        detail = body.get("detail")
        errors = body.get("errors")
        title = body.get("title")
        items = [
            item
            for item in (detail if isinstance(detail, list) else [])
            + (errors if isinstance(errors, list) else [])
            if isinstance(item, Mapping)
        ]
        for item in items:
            name, msg = _field_error(item)
            line = f"{name}: {msg}" if name else msg
            if name and name not in fields:
                fields.append(name)
            if line and line not in parts:  # problem+json may repeat a FastAPI list
                parts.append(line)
        if not parts:
            # The summary string only when there is no per-field list: it repeats it.
            if isinstance(detail, str) and detail:
                parts.append(detail)
            elif isinstance(title, str) and title:
                parts.append(title)
        if not parts:
            for key in ("message", "error"):
                v = body.get(key)
                if isinstance(v, str) and v:
                    parts.append(v)
                    break
    elif isinstance(body, str):
        parts.append(body.strip())
    text = "; ".join(p for p in parts if p)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text, tuple(fields)


def _field_error(item: Mapping[str, Any]) -> tuple[str, str]:
    """(field path, message) of one validation error, FastAPI ``loc`` or RFC 9457 pointer."""
    loc: Any = item.get("loc") or item.get("field") or ()
    pointer = item.get("pointer")
    if not loc and isinstance(pointer, str):
        # RFC 9457 errors point into the body with a JSON pointer ("#/a/0/b").
        loc = [p for p in pointer.lstrip("#").split("/") if p]
    if isinstance(loc, str):
        loc = [loc]
    names = [str(x) for x in loc] if isinstance(loc, list | tuple) else []
    # Only the first element says where (body, query, path): a field may be named "body".
    if len(names) > 1 and names[0] in ("body", "query", "path", "header"):
        names = names[1:]
    msg = item.get("msg") or item.get("message") or item.get("detail") or ""
    return ".".join(names), str(msg)


def error_for_status(
    status: int,
    body: Any,
    *,
    what: str,
    retry_after: float | None = None,
) -> DevinError:
    """Map an HTTP error answer to the exception the caller can act on."""
    detail, fields = error_detail(body)
    suffix = f": {detail}" if detail else ""
    if status == 401:
        return DevinAuthError(
            "DEVIN_API_KEY was rejected (401): check the key and that it is a v3 "
            "service-user key starting with cog_",
            status=status,
            detail=detail,
        )
    if status == 403:
        return DevinForbidden(
            f"Devin refused {what} (403){suffix}. Give the service user the needed "
            "permission (e.g. ManageOrgSessions) and check DEVIN_ORG_ID",
            status=status,
            detail=detail,
        )
    if status == 404:
        return DevinNotFound(
            f"{what} not found (404){suffix}. Check the id and DEVIN_ORG_ID",
            status=status,
            detail=detail,
        )
    if status in (400, 409):
        return DevinBadRequest(
            f"Devin rejected {what} ({status}){suffix}", status=status, detail=detail
        )
    if status == 422:
        return DevinValidationError(
            f"Devin rejected {what} as invalid (422){suffix}",
            status=status,
            detail=detail,
            fields=fields,
        )
    if status == 429:
        wait = f" Retry after {retry_after:.0f} s." if retry_after else ""
        return DevinRateLimited(
            f"Devin is rate limiting requests (429) for {what}.{wait}",
            retry_after=retry_after,
            detail=detail,
        )
    if status >= 500:
        return DevinServerError(
            f"Devin had a server error ({status}) for {what}; try again later{suffix}",
            status=status,
            detail=detail,
        )
    return DevinError(f"Devin answered {status} for {what}{suffix}", status=status, detail=detail)
