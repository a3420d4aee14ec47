"""Safe download of attachment URLs.

Attachment URLs come from the API, but they redirect to presigned storage
URLs, so every hop is checked: https (or the configured API origin itself),
no private, loopback or link-local addresses other than the API's own host,
the API key only ever sent to the API origin, a size cap, and file names that
cannot escape the target folder.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import requests

from bot.devin.errors import DevinError

MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 25 * 1024 * 1024

Resolver = Callable[[str], list[str]]


class UnsafeAttachment(DevinError):
    """The attachment URL or a redirect target is not allowed."""


def _resolve(host: str) -> list[str]:
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, None)]
    except OSError:
        return []


# IPv6 prefixes that embed an IPv4 address (NAT64, 6to4): as "global" as the IPv4
# address inside them is.
_EMBEDDING_V4 = (
    (ipaddress.ip_network("64:ff9b::/96"), 96),
    (ipaddress.ip_network("64:ff9b:1::/48"), 96),
    (ipaddress.ip_network("2002::/16"), 16),
)


def _tunnels_to_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if not isinstance(ip, ipaddress.IPv6Address):
        return False
    for net, shift in _EMBEDDING_V4:
        if ip in net:
            if shift == 16:  # 6to4: the 32 bits after the prefix
                inner = ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
            else:  # NAT64: the last 32 bits
                inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
            return not inner.is_global
    return False


def _check_url(url: str, api_origin: str, resolve: Resolver) -> bool:
    """Return True when ``url`` is on the API origin (auth may be sent)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin == api_origin:
        return True
    if parts.scheme != "https" or not parts.hostname:
        raise UnsafeAttachment(f"refusing to download attachment from a non-https URL ({origin})")
    checked = False
    for address in resolve(parts.hostname) or [parts.hostname]:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            continue
        if not ip.is_global or _tunnels_to_private(ip):
            raise UnsafeAttachment(
                f"refusing to download attachment from a private address ({parts.hostname})"
            )
        checked = True
    if not checked:
        # Fail closed: an address we could not check may be a private one.
        raise UnsafeAttachment(f"refusing to download attachment: cannot resolve {parts.hostname}")
    return False


def open_safely(
    http: requests.Session,
    url: str,
    *,
    api_origin: str,
    auth_header: dict[str, str],
    timeout: tuple[float, float],
    resolve: Resolver = _resolve,
) -> requests.Response:
    """GET ``url`` following redirects by hand, validating every hop."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        same_origin = _check_url(current, api_origin, resolve)
        headers = dict(auth_header) if same_origin else {}
        try:
            resp = http.get(
                current, headers=headers, timeout=timeout, allow_redirects=False, stream=True
            )
        except requests.RequestException:
            raise DevinError(
                f"could not download attachment from {urlsplit(current).netloc}"
            ) from None
        if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
            location = resp.headers.get("Location")
            resp.close()
            if not location:
                raise DevinError("attachment redirect without a Location header")
            current = urljoin(current, location)
            continue
        if resp.status_code >= 400:
            resp.close()
            raise DevinError(f"attachment download failed with HTTP {resp.status_code}")
        return resp
    raise UnsafeAttachment("attachment download redirected too many times")


def read_capped(resp: requests.Response, max_bytes: int) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        resp.close()
        raise UnsafeAttachment(f"attachment is {declared} bytes; the cap is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            resp.close()
            raise UnsafeAttachment(f"attachment exceeds the cap of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_MAX_NAME = 120


def safe_filename(name: str, taken: set[str] | None = None) -> str:
    """A file name that stays inside its folder, is not hidden, and is unique."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    base = _UNSAFE.sub("_", base).strip(" .") or "attachment"
    if len(base) > _MAX_NAME:
        # Cut the stem, keep a short extension, and never end in a dot or space.
        _, dot, ext = base.rpartition(".")
        keep = dot + ext if dot and len(ext) <= 10 else ""
        base = base[: _MAX_NAME - len(keep)].rstrip(" .") + keep
        base = base.rstrip(" .") or "attachment"
    if taken is None:
        return base
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    candidate, n = base, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}.{ext}" if ext else f"{stem}-{n}"
    taken.add(candidate.lower())
    return candidate
