"""``/live``, ``/ready`` and ``/health`` with the seed playbook's JSON shapes and statuses.

``/health`` status, decided in this order: not live -> ``unhealthy``; a failed
check of severity ``critical`` (e.g. NATS unreachable) -> ``unhealthy``; not
ready -> ``starting``; any other failed check -> ``degraded``; else ``healthy``.
HTTP 200 for healthy and degraded, 503 otherwise. ``/live`` is ``{status:
pass|fail, live}``, ``/ready`` is ``{status, ready, reason}``, both 200 or 503.

The server is a few lines of asyncio, not a framework: services must stay
small, and these endpoints take no input beyond a path and a few headers. A
client that sends ``Accept-Encoding: gzip`` (Prometheus does) gets the body
gzipped; a large body is compressed in a worker thread (zlib lets go of the
GIL), not on the event loop. With a ``web.yml`` (:mod:`._web`) the server speaks TLS
and asks for basic auth on every route but the probes (``/live``, ``/ready``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ._web import OPEN_ROUTES, WebConfig

__all__ = ["Check", "Health", "HealthServer", "Route", "accepts_gzip"]

log = logging.getLogger("tradewire.consumers.http")

# A route gets the request headers (lower-cased names) and answers (code, type, body).
Route = Callable[[dict[str, str]], Awaitable[tuple[int, str, bytes]]]
_INLINE_GZIP = 64 * 1024  # smaller bodies are compressed on the loop (well under 1 ms)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip;q=0`` does not)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        name, _, value = params.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        return q > 0
    return False


@dataclass
class Check:
    """One named check; ``details`` is shown as is in ``/health``."""

    ok: bool = True
    severity: Literal["warning", "critical"] = "warning"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Health:
    live: bool = True
    ready: bool = False
    reason: str = "initializing"
    checks: dict[str, Check] = field(default_factory=dict)
    # Refreshes checks just before /health answers (e.g. consumer lag).
    refresh: Callable[[], Awaitable[None]] | None = None
    # More top-level keys for /health (the metrics service adds "signals").
    extra: dict[str, Any] = field(default_factory=dict)

    def status(self) -> str:
        if not self.live:
            return "unhealthy"
        failed = [c for c in self.checks.values() if not c.ok]
        if any(c.severity == "critical" for c in failed):
            return "unhealthy"
        if not self.ready:
            return "starting"
        return "degraded" if failed else "healthy"

    def health_body(self) -> tuple[int, dict[str, Any]]:
        status = self.status()
        body = {
            "status": status,
            "live": self.live,
            "ready": self.ready,
            "reason": self.reason,
            "timestamp": time.time(),
            "checks": {
                name: {
                    "status": "pass" if c.ok else "fail",
                    "details": {**c.details, "severity": c.severity},
                }
                for name, c in self.checks.items()
            },
            **self.extra,
        }
        return (200 if status in ("healthy", "degraded") else 503), body


def _json(code: int, body: dict[str, Any]) -> tuple[int, str, bytes]:
    return code, "application/json", json.dumps(body).encode()


class HealthServer:
    """Serve the health routes (and any extra ones) on ``host:port``; port 0 picks one."""

    def __init__(
        self,
        health: Health,
        host: str = "127.0.0.1",
        port: int = 0,
        extra: dict[str, Route] | None = None,
        web: WebConfig | None = None,
    ) -> None:
        self.health = health
        self.web = web
        self.host = host
        self.port = port
        self.routes: dict[str, Route] = {
            "/live": self._live,
            "/ready": self._ready,
            "/health": self._health,
            **(extra or {}),
        }
        self._server: asyncio.Server | None = None

    async def start(self) -> HealthServer:
        tls = self.web.tls if self.web else None
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _authorized(self, path: str, headers: dict[str, str]) -> bool:
        web = self.web
        if web is None or not web.authenticates or path in OPEN_ROUTES:
            return True
        return await web.authorized(headers.get("authorization", ""))

    async def _live(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        live = self.health.live
        return _json(200 if live else 503, {"status": "pass" if live else "fail", "live": live})

    async def _ready(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        h = self.health
        return _json(
            200 if h.ready else 503,
            {"status": "pass" if h.ready else "fail", "ready": h.ready, "reason": h.reason},
        )

    async def _health(self, headers: dict[str, str]) -> tuple[int, str, bytes]:
        if self.health.refresh is not None:
            await self.health.refresh()
        return _json(*self.health.health_body())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                line = await reader.readline()
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
            parts = line.decode("latin-1").split()
            extra = dict(self.web.headers) if self.web else {}
            path = parts[1].split("?", 1)[0] if len(parts) == 3 else ""
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                code, ctype, body = _json(400, {"error": "malformed request line"})
            elif parts[0] not in ("GET", "HEAD"):
                code, ctype, body = _json(405, {"error": "only GET"})
            elif not await self._authorized(path, headers):
                code, ctype, body = _json(401, {"error": "unauthorized"})
                extra["WWW-Authenticate"] = 'Basic realm="tradewire", charset="UTF-8"'
            else:
                route = self.routes.get(path)
                if route is None:
                    code, ctype, body = _json(
                        404, {"error": "not found", "routes": sorted(self.routes)}
                    )
                else:
                    code, ctype, body = await route(headers)
            encoding = ""
            if body and accepts_gzip(headers.get("accept-encoding", "")):
                if len(body) > _INLINE_GZIP:
                    body = await asyncio.to_thread(gzip.compress, body, 6)
                else:
                    body = gzip.compress(body, 6)
                encoding = "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
            length = len(body)
            if parts and parts[0] == "HEAD":
                body = b""
            reason = {
                200: "OK",
                400: "Bad Request",
                401: "Unauthorized",
                404: "Not Found",
                405: "Method Not Allowed",
                503: "Service Unavailable",
            }.get(code, "")
            more = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\n{encoding}{more}"
                f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError, ssl.SSLError) as exc:
            log.debug("http: %r", exc)
        except Exception:
            log.exception("http handler failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
