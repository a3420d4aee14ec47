"""Verify one webhook delivery: size, HMAC signature, headers, JSON (pure, no I/O).

The order is the one GitHub's docs and the trusted libraries use: nothing from the
body is believed before the signature over the *raw* bytes has been checked, and the
JSON is parsed only after that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub never sends a larger payload
SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
HOOK_HEADERS = ("x-github-hook-id", "x-github-hook-installation-target-id")
CONTENT_TYPE_HEADER = "content-type"
# Every header `verify` reads (lower case): a caller with case-insensitive headers may
# pass just these instead of copying all of them.
READ_HEADERS = (
    SIGNATURE_HEADER,
    EVENT_HEADER,
    DELIVERY_HEADER,
    *HOOK_HEADERS,
    CONTENT_TYPE_HEADER,
)
_MAX_HEADER_CHARS = 200


@dataclass(frozen=True)
class Delivery:
    """A delivery whose signature and shape have been checked."""

    event: str
    delivery_id: str
    hook_id: str  # "" when GitHub sent neither hook header
    payload: Mapping[str, Any] = field(repr=False)

    @property
    def action(self) -> str:
        action = self.payload.get("action")
        return action if isinstance(action, str) else ""


@dataclass(frozen=True)
class Rejection:
    """Why a delivery was refused, with the HTTP status to answer."""

    status: int
    reason: str


def signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of the header against the HMAC of the raw body."""
    if not secret or not header:
        return False
    expected = signature(secret, body).encode("ascii")
    try:
        given = header.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given)


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    max_bytes: int = MAX_BODY_BYTES,
) -> Delivery | Rejection:
    """Check one delivery (header names in any case)."""
    headers = {k.lower(): v for k, v in headers.items()}
    if len(body) > max_bytes:
        return Rejection(413, f"the body is larger than {max_bytes} bytes")
    if not headers.get(SIGNATURE_HEADER):
        return Rejection(401, "the X-Hub-Signature-256 header is missing")
    if not signature_ok(secret, body, headers.get(SIGNATURE_HEADER)):
        return Rejection(401, "the X-Hub-Signature-256 signature does not match the body")
    event = _header(headers, EVENT_HEADER)
    delivery_id = _header(headers, DELIVERY_HEADER)
    if not event or not delivery_id:
        missing = "X-GitHub-Event" if not event else "X-GitHub-Delivery"
        return Rejection(400, f"the {missing} header is missing or malformed")
    hook_id = next((h for h in (_header(headers, n) for n in HOOK_HEADERS) if h), "")
    try:
        text = _json_text(body, headers.get(CONTENT_TYPE_HEADER) or "")
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Rejection(400, "the body is not valid UTF-8 JSON")
    if not isinstance(payload, dict):
        return Rejection(400, "the body is not a JSON object")
    # The strict UTF-8 decode above refuses raw surrogates, so only a `\uD8xx`-`\uDFxx`
    # escape can make one: the whole-document check runs only when the text has one.
    if _SURROGATE_ESCAPE.search(text) and not encodable(payload):
        # `"\udfff"` is valid JSON but no text: it would fail in the store, a URL or a log.
        return Rejection(400, "the body contains a lone UTF-16 surrogate (\\ud800-\\udfff)")
    return Delivery(event=event, delivery_id=delivery_id, hook_id=hook_id, payload=payload)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def encodable(payload: Any) -> bool:
    """Whether every string in `payload` (keys too) can be encoded as UTF-8.

    JSON's `\\uXXXX` escapes can spell half a surrogate pair, which Python decodes to
    a string no database, URL or log line accepts. One encode of the whole document
    finds any of them.
    """
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except (ValueError, RecursionError):  # too deep or not serialisable: not ours to keep
        return False
    return True


def _json_text(body: bytes, content_type: str) -> str:
    # A hook may be set to "application/x-www-form-urlencoded": the JSON is in `payload`.
    text = body.decode("utf-8")
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        values = parse_qs(text, keep_blank_values=True).get("payload")
        if not values:
            raise ValueError("no payload field in the form body")
        return values[0]
    return text


def _header(headers: Mapping[str, str], name: str) -> str:
    return printable_header(headers.get(name))


def printable_header(value: str | None) -> str:
    """A header value safe to log and store ("" when absent, too long or unprintable)."""
    text = (value or "").strip()
    if len(text) > _MAX_HEADER_CHARS or not text.isprintable():
        return ""
    return text
