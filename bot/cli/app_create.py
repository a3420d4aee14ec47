"""`devin-bridge app create [--org ORG] [--webhook-url URL]`: register the bridge's GitHub
App from a manifest, as Probot does on its first run.

A one-page form on 127.0.0.1 posts the manifest to GitHub (GITHUB_URL, for GitHub
Enterprise Server too); GitHub sends the browser back with a code; the code is converted
(`POST /app-manifests/{code}/conversions`); the private key and a `.env` (both mode 600)
are written; the install link is printed. Standard library HTTP server: one page and
one redirect need no framework.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

from bot.cli.output import EXIT_ERROR, EXIT_USAGE, err, out

WAIT_S = 600.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    app = sub.add_parser("app", help="the bridge's GitHub App")
    cmds = app.add_subparsers(dest="app_command", metavar="ACTION", required=True)
    create = cmds.add_parser(
        "create", help="register a GitHub App from a manifest and write its .env"
    )
    create.add_argument("--org", metavar="ORG", help="register it on this organisation")
    create.add_argument("--webhook-url", metavar="URL", help="https://<host>/webhook")
    create.add_argument("--name", default="devin-bridge", help="the App's name (editable later)")
    create.add_argument("--env-file", default=".env", metavar="PATH", help="default ./.env")
    create.add_argument("--port", type=int, default=0, help="local port of the form (default any)")
    create.add_argument("--no-browser", action="store_true", help="only print the form's URL")
    create.add_argument("--timeout", type=float, default=WAIT_S, metavar="S")
    create.set_defaults(run=run)


class _Flow:
    """The state of one registration: the page, the expected state, the outcome."""

    def __init__(self, args: argparse.Namespace, web: str, api: str) -> None:
        self.args = args
        self.web, self.api = web, api
        self.state = secrets.token_urlsafe(24)
        self.done = threading.Event()
        self.result: Any = None  # NewApp
        self.error: str | None = None
        self.env_path = Path(args.env_file).expanduser().resolve()

    def form(self, base: str) -> str:
        from bot.github.manifest import build_manifest, form_action

        manifest = build_manifest(
            name=self.args.name, webhook_url=self.args.webhook_url, redirect_url=base + "/callback"
        )
        target = form_action(self.web, self.args.org)
        where = f"organisation {self.args.org}" if self.args.org else "your account"
        return _page(
            "Create the devin-bridge GitHub App",
            f"<p>This registers a private GitHub App on {html.escape(where)} at "
            f"{html.escape(self.web)} with the permissions the bridge needs (issues and pull "
            "requests: write; contents and metadata: read) and its events.</p>"
            f'<form action="{html.escape(target)}" method="post">'
            f'<input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">'
            f'<input type="hidden" name="state" value="{html.escape(self.state)}">'
            '<button type="submit">Create the GitHub App</button></form>',
        )

    def callback(self, query: dict[str, list[str]]) -> tuple[int, str]:
        from bot.github.errors import GitHubError
        from bot.github.manifest import convert

        code = (query.get("code") or [""])[0]
        if not secrets.compare_digest((query.get("state") or [""])[0], self.state) or not code:
            return 400, _page("Not this registration", "<p>Start again from the terminal.</p>")
        try:
            app = convert(self.api, code)
            self.result = app
            write_env(self.env_path, app, self.api)
        except (GitHubError, OSError) as exc:
            self.error = str(exc)
            self.done.set()
            return 502, _page("The App could not be saved", f"<p>{html.escape(str(exc))}</p>")
        self.done.set()
        link = html.escape(app.install_url)
        return 200, _page(
            f"Created {html.escape(app.name)}",
            f'<p>Saved to {html.escape(str(self.env_path))}. Now <a href="{link}">install it</a> '
            "on the repositories the bridge should serve.</p>",
        )


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body style='font-family:sans-serif;max-width:40em;margin:3em auto'>"
        f"<h1>{title}</h1>{body}</body></html>"
    )


def _port_of(server: Any) -> int:
    return int(server.server_address[1])


def _handler(flow: _Flow) -> type[BaseHTTPRequestHandler]:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            base = f"http://127.0.0.1:{_port_of(self.server)}"
            if parts.path == "/":
                self._send(200, flow.form(base))
            elif parts.path == "/callback":
                self._send(*flow.callback(parse_qs(parts.query)))
            else:
                self._send(404, _page("Not found", ""))

        def _send(self, status: int, text: str) -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the query string carries the one-time code

    return Handler


def run(args: argparse.Namespace) -> int:
    import webbrowser
    from http.server import ThreadingHTTPServer

    from bot.github.manifest import build_manifest, urls_from_env

    web, api = urls_from_env(os.environ.get("GITHUB_URL", ""), os.environ.get("GITHUB_API_URL", ""))
    try:
        build_manifest(name=args.name, webhook_url=args.webhook_url, redirect_url="http://x")
    except ValueError as exc:
        err(f"devin-bridge app create: {exc}")
        return EXIT_USAGE
    flow = _Flow(args, web, api)
    try:
        server = ThreadingHTTPServer(("127.0.0.1", int(args.port)), _handler(flow))
    except OSError as exc:
        err(f"devin-bridge app create: cannot listen on 127.0.0.1:{args.port} ({exc.strerror})")
        return EXIT_USAGE
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        out(f"Open {url} in a browser and press the button to create the App on {web}.")
        if not args.no_browser:
            webbrowser.open(url)
        if not flow.done.wait(float(args.timeout)):
            err(f"devin-bridge app create: no answer from GitHub within {args.timeout:.0f} s")
            return EXIT_ERROR
    finally:
        server.shutdown()
        server.server_close()
    if flow.error or flow.result is None:
        err(f"devin-bridge app create: {flow.error}")
        return EXIT_ERROR
    app = flow.result
    out(f"Created the GitHub App {app.name} (id {app.id}) for {app.owner or 'you'}.")
    out(f"Wrote {flow.env_path} and the private key in secrets/ beside it (mode 600).")
    if not app.webhook_secret:
        out("No webhook URL yet: set it and the GITHUB_WEBHOOK_SECRET from .env in the App.")
    out(f"Install it on your repositories: {app.install_url}")
    out("Then add DEVIN_API_KEY and DEVIN_ORG_ID to .env and run: devin-bridge doctor")
    return 0


def write_env(env_path: Path, app: Any, api_url: str) -> None:
    """The private key and `.env` (both mode 600); other lines of an existing .env stay."""
    from bot.github.auth import DEFAULT_API_URL

    # In secrets/ beside .env, named relative to it: the same line works for `serve`
    # started in that folder and in the compose services (./secrets is mounted there).
    key_dir = env_path.parent / "secrets"
    key_dir.mkdir(mode=0o700, exist_ok=True)
    key_name = f"secrets/{app.slug}.private-key.pem"
    _write_private(
        env_path.parent / key_name, app.pem if app.pem.endswith("\n") else app.pem + "\n"
    )
    values = {
        "GITHUB_APP_ID": str(app.id),
        "GITHUB_APP_PRIVATE_KEY_PATH": key_name,
        # Without a webhook GitHub sends no secret: make one to enter in the App later.
        "GITHUB_WEBHOOK_SECRET": app.webhook_secret or secrets.token_hex(32),
        "DEVIN_BRIDGE_BOT_LOGIN": app.bot_login,
    }
    if api_url.rstrip("/") != DEFAULT_API_URL:
        values["GITHUB_API_URL"] = api_url
    kept: list[str] = []
    if env_path.exists():
        for line in env_path.read_text(encoding="utf-8").splitlines():
            name = line.split("=", 1)[0].strip().removeprefix("export ").strip()
            if name not in values:
                kept.append(line)
    lines = [*kept, f"# GitHub App {app.name}, created by devin-bridge app create"]
    lines += [f"{name}={value}" for name, value in values.items()]
    _write_private(env_path, "\n".join(lines) + "\n")


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, even if it existed with wider rights."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
