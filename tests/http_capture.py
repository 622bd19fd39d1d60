"""A local HTTP server that records what receivers POST and answers as told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Capture", "Request", "capture"]


@dataclass
class Request:
    path: str
    body: Any
    at: float  # time.monotonic() on arrival


@dataclass
class Capture:
    """``answers`` are (status, body) popped per request; then 200 (or ``status``)."""

    requests: list[Request] = field(default_factory=list)
    answers: list[tuple[int, bytes]] = field(default_factory=list)
    status: int = 200
    url: str = ""

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]


@dataclass
class _Server:
    cap: Capture
    server: ThreadingHTTPServer
    thread: threading.Thread


def _start() -> _Server:
    cap = Capture()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers["Content-Length"])
            raw = self.rfile.read(n)
            with lock:
                status, body = cap.answers.pop(0) if cap.answers else (cap.status, b"{}")
                if status < 300:
                    cap.requests.append(Request(self.path, json.loads(raw), time.monotonic()))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    cap.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return _Server(cap, server, thread)


def capture() -> Iterator[Capture]:
    """Generator body for a fixture: yields a running Capture, shuts it down after."""
    s = _start()
    try:
        yield s.cap
    finally:
        s.server.shutdown()
        s.server.server_close()
