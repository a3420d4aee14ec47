"""Attachment downloads: safe names, safe hops, the key only for the API, a size cap."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask, Response, request
from werkzeug.serving import make_server

from bot.core.devin_models import Attachment
from bot.devin.attachments import save_attachments
from bot.devin.client import DevinClient
from bot.devin.download import UnsafeAttachment, open_safely, read_capped, safe_filename
from bot.devin.errors import DevinError
from tests.support.servers import serve

KEY = "cog_SECRET_abc123xyz"
AUTH = {"Authorization": f"Bearer {KEY}"}
PUBLIC_IP = "93.184.216.34"


def public(_host: str) -> list[str]:
    return [PUBLIC_IP]


# --- file names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("summary.md", "summary.md"),
        ("report final.pdf", "report final.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("/abs/path/log.txt", "log.txt"),
        ("..", "attachment"),
        ("", "attachment"),
        ("   ", "attachment"),
        ("...", "attachment"),
        (".bashrc", "bashrc"),
        ("trailing. ", "trailing"),
        ("a\x00b.txt", "a_b.txt"),
        ("semi;colon|pipe$.sh", "semi_colon_pipe_.sh"),
        ("naïve café.txt", "na_ve caf_.txt"),
        ("ｆｕｌｌｗｉｄｔｈ.txt", "fullwidth.txt"),  # NFKC folds these to ASCII
        ("dir/", "attachment"),
        ("a" * 300 + ".txt", "a" * 116 + ".txt"),  # capped, extension kept
        ("a" * 119 + ".." + "b" * 20, "a" * 119),  # never ends in a dot after the cap
        ("a" * 119 + ". b", "a" * 117 + ". b"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    got = safe_filename(name)
    assert got == safe
    assert "/" not in got and "\\" not in got
    assert not got.startswith(".")
    assert len(got) <= 120


def test_safe_filename_makes_names_unique_case_insensitively() -> None:
    taken: set[str] = {"readme.md"}
    names = [
        safe_filename(n, taken)
        for n in [
            "README.md",
            "readme.md",
            "log",
            "log",
            "x/log",
            "archive.tar.gz",
            "archive.tar.gz",
        ]
    ]
    assert names == [
        "README-2.md",
        "readme-3.md",
        "log",
        "log-2",
        "log-3",
        "archive.tar.gz",
        "archive.tar-2.gz",
    ]


# --- refusing unsafe URLs before any request -------------------------------------------


class NoNetwork:
    """Stands in for requests.Session where no request may be made."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get(self, url: str, **_: Any) -> requests.Response:
        self.calls.append(url)
        raise AssertionError(f"unexpected request to {url}")


API = "https://api.devin.ai"


@pytest.mark.parametrize(
    ("url", "addresses", "says"),
    [
        ("http://files.example.com/a.txt", [PUBLIC_IP], "non-https"),
        ("ftp://files.example.com/a.txt", [PUBLIC_IP], "non-https"),
        ("file:///etc/passwd", [], "non-https"),
        ("http://api.devin.ai/v3/x", [PUBLIC_IP], "non-https"),  # http is not the API origin
        ("https://internal.example.com/a", ["10.0.0.5"], "private address"),
        ("https://internal.example.com/a", ["192.168.1.2"], "private address"),
        ("https://internal.example.com/a", ["127.0.0.1"], "private address"),
        ("https://metadata.example.com/a", ["169.254.169.254"], "private address"),
        ("https://internal.example.com/a", ["100.64.0.1"], "private address"),
        ("https://internal.example.com/a", ["::1"], "private address"),
        ("https://internal.example.com/a", ["fd00::1"], "private address"),
        ("https://internal.example.com/a", ["fe80::1%eth0"], "private address"),
        ("https://internal.example.com/a", ["::ffff:127.0.0.1"], "private address"),
        # NAT64 and 6to4 addresses that wrap a private IPv4 address
        ("https://internal.example.com/a", ["64:ff9b::7f00:1"], "private address"),
        ("https://internal.example.com/a", ["64:ff9b::a9fe:a9fe"], "private address"),
        ("https://internal.example.com/a", ["2002:a9fe:a9fe::1"], "private address"),
        # one bad address among good ones is enough (DNS can hand out either)
        ("https://mixed.example.com/a", [PUBLIC_IP, "10.1.2.3"], "private address"),
        # literal addresses need no resolver
        ("https://169.254.169.254/latest/meta-data", [], "private address"),
        ("https://[::1]:8443/a", [], "private address"),
        # nothing to check is not a pass
        ("https://unresolvable.example.com/a", [], "cannot resolve"),
        ("https://odd.example.com/a", ["not-an-address"], "cannot resolve"),
    ],
)
def test_open_safely_refuses_unsafe_urls(url: str, addresses: list[str], says: str) -> None:
    http = NoNetwork()
    with pytest.raises(UnsafeAttachment, match=says):
        open_safely(
            http,  # type: ignore[arg-type]
            url,
            api_origin=API,
            auth_header=AUTH,
            timeout=(5, 5),
            resolve=lambda _host: addresses,
        )
    assert http.calls == []


