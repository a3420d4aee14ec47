"""Run a WSGI app on a free loopback port in a background thread (real HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ServerThread:
    """A threaded werkzeug server bound to 127.0.0.1 on an ephemeral port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_KeepAliveHandler
        )
        self.host = host
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serve(app: Any) -> Iterator[ServerThread]:
    srv = ServerThread(app).start()
    try:
        yield srv
    finally:
        srv.stop()
