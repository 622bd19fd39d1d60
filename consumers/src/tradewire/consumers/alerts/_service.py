"""``tradewire serve alerts``: rules evaluated on the stream, state changes published,
state kept in a NATS key-value bucket, notifications sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import msgspec
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from tradewire.consumers.runtime import (
    Acks,
    Check,
    ConfigError,
    ConsumerService,
    Delivery,
    SecuritySettings,
    load_config,
    read_history,
)
from tradewire.publisher import ensure_alerts_stream, ensure_events_stream
from tradewire.schemas import DEFAULT_ROOT, AlertChange, EventError, Subjects, decode

from ._engine import Engine
from ._metrics import add_metrics
from ._notify import Notifier
from ._receivers import parse_receivers
from ._rules import DEFAULT_RULES, RuleError, load_rules
from ._silences import SilenceWatch, open_bucket

__all__ = ["FIRING_KEY", "RULES_KEY", "AlertsConfig", "AlertsService", "load_alerts_config"]

log = logging.getLogger("tradewire.alerts")
_STATE_KEY = "engine"
# The alerts firing now, as a JSON list of AlertChange: what `alerts list` shows and
# the metrics service exports.
FIRING_KEY = "firing"
_NOTIFIED_KEY = "notified"  # per receiver, when each firing alert was last sent
# The names of the rules this service runs, a JSON list: `alerts silence` checks against it.
RULES_KEY = "rules"


class AlertsConfig(SecuritySettings, forbid_unknown_fields=True, kw_only=True):
    nats_url: str = ""
    root: str = DEFAULT_ROOT
    durable: str = ""  # default: <root>-alerts
    http_host: str = "127.0.0.1"
    http_port: int = 8203
    rules: str = ""  # default: the shipped default_rules.yaml
    tick_s: float = 1.0  # absence, for and keep_firing_for are checked this often
    max_batch: int = 5000
    max_wait_s: float = 0.05
    ack_wait_s: float = 10.0
    state_bucket: str = ""  # default: <root>_alerts

    def __post_init__(self) -> None:
        subjects = Subjects(self.root)  # raises on a bad root
        self.durable = self.durable or subjects.durable("alerts")
        self.state_bucket = self.state_bucket or subjects.alerts_bucket
        if not 0.05 <= self.tick_s <= 60:
            raise ValueError("out of range: tick_s")


def load_alerts_config(
    path: Path | None, flags: dict[str, object], env: dict[str, str] | None = None
) -> AlertsConfig:
    return load_config(AlertsConfig, "alerts", path, flags, env)


class AlertsService(ConsumerService):
    name = "alerts"
    deliver_new = True  # history is replayed into windows at start, never into alerts

    def __init__(self, config: AlertsConfig) -> None:
        super().__init__(config)
        self.config = config
        path = Path(config.rules) if config.rules else DEFAULT_RULES
        self.silences = SilenceWatch()
        try:
            rule_file = load_rules(path)
            receivers = parse_receivers(rule_file.receivers)
        except (RuleError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        self.notifier = Notifier(receivers, silenced=self.silences.silenced)
        self.engine = Engine(rule_file.rules)
        self.published: Counter[str] = Counter()
        self.state_save_failures = 0
        self._kv: KeyValue | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._dirty = False
        add_metrics(self)

    # -- events and clock ------------------------------------------------------------------
    async def handle(self, batch: Sequence[Delivery]) -> Acks:
        now = time.time()
        changes: list[AlertChange] = []
        for d in batch:
            try:
                bot, kind = self.subjects.parse_event(d.subject)
                event = decode(d.data, expect_bot=bot, expect_kind=kind)
            except EventError:
                continue  # the store quarantines it; an alert cannot use it
            changes += self.engine.observe(event, now)
        await self._emit(changes)
        return Acks(ack=list(batch))

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            try:
                now = time.time()
                await self._emit(self.engine.tick(now))
                self.notifier.flush(now)  # group waits, repeats, silences that ended
                if self.notifier.dirty:
                    await self._save()
            except Exception:  # one bad tick must not stop the clock
                log.exception("alert evaluation failed")

    async def _emit(self, changes: list[AlertChange]) -> None:
        if not changes:
            return
        assert self.nc is not None
        js = self.nc.jetstream()
        for change in changes:
            self.published[change.state] += 1
            try:
                await js.publish(
                    self.subjects.alert(change.bot, change.rule),
                    msgspec.json.encode(change),
                    headers={"Nats-Msg-Id": change.id},
                )
            except Exception as exc:
                log.error("publishing %s %s failed: %r", change.rule, change.state, exc)
            self.notifier.notify(change, time.time())
        await self._save()

    # -- state ---------------------------------------------------------------------------------
    async def _save(self) -> None:
        if self._kv is None:
            return
        try:
            await self._kv.put(_STATE_KEY, msgspec.json.encode(self.engine.export_state()))
            await self._kv.put(FIRING_KEY, msgspec.json.encode(self.engine.firing()))
            self.notifier.dirty = False
            await self._kv.put(_NOTIFIED_KEY, msgspec.json.encode(self.notifier.export_state()))
        except Exception as exc:  # state is saved again at the next change
            self.state_save_failures += 1
            log.error("saving alert state failed: %r", exc)

    async def _load(self) -> None:
        assert self.nc is not None
        self._kv = await open_bucket(self.nc, self.config.state_bucket)
        with contextlib.suppress(KeyNotFoundError):
            entry = await self._kv.get(_STATE_KEY)
            if entry.value:
                self.engine.import_state(msgspec.json.decode(entry.value))
        notified: dict[str, dict[str, float | None]] = {}
        with contextlib.suppress(KeyNotFoundError):
            entry = await self._kv.get(_NOTIFIED_KEY)
            if entry.value:
                notified = msgspec.json.decode(entry.value, type=type(notified))
        # Sent before the restart stays sent (no re-page); held by a silence stays held.
        self.notifier.restore(self.engine.firing(), notified, time.time())
        await self.silences.start(self._kv)

    async def _replay_windows(self) -> int:
        """Fill count/ratio/quantile windows from the stream's recent events (no alerts)."""
        assert self.nc is not None
        longest = max((r.window_s for r in self.engine.rules.values()), default=0.0)
        if longest <= 0:
            return 0
        now = time.time()
        return await read_history(
            self.nc,
            self.subjects,
            lambda ev: self.engine.observe(ev, now, evaluate=False),
            since=now - longest,
            name=f"{self.config.durable}-history",
        )

    # -- lifecycle -------------------------------------------------------------------------------
    async def setup(self) -> None:
        assert self.nc is not None
        await ensure_events_stream(self.nc, self.subjects)
        await ensure_alerts_stream(self.nc, self.subjects)
        await self._load()
        assert self._kv is not None
        await self._kv.put(RULES_KEY, msgspec.json.encode(sorted(self.engine.rules)))
        replayed = await self._replay_windows()
        log.info(
            "alerts: %d rules, %d recent events replayed into windows",
            len(self.engine.rules),
            replayed,
        )
        self._ticker = self.spawn(self._tick_forever(), "ticker")

    async def teardown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self._save()
        await self.silences.stop()
        await self.notifier.drain()

    async def refresh(self) -> None:
        firing = sum(i.state == "firing" for i in self.engine.instances.values())
        self.health.checks["notifications"] = Check(
            ok=not self.notifier.failed,
            details={
                "sent": dict(self.notifier.sent),
                "failed": dict(self.notifier.failed),
                "held_by_silences": dict(self.notifier.held),
            },
        )
        self.health.checks["alerts"] = Check(
            details={
                "rules": len(self.engine.rules),
                "firing": firing,
                "published": dict(self.published),
                "silences": sum(s.active(time.time()) for s in self.silences.silences.values()),
            }
        )
