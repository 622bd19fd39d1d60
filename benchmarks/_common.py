"""Helpers shared by the benchmark scripts: timing, result tables, a webhook capture."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["WebhookCapture", "median_ns_per_call", "table"]


class WebhookCapture:
    """A local HTTP server keeping every JSON body POSTed to it, with its arrival time
    (``time.time()``), in arrival order."""

    def __init__(self) -> None:
        self.received: list[tuple[float, Any]] = []
        received, lock = self.received, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                now = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    received.append((now, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def median_ns_per_call(fn: Callable[[int], None], *, batch: int, batches: int) -> float:
    """Median over ``batches`` of (time of ``fn(batch)``) / batch, in ns.

    Timing batches rather than single calls keeps the clock's own cost
    (~50-100 ns) out of sub-microsecond results.
    """
    import time

    per_call = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        fn(batch)
        per_call.append((time.perf_counter_ns() - t0) / batch)
    return statistics.median(per_call)


def table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, sep, *body])
