"""Run the emulator on a threaded werkzeug server (`devin-bridge emulator`)."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler, make_server

from bot.emulator.app import create_emulator_app
from bot.emulator.config import EmulatorConfig


class _KeepAliveHandler(WSGIRequestHandler):
    # HTTP/1.1 keeps connections open, so pollers do not pay a TCP handshake per GET.
    protocol_version = "HTTP/1.1"


class _QuietHandler(_KeepAliveHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def serve(
    host: str = "127.0.0.1",
    port: int = 8900,
    config: EmulatorConfig | None = None,
    *,
    quiet: bool = False,
) -> None:
    """Serve until interrupted. `quiet` turns off the per-request access log."""
    config = config or EmulatorConfig()
    app = create_emulator_app(config)
    handler = _QuietHandler if quiet else _KeepAliveHandler
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    shown_host = f"[{host}]" if ":" in host else host
    print(
        f"Devin API emulator on http://{shown_host}:{server.server_port}/v3 "
        f"(org {config.org_id}, key {config.api_key})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