# --- real HTTP: hops, headers, caps -----------------------------------------------------


@dataclass
class Recorder:
    """A Flask app that records each request's path and headers."""

    routes: dict[str, Callable[[], Response]]
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> Flask:
        app = Flask("recorder")

        @app.route("/<path:path>")
        def any_path(path: str) -> Response:
            self.seen.append(("/" + path, dict(request.headers)))
            route = self.routes.get("/" + path)
            return route() if route else Response("missing", status=404)

        return app

    def auth_seen(self) -> list[str | None]:
        return [headers.get("Authorization") for _, headers in self.seen]


def redirect_to(location: Callable[[], str], status: int = 307) -> Callable[[], Response]:
    return lambda: Response("", status=status, headers={"Location": location()})


def body(data: bytes, content_type: str = "application/octet-stream") -> Callable[[], Response]:
    return lambda: Response(data, content_type=content_type)


@contextmanager
def tls_serve(app: Flask, tmp: Path) -> Iterator[tuple[str, str]]:
    """Serve ``app`` over https on loopback; yields (url, CA file to trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_port}", str(cert_file)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_key_goes_to_the_api_but_not_to_a_storage_redirect(tmp_path: Path) -> None:
    storage = Recorder({"/bucket/summary.md": body(b"# Summary\n")})
    urls: dict[str, str] = {}
    api = Recorder(
        {
            "/v3/attachments/u1/summary.md": redirect_to(
                lambda: urls["storage"] + "/bucket/summary.md"
            )
        }
    )
    with tls_serve(storage.app(), tmp_path) as (storage_url, ca_file), serve(api.app()) as srv:
        urls["storage"] = storage_url
        http = requests.Session()
        http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        http.verify = ca_file
        # Both servers are on loopback: the resolver stands in for public DNS so the
        # storage hop is allowed, which is what lets us see the headers it receives.
        resp = open_safely(
            http,
            srv.url + "/v3/attachments/u1/summary.md",
            api_origin=srv.url,
            auth_header=AUTH,
            timeout=(5, 5),
            resolve=public,
        )
        assert resp.content == b"# Summary\n"

    assert api.auth_seen() == [f"Bearer {KEY}"]
    assert [path for path, _ in storage.seen] == ["/bucket/summary.md"]
    (_, storage_headers) = storage.seen[0]
    assert "Authorization" not in storage_headers
    assert all(KEY not in value for value in storage_headers.values())


def test_redirect_to_a_plain_http_host_is_refused_and_never_contacted() -> None:
    other = Recorder({"/loot": body(b"x")})
    urls: dict[str, str] = {}
    api = Recorder({"/v3/att": redirect_to(lambda: urls["other"] + "/loot", status=302)})
    with serve(other.app()) as other_srv, serve(api.app()) as api_srv:
        urls["other"] = other_srv.url
        with pytest.raises(UnsafeAttachment, match="non-https"):
            open_safely(
                requests.Session(),
                api_srv.url + "/v3/att",
                api_origin=api_srv.url,
                auth_header=AUTH,
                timeout=(5, 5),
                resolve=public,
            )
    assert api.auth_seen() == [f"Bearer {KEY}"]
    assert other.seen == []


def test_public_https_hosts_are_allowed_without_the_key() -> None:
    sent: list[tuple[str, dict[str, str]]] = []

    class Fake:
        def get(self, url: str, *, headers: dict[str, str], **_: Any) -> requests.Response:
            sent.append((url, headers))
            resp = requests.Response()
            resp.status_code = 200
            return resp

    resp = open_safely(
        Fake(),  # type: ignore[arg-type]
        "https://files.example.com/a.txt",
        api_origin=API,
        auth_header=AUTH,
        timeout=(5, 5),
        resolve=public,
    )
    assert resp.status_code == 200
    assert sent == [("https://files.example.com/a.txt", {})]


def test_redirects_within_the_api_origin_keep_the_key() -> None:
    api = Recorder(
        {
            "/v3/att": redirect_to(lambda: "/v3/att2", status=301),  # relative Location
            "/v3/att2": body(b"payload"),
        }
    )
    with serve(api.app()) as srv:
        resp = open_safely(
            requests.Session(),
            srv.url + "/v3/att",
            api_origin=srv.url,
            auth_header=AUTH,
            timeout=(5, 5),
        )
        assert resp.content == b"payload"
    assert api.auth_seen() == [f"Bearer {KEY}", f"Bearer {KEY}"]


@pytest.mark.parametrize(
    ("routes", "error", "says"),
    [
        ({"/loop": redirect_to(lambda: "/loop")}, UnsafeAttachment, "too many times"),
        ({"/loop": lambda: Response("", status=302)}, DevinError, "without a Location"),
        ({}, DevinError, "failed with HTTP 404"),
    ],
)
def test_broken_downloads_fail_clearly(
    routes: dict[str, Callable[[], Response]], error: type[DevinError], says: str
) -> None:
    api = Recorder(routes)
    with serve(api.app()) as srv, pytest.raises(error, match=says) as caught:
        open_safely(
            requests.Session(),
            srv.url + "/loop",
            api_origin=srv.url,
            auth_header=AUTH,
            timeout=(5, 5),
        )
    assert KEY not in str(caught.value)


def test_connection_failure_is_a_devin_error_without_the_key() -> None:
    api = Recorder({})
    with serve(api.app()) as srv:
        dead = srv.url
    with pytest.raises(DevinError, match="could not download") as caught:
        open_safely(
            requests.Session(), dead + "/x", api_origin=dead, auth_header=AUTH, timeout=(5, 5)
        )
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


def _streamed(size: int) -> Callable[[], Response]:
    def chunks() -> Iterator[bytes]:
        for _ in range(size // 1000):
            yield b"x" * 1000

    return lambda: Response(chunks(), mimetype="application/octet-stream")


@pytest.mark.parametrize(
    ("route", "cap", "says"),
    [
        (body(b"x" * 5000), 4096, "is 5000 bytes; the cap is 4096"),  # Content-Length
        (_streamed(10_000), 4096, "exceeds the cap of 4096"),  # chunked, no length
    ],
)
def test_size_cap(route: Callable[[], Response], cap: int, says: str) -> None:
    api = Recorder({"/big": route})
    with serve(api.app()) as srv:
        resp = open_safely(
            requests.Session(),
            srv.url + "/big",
            api_origin=srv.url,
            auth_header=AUTH,
            timeout=(5, 5),
        )
        with pytest.raises(UnsafeAttachment, match=says):
            read_capped(resp, cap)


def test_size_cap_allows_exactly_the_cap() -> None:
    api = Recorder({"/ok": _streamed(4000)})
    with serve(api.app()) as srv:
        resp = open_safely(
            requests.Session(),
            srv.url + "/ok",
            api_origin=srv.url,
            auth_header=AUTH,
            timeout=(5, 5),
        )
        assert len(read_capped(resp, 4000)) == 4000


def test_save_attachments_writes_safe_names_and_records_what_it_skipped(tmp_path: Path) -> None:
    api = Recorder(
        {
            "/v3/organizations/org-1/attachments/u1/summary.md": body(b"# Done\n", "text/markdown"),
            "/v3/organizations/org-1/attachments/u2/big.bin": body(b"x" * 2048),
        }
    )
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "summary.md").write_text("already here")
    with serve(api.app()) as srv:
        client = DevinClient(KEY, "org-1", srv.url + "/v3", timeout=(5, 5))
        base = srv.url + "/v3/organizations/org-1/attachments"
        attachments = [
            Attachment("u1", "../summary.md", base + "/u1/summary.md"),
            Attachment("u2", "big.bin", base + "/u2/big.bin"),
            Attachment("u3", "evil.sh", "http://files.example.com/evil.sh"),
        ]
        saved = save_attachments(client, attachments, dest, max_bytes=1024)

    assert (dest / "summary.md").read_text() == "already here"  # never overwritten
    assert saved[0].path == dest / "summary-2.md"
    assert saved[0].path.read_bytes() == b"# Done\n"
    assert saved[0].size == 7
    assert saved[0].content_type == "text/markdown"
    assert saved[0].skipped is None
    assert saved[1].path is None and "cap is 1024" in (saved[1].skipped or "")
    assert saved[2].path is None and "non-https" in (saved[2].skipped or "")
    assert sorted(p.name for p in dest.iterdir()) == ["summary-2.md", "summary.md"]
    assert all(KEY not in (s.skipped or "") for s in saved)
    assert api.auth_seen() == [f"Bearer {KEY}", f"Bearer {KEY}"]
