"""``/live``, ``/ready`` and ``/health`` with the seed playbook's JSON shapes and statuses.

``/health`` status, decided in this order: not live -> ``unhealthy``; a failed
check of severity ``critical`` (e.g. NATS unreachable) -> ``unhealthy``; not
ready -> ``starting``; any other failed check -> ``degraded``; else ``healthy``.
HTTP 200 for healthy and degraded, 503 otherwise. ``/live`` is ``{status:
pass|fail, live}``, ``/ready`` is ``{status, ready, reason}``, both 200 or 503.

The server is a few lines of asyncio, not a framework: services must stay
small. A route is keyed by its path (GET and HEAD), by ``"POST <path>"`` for a
POST, and a key ending in ``/*`` serves every path under it (``/reports/*``).
It gets a :class:`Request`: the headers (lower-cased names), as a dict, plus the
method, the path, the query and, for a POST, the body (``Content-Length`` up to
``MAX_BODY``; chunked bodies are refused). A client that sends
``Accept-Encoding: gzip`` (Prometheus does) gets the body gzipped; a large body
is compressed in a worker thread (zlib lets go of the GIL), not on the event
loop. HTML is served with a Content-Security-Policy that allows only this
origin's scripts and no framing. With a ``web.yml`` (:mod:`._web`) the server
speaks TLS and asks for basic auth on every route but the probes (``/live``,
``/ready``), before it reads a POST's body.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

from ._web import OPEN_ROUTES, WebConfig

__all__ = ["MAX_BODY", "Check", "Health", "HealthServer", "Request", "Route", "accepts_gzip"]

log = logging.getLogger("tradewire.consumers.http")

MAX_BODY = 64 * 1024  # the largest POST body read
_INLINE_GZIP = 64 * 1024  # smaller bodies are compressed on the loop (well under 1 ms)
# Pages may load this origin's scripts, styles and images only, and may not be framed
# (a framed console could be clicked into silencing alerts).
_HTML_HEADERS = (
    "Content-Security-Policy: default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'\r\nX-Frame-Options: DENY\r\n"
)


class Request(dict[str, str]):
    """The request headers (lower-cased names) and, as attributes, the rest of it.

    A dict of headers is what routes were always given, so a route that only reads
    headers takes ``dict[str, str]``; one that needs more takes a ``Request``.
    """

    def __init__(
        self,
        headers: Mapping[str, str],
        *,
        method: str = "GET",
        path: str = "/",
        query: Mapping[str, str] | None = None,
        body: bytes = b"",
        peer: str = "",
    ) -> None:
        super().__init__(headers)
        self.method = method
        self.path = path  # as sent, without the query; percent-escapes left as they are
        self.query: dict[str, str] = dict(query or {})  # first value of each name, decoded
        self.body = body
        self.peer = peer  # the client's address


# A route gets the request and answers (code, content type, body).
Route = Callable[[Request], Awaitable[tuple[int, str, bytes]]]


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


class _BadRequest(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


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

    def _route(self, method: str, path: str) -> Route | None:
        """The route for ``method`` and ``path``: exact first, then the longest ``/*`` key."""
        prefix = "POST " if method == "POST" else ""
        route = self.routes.get(prefix + path)
        if route is not None:
            return route
        best = ""
        for key in self.routes:
            if (" " in key and not prefix) or not key.startswith(prefix):
                continue
            pattern = key[len(prefix) :]
            if pattern.endswith("/*") and path.startswith(pattern[:-1]) and len(key) > len(best):
                best = key
        return self.routes[best] if best else None

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "transfer-encoding" in headers:
            raise _BadRequest(411, "send the body with a Content-Length")
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            raise _BadRequest(411, "a POST needs a Content-Length") from None
        if not 0 <= length <= MAX_BODY:
            raise _BadRequest(413, f"body larger than {MAX_BODY} bytes")
        return await reader.readexactly(length)

    async def _prepare(
        self,
        reader: asyncio.StreamReader,
        line: bytes,
        headers: dict[str, str],
        peer: str,
        extra: dict[str, str],
    ) -> tuple[Route, Request] | tuple[int, str, bytes]:
        """The route and its request (a POST's body read), or the error to answer.

        Headers the answer must carry (an auth challenge) are added to ``extra``.
        """
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return _json(400, {"error": "malformed request line"})
        method, target = parts[0], parts[1]
        path, _, query = target.partition("?")
        if method not in ("GET", "HEAD", "POST"):
            return _json(405, {"error": "only GET, HEAD and POST"})
        if not await self._authorized(path, headers):
            extra["WWW-Authenticate"] = 'Basic realm="tradewire", charset="UTF-8"'
            return _json(401, {"error": "unauthorized"})
        route = self._route(method, path)
        if route is None:
            if self._route("GET" if method == "POST" else "POST", path) is not None:
                return _json(405, {"error": f"{method} not allowed here"})
            return _json(404, {"error": "not found", "routes": sorted(self.routes)})
        try:
            body = await self._read_body(reader, headers) if method == "POST" else b""
        except _BadRequest as exc:
            return _json(exc.code, {"error": str(exc)})
        query_args = dict(reversed(urllib.parse.parse_qsl(query)))  # the first of each name
        return route, Request(
            headers, method=method, path=path, query=query_args, body=body, peer=peer
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                line = await reader.readline()
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                peer = writer.get_extra_info("peername")
                extra = dict(self.web.headers) if self.web else {}
                prepared = await self._prepare(
                    reader, line, headers, str(peer[0]) if peer else "", extra
                )
            if len(prepared) == 2:
                route, request = prepared
                code, ctype, body = await route(request)
            else:
                code, ctype, body = prepared
            parts = line.decode("latin-1").split()
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
            try:
                reason = HTTPStatus(code).phrase
            except ValueError:
                reason = ""
            more = _HTML_HEADERS if ctype.startswith("text/html") else ""
            more += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\n{encoding}{more}"
                "X-Content-Type-Options: nosniff\r\n"
                f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (
            TimeoutError,
            ConnectionError,
            UnicodeDecodeError,
            asyncio.IncompleteReadError,
            ssl.SSLError,
        ) as exc:
            log.debug("http: %r", exc)
        except Exception:
            log.exception("http handler failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
