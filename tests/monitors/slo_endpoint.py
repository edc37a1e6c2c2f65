"""A model endpoint on loopback for the SLO tests, failing a set share of its requests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Endpoint"]


class Endpoint:
    """A model endpoint on 127.0.0.1 that fails (HTTP 503) every ``fail_every``-th request,
    the first one included (0: never)."""

    def __init__(self) -> None:
        self.fail_every = 0
        self.count = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    n = outer.count
                    outer.count += 1
                fail = outer.fail_every and n % outer.fail_every == 0
                body = b'{"error": "overloaded"}' if fail else b'{"label": "ham", "p": 0.1}'
                self.send_response(503 if fail else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
