"""The console's HTTP routes, served by the metrics service next to ``/metrics``.

- ``/``: the page; ``/console/<file>``: its script and style sheet (package data, no CDN);
- ``/api/fleet``: the fleet table and the alerts panel (the page polls it every second);
- ``/api/bot?bot=B``: one bot's row, chart series, recent orders and errors;
- ``POST /api/silences`` (``{"rule", "bot", "duration", "comment"}``) and
  ``POST /api/silences/end`` (``{"id"}``): a silence written to (or deleted from) the
  alerts service's bucket, which is how ``tradewire alerts silence`` does it; the alerts
  service watches the bucket. The write uses the metrics service's own NATS connection;
  with NATS authorization on, that connection needs the right to publish to the bucket's
  ``silence.`` keys (docs/console.md);
- ``/reports/`` and ``/reports/<file>``: the configured reports directory, read-only.

The routes go through the service's HTTP server like every other route, so whatever
that server requires of a client (e.g. basic auth) it requires here too. A POST must be
JSON from this same origin: a page elsewhere cannot make a browser silence alerts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib.resources
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from tradewire.consumers.alerts import Silence, add_silence, parse_duration, remove_silence
from tradewire.consumers.alerts._silences import SilenceWatch
from tradewire.consumers.runtime import Request, Route
from tradewire.schemas import BOT_ID_PATTERN, AlertChange

from ._fleet import COLUMNS, FleetView
from ._history import History
from ._reports import Reports

if TYPE_CHECKING:
    from tradewire.consumers.metrics import Aggregator

__all__ = ["MAX_SILENCE_S", "Console", "SilenceForm"]

log = logging.getLogger("tradewire.console")

MAX_SILENCE_S = 90 * 86400.0  # as `tradewire alerts silence --for`
_BOT = re.compile(BOT_ID_PATTERN)
_JSON = "application/json"
_RETRY_BUCKET_S = 2.0  # how often a missing alerts bucket is looked for again
_ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}


class SilenceForm(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What the page's silence form sends."""

    rule: str = ""
    bot: str = ""
    duration: str
    comment: str


class _EndForm(msgspec.Struct, forbid_unknown_fields=True):
    id: str


def _json(code: int, body: Any) -> tuple[int, str, bytes]:
    return code, _JSON, msgspec.json.encode(body)


def _error(code: int, message: str) -> tuple[int, str, bytes]:
    return _json(code, {"error": message})


def _assets() -> dict[str, tuple[str, bytes]]:
    """The page's files, read once from the package."""
    out = {}
    for entry in importlib.resources.files(__package__ or __name__).joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _ASSET_TYPES:
            out[entry.name] = (_ASSET_TYPES[suffix], entry.read_bytes())
    return out


def _caller(req: Request) -> str:
    """Who is asking: the basic-auth user name when the request has one, else the address."""
    scheme, _, value = req.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        if user:
            return user
    return req.peer or "unknown"


def _cross_site(req: Request) -> str:
    """Why a POST is refused as not coming from this origin's page ('' if it is not)."""
    ctype = req.get("content-type", "").partition(";")[0].strip().lower()
    if ctype != _JSON:
        return "send JSON (Content-Type: application/json)"
    origin = req.get("origin", "")
    if origin and urllib.parse.urlsplit(origin).netloc != req.get("host", ""):
        return f"a page from {origin} may not change silences here"
    if req.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "a page from another site may not change silences here"
    return ""


class Console:
    """The console of one metrics service: its routes, and what it keeps to answer them.

    ``firing`` returns the alerts firing now (from the alerts service's bucket);
    ``nats`` the service's NATS connection (None until connected).
    """

    def __init__(
        self,
        agg: Aggregator,
        history: History,
        *,
        firing: Callable[[], Awaitable[list[AlertChange]]],
        nats: Callable[[], Client | None],
        alerts_bucket: str,
        bot_down_after_s: float,
        reports_dir: str = "",
        silences: bool = True,
    ) -> None:
        self.agg = agg
        self.history = history
        self.firing = firing
        self.nats = nats
        self.alerts_bucket = alerts_bucket
        self.bot_down_after_s = bot_down_after_s
        self.reports = Reports(reports_dir) if reports_dir else None
        self.silences_on = silences
        self.assets = _assets()
        self.watch: SilenceWatch | None = None
        self._looked_for_bucket = -float("inf")

    def routes(self) -> dict[str, Route]:
        routes: dict[str, Route] = {
            "/": self._index,
            "/console/*": self._asset,
            "/api/fleet": self._fleet,
            "/api/bot": self._bot,
            "POST /api/silences": self._add_silence,
            "POST /api/silences/end": self._end_silence,
        }
        if self.reports is not None:
            routes |= {"/reports": self._reports_index, "/reports/*": self._report}
        return routes

    async def close(self) -> None:
        if self.watch is not None:
            await self.watch.stop()
            self.watch = None

    # -- alerts bucket --------------------------------------------------------------------
    async def _bucket(self) -> KeyValue | None:
        """The alerts service's bucket; None while it does not exist (never created here:
        the alerts service owns it)."""
        nc = self.nats()
        if nc is None or not nc.is_connected:
            return None
        try:
            return await nc.jetstream().key_value(self.alerts_bucket)
        except BucketNotFoundError:
            return None

    async def _silences(self) -> list[Silence]:
        """The silences, as the alerts service sees them (a watch on its bucket, started
        once the bucket exists)."""
        if self.watch is None and time.monotonic() - self._looked_for_bucket > _RETRY_BUCKET_S:
            self._looked_for_bucket = time.monotonic()
            try:
                kv = await self._bucket()
                if kv is not None:
                    watch = SilenceWatch()
                    await watch.start(kv)
                    self.watch = watch
            except Exception as exc:  # the page still shows the fleet
                log.warning("console: watching silences in %s failed: %r", self.alerts_bucket, exc)
        return list(self.watch.silences.values()) if self.watch is not None else []

    # -- pages and data -------------------------------------------------------------------
    async def _index(self, req: dict[str, str]) -> tuple[int, str, bytes]:
        ctype, body = self.assets["index.html"]
        return 200, ctype, body

    async def _asset(self, req: Request) -> tuple[int, str, bytes]:
        asset = self.assets.get(req.path.removeprefix("/console/"))
        if asset is None:
            return _error(404, "no such file")
        return 200, asset[0], asset[1]

    async def _view(self) -> FleetView:
        """The fleet now: values, the alerts firing, the silences."""
        firing = await self.firing()
        silences = await self._silences()
        self.history.keep_only(self.agg.bots)
        return FleetView(
            self.agg,
            self.history,
            firing=firing,
            silences=silences,
            now=time.time(),
            down_after_s=self.bot_down_after_s,
        )

    async def _fleet(self, req: dict[str, str]) -> tuple[int, str, bytes]:
        view = await self._view()
        return _json(
            200,
            {
                "ts": view.now,
                "columns": COLUMNS,
                "rows": view.rows(),
                "alerts": view.alerts(),
                "bot_down_after_s": self.bot_down_after_s,
                "reports": "/reports/" if self.reports is not None else None,
                "silences": {
                    "allowed": self.silences_on,
                    "bucket": self.alerts_bucket,
                    "watching": self.watch is not None,
                },
            },
        )

    async def _bot(self, req: Request) -> tuple[int, str, bytes]:
        bot = req.query.get("bot", "")
        if not _BOT.match(bot):
            return _error(400, "give ?bot=<bot id>")
        view = await self._view()
        data = view.bot(bot)
        if data is None:
            return _error(404, f"no bot {bot!r} in this metrics service")
        return _json(200, {"ts": view.now, "columns": COLUMNS, **data})

    # -- silences -------------------------------------------------------------------------
    async def _writable(self, req: Request) -> tuple[KeyValue | None, tuple[int, str, bytes]]:
        """The bucket to change silences in, or why not (as the answer to send)."""
        if not self.silences_on:
            return None, _error(403, "silencing from the console is off (console_silences)")
        refused = _cross_site(req)
        if refused:
            return None, _error(403 if "page" in refused else 415, refused)
        kv = await self._bucket()
        if kv is None:
            return None, _error(
                503,
                f"no alerts bucket {self.alerts_bucket!r} on NATS: is the alerts service "
                "running on this root?",
            )
        return kv, (200, _JSON, b"")

    async def _add_silence(self, req: Request) -> tuple[int, str, bytes]:
        kv, answer = await self._writable(req)
        if kv is None:
            return answer
        try:
            form = msgspec.json.decode(req.body, type=SilenceForm)
            seconds = parse_duration(form.duration)
            if not 0 < seconds <= MAX_SILENCE_S:
                raise ValueError("duration: between 1s and 90 days")
            if form.bot and not _BOT.match(form.bot):
                raise ValueError(f"bot {form.bot!r}: not a bot id")
            now = time.time()
            silence = Silence(
                rule=form.rule,
                bot=form.bot,
                starts_at=now,
                ends_at=now + seconds,
                comment=form.comment.strip(),
                created_by=f"{_caller(req)} (console)",
            )
            silence.validate()
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            return _error(400, str(exc))
        try:
            await add_silence(kv, silence)
        except Exception as exc:
            log.error("console: writing silence %s failed: %r", silence.id, exc)
            return _error(502, f"NATS refused the silence ({type(exc).__name__}): {exc}")
        log.info(
            "silence %s added from the console by %s: rule=%s bot=%s for %gs: %s",
            silence.id,
            silence.created_by,
            silence.rule or "*",
            silence.bot or "*",
            seconds,
            silence.comment,
        )
        return _json(200, {"id": silence.id, "ends_at": silence.ends_at})

    async def _end_silence(self, req: Request) -> tuple[int, str, bytes]:
        kv, answer = await self._writable(req)
        if kv is None:
            return answer
        try:
            silence_id = msgspec.json.decode(req.body, type=_EndForm).id
            found = await remove_silence(kv, silence_id)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            return _error(400, str(exc))
        except Exception as exc:
            return _error(502, f"NATS refused the change ({type(exc).__name__}): {exc}")
        if not found:
            return _error(404, f"no silence {silence_id}")
        log.info("silence %s ended from the console by %s", silence_id, _caller(req))
        return _json(200, {"id": silence_id, "ended": True})

    # -- reports --------------------------------------------------------------------------
    async def _reports_index(self, req: dict[str, str]) -> tuple[int, str, bytes]:
        assert self.reports is not None
        return 200, "text/html; charset=utf-8", await asyncio.to_thread(self.reports.index_html)

    async def _report(self, req: Request) -> tuple[int, str, bytes]:
        assert self.reports is not None
        name = req.path.removeprefix("/reports/")
        if not name:
            return await self._reports_index(req)
        return await asyncio.to_thread(self.reports.read, name)
