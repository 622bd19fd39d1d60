"""``tradewire serve alerts``: rules evaluated on the stream, state changes published,
state kept in a NATS key-value bucket (one key per alert and per bot), notifications
sent, retired bots forgotten."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path

import msgspec

from tradewire.consumers.fleet import Retired
from tradewire.consumers.runtime import (
    Acks,
    Check,
    ConfigError,
    ConsumerService,
    Delivery,
    ServiceSettings,
    load_config,
    read_history,
    read_prefix,
)
from tradewire.publisher import (
    MAX_REPLICAS,
    ensure_alerts_stream,
    ensure_events_stream,
    ensure_replicas,
    events_replicas,
)
from tradewire.schemas import DEFAULT_ROOT, AlertChange, Envelope, EventError, Subjects, decode

from ._engine import BotState, Engine
from ._inhibit import parse_inhibit_rules
from ._metrics import add_metrics
from ._notify import Notifier
from ._receivers import parse_receivers
from ._rules import DEFAULT_RULES, RuleError, load_rules
from ._silences import SilenceWatch, open_bucket
from ._state import (
    ALERT_PREFIX,
    BOT_PREFIX,
    RESOLVE_PREFIX,
    AlertRecord,
    StateStore,
    WaitingResolve,
)

__all__ = ["RULES_KEY", "AlertsConfig", "AlertsService", "load_alerts_config"]

log = logging.getLogger("tradewire.alerts")
_BOT_SAVE_S = 5.0  # bots' clocks and series are saved this often (alerts at each change)
_PUBLISH_TIMEOUT_S = 2.0  # a change's PubAck; past it the change is tried again next tick
# The names of the rules this service runs, a JSON list: `alerts silence` checks against it.
RULES_KEY = "rules"


class AlertsConfig(ServiceSettings, forbid_unknown_fields=True, kw_only=True):
    nats_url: str = ""
    root: str = DEFAULT_ROOT
    durable: str = ""  # default: <root>-alerts (-p<partition>of<partitions> for several)
    http_host: str = "127.0.0.1"
    http_port: int = 8203
    rules: str = ""  # default: the shipped default_rules.yaml
    tick_s: float = 1.0  # absence, for and keep_firing_for are checked this often
    max_batch: int = 5000
    max_wait_s: float = 0.05
    ack_wait_s: float = 10.0
    state_bucket: str = ""  # default: <root>_alerts
    # Copies of each key of the state bucket on a clustered JetStream (1-5); unset: as
    # many as the events stream has (the store's stream_replicas).
    state_replicas: int | None = None
    # A bot is evaluated once an event arrives whose time is within this of its receipt;
    # older events (imports, replays) fill windows but raise nothing by themselves.
    live_window_s: float = 300.0

    def __post_init__(self) -> None:
        subjects = Subjects(self.root)  # raises on a bad root
        self.durable = (self.durable or subjects.durable("alerts")) + self.instance().suffix()
        self.state_bucket = self.state_bucket or subjects.alerts_bucket
        if not 0.05 <= self.tick_s <= 60:
            raise ValueError("out of range: tick_s")
        if not 1 <= self.live_window_s <= 7 * 86400:
            raise ValueError("out of range: live_window_s (1 s to 7 days)")
        if self.state_replicas is not None and not 1 <= self.state_replicas <= MAX_REPLICAS:
            raise ValueError(f"out of range: state_replicas (1 to {MAX_REPLICAS})")


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
            inhibit_rules = parse_inhibit_rules(rule_file.inhibit_rules)
        except (RuleError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        self.notifier = Notifier(
            receivers, inhibit_rules=inhibit_rules, silenced=self.silences.silenced
        )
        self.engine = Engine(rule_file.rules, live_window_s=config.live_window_s)
        self.retired = Retired("alerts", self._retire)
        self.published: Counter[str] = Counter()  # changes the alerts stream took
        # Changes not published yet (NATS away or refusing): they go first, in order, at
        # the next try; Nats-Msg-Id (the change id) makes a repeated one count once.
        self.unpublished: deque[AlertChange] = deque()
        self._publish_lock = asyncio.Lock()  # the batch handler and the clock both publish
        self.state: StateStore | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._dirty: set[str] = set()  # alerts whose saved record is out of date
        self._resolves_saved: set[str] = set()  # alerts with a waiting resolve saved
        self._retire_changes: list[AlertChange] = []  # published at the next tick
        self._save_lock = asyncio.Lock()
        self._bots_saved_at = 0.0
        add_metrics(self)

    @property
    def state_save_failures(self) -> int:
        """KV writes of alert state that failed since start (for the service's metrics)."""
        return self.state.failures if self.state is not None else 0

    # -- events and clock ------------------------------------------------------------------
    def _observe(self, event: Envelope, now: float, *, evaluate: bool = True) -> list[AlertChange]:
        if not self.retired.admits(event.bot, event.ts):
            return []  # from before the bot was retired
        return self.engine.observe(event, now, evaluate=evaluate)

    async def handle(self, batch: Sequence[Delivery]) -> Acks:
        now = time.time()
        changes: list[AlertChange] = []
        for d in batch:
            try:
                bot, kind = self.parse_subject(d.subject)
                event = decode(
                    d.data, expect_bot=bot, expect_kind=kind, received_at=d.received_ns / 1e9
                )
            except EventError:
                continue  # the store quarantines it; an alert cannot use it
            changes += self._observe(event, now)
        await self._emit(changes, now)
        await self._save(now)
        return Acks(ack=list(batch))

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            try:
                await self._tick(time.time())
            except Exception:  # one bad tick must not stop the clock
                log.exception("alert evaluation failed")

    async def _tick(self, now: float) -> None:
        """One turn of the clock (also what benchmarks/alerts_ingest.py times)."""
        changes, self._retire_changes = self._retire_changes, []
        await self._emit(changes + self.engine.tick(now), now)
        self.notifier.flush(now)  # group waits and intervals, repeats, ends of mutes
        await self._save(now)

    def _retire(self, bot: str, at: float) -> None:
        """A bot was retired (now, or before this start): resolve and forget its alerts."""
        changes = self.engine.retire(bot, time.time())
        self._retire_changes += changes
        if changes:
            log.warning("bot %s retired: %d of its alert(s) end", bot, len(changes))

    async def _emit(self, changes: list[AlertChange], now: float) -> None:
        """Notify first (a page never waits on NATS), then publish on the alerts stream
        these changes and any still waiting from before."""
        if changes:
            for change in changes:
                self._dirty.add(change.fingerprint)
            self.notifier.notify_all(changes, now)
            self.unpublished.extend(changes)
        await self._publish_waiting()

    async def _publish_waiting(self) -> None:
        """Publish waiting changes in order while NATS is connected; stop at the first
        failure (the rest wait for the next batch or tick) rather than wait out a
        JetStream timeout per change while NATS is away."""
        nc = self.nc
        if nc is None:
            return
        js = nc.jetstream(timeout=_PUBLISH_TIMEOUT_S)
        async with self._publish_lock:
            while self.unpublished and nc.is_connected:
                change = self.unpublished[0]
                try:
                    await js.publish(
                        self.subjects.alert(change.bot, change.rule),
                        msgspec.json.encode(change),
                        headers={"Nats-Msg-Id": change.id},
                    )
                except Exception as exc:
                    log.error(
                        "publishing %s %s failed: %r; %d change(s) wait for the next try",
                        change.rule,
                        change.state,
                        exc,
                        len(self.unpublished),
                    )
                    return
                self.unpublished.popleft()
                self.published[change.state] += 1

    # -- state ---------------------------------------------------------------------------------
    def _alert_value(self, fingerprint: str) -> bytes | None:
        found = self.engine.instance(fingerprint)
        if found is None:
            return None  # inactive or resolved: nothing to keep
        key, inst, firing = found
        notified = self.notifier.export(fingerprint)
        return msgspec.json.encode(
            AlertRecord(
                key=key,
                instance=inst,
                notified=notified,
                firing=firing,
                told=self.notifier.export_told(fingerprint),
            )
        )

    async def _save(self, now: float, *, bots: bool = False) -> None:
        """Write what changed: each alert whose state or sent times changed, and, every
        few seconds (or when ``bots``), each bot that sent events. A key whose write
        failed stays dirty and is written again at the next save."""
        if self.state is None:
            return
        async with self._save_lock:
            alerts = self._dirty | self.notifier.dirty
            self._dirty, self.notifier.dirty = set(), set()
            items = {ALERT_PREFIX + fp: self._alert_value(fp) for fp in alerts}
            for fp in alerts:
                waiting = self.notifier.export_resolve(fp)
                if waiting is not None:
                    value = WaitingResolve(change=waiting[0], told=waiting[1])
                    items[RESOLVE_PREFIX + fp] = msgspec.json.encode(value)
                    self._resolves_saved.add(fp)
                elif fp in self._resolves_saved:
                    items[RESOLVE_PREFIX + fp] = None
                    self._resolves_saved.discard(fp)
            if bots or now - self._bots_saved_at >= _BOT_SAVE_S:
                self._bots_saved_at = now
                names, self.engine.dirty_bots = self.engine.dirty_bots, set()
                for bot in names:
                    state = self.engine.bot_state(bot)
                    items[BOT_PREFIX + bot] = None if state is None else msgspec.json.encode(state)
            if not items:
                return
            try:
                failed = await self.state.write(items)
            except BaseException:  # cancelled mid-way (a tick, or a stop cut short): all again
                failed = set(items)
                if self._stopping:
                    log.error(  # the next start may notify these alerts again
                        "saving alert state cut short at shutdown: %d key(s) not saved",
                        len(items),
                    )
                raise
            finally:
                for key in failed:
                    name = key.partition(".")[2]
                    if key.startswith(ALERT_PREFIX):
                        self._dirty.add(name)
                    elif key.startswith(RESOLVE_PREFIX):
                        self._dirty.add(name)
                        self._resolves_saved.add(name)  # may be there: delete it next time
                    else:
                        self.engine.dirty_bots.add(name)

    async def _load(self) -> None:
        assert self.nc is not None
        bucket = self.config.state_bucket
        replicas = self.config.state_replicas or await events_replicas(self.nc, self.subjects)
        kv = await open_bucket(self.nc, bucket, replicas)
        await ensure_replicas(self.nc, f"KV_{bucket}", replicas)  # it owns its bucket
        self.state = StateStore(kv)
        legacy = await self.state.read_legacy()
        if legacy is not None and self.partition.partitioned:
            raise ConfigError(
                f"{bucket} holds alert state in the layout from before one key per alert: "
                "start a single alerts instance once to move it, then several"
            )
        if legacy is not None:
            self.engine.import_legacy(legacy.engine)
        # The bucket holds every instance's alerts and bots: this one loads its own, so a
        # replacement (or a new partition count) picks up exactly its bots' state.
        own = self.partition.owns
        js = self.nc.jetstream()
        records = {
            fp: r
            for fp, r in (await read_prefix(js, bucket, ALERT_PREFIX, AlertRecord)).items()
            if own(r.key[0])
        }
        for record in records.values():
            self.engine.import_instance(record.key, record.instance)
        for bot, state in (await read_prefix(js, bucket, BOT_PREFIX, BotState)).items():
            if own(bot):
                self.engine.import_bot(bot, state)
        firing = self.engine.firing()
        notified = {fp: r.notified for fp, r in records.items()}
        if legacy is not None:
            notified = legacy.notified_by_alert([c.fingerprint for c in firing]) | notified
        # Sent before the restart stays sent (no re-page); held by a silence stays held.
        told = {fp: r.told for fp, r in records.items()}
        self.notifier.restore(firing, notified, time.time(), told=told)
        # Resolves that waited for their group's interval wait again, then go.
        waiting = await read_prefix(js, bucket, RESOLVE_PREFIX, WaitingResolve)
        self.notifier.restore_resolves([(w.change, w.told) for w in waiting.values()], time.time())
        self._resolves_saved = set(waiting)
        self._dirty |= set(waiting)  # saved again as they are now (or deleted)
        if legacy is not None:
            self._dirty |= {c.fingerprint for c in firing}
            self._dirty |= {i.fingerprint for i in self.engine.instances.values()}
            self.engine.dirty_bots |= set(self.engine.bots)
            await self._save(time.time(), bots=True)
            if self.state.failed:
                log.error("alert state kept in the old layout: writing the new one failed")
            else:
                await self.state.drop_legacy()
                log.warning(
                    "alert state moved to one key per alert and per bot (%d alerts, %d bots)",
                    len(self.engine.instances),
                    len(self.engine.bots),
                )
        await self.silences.start(kv)

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
            lambda ev: self._observe(ev, now, evaluate=False),
            since=now - longest,
            name=f"{self.config.durable}-history",
            partition=self.partition,
        )

    # -- lifecycle -------------------------------------------------------------------------------
    async def setup(self) -> None:
        assert self.nc is not None
        await ensure_events_stream(self.nc, self.subjects)
        await ensure_alerts_stream(self.nc, self.subjects)
        await self._load()
        assert self.state is not None
        await self.state.write({RULES_KEY: msgspec.json.encode(sorted(self.engine.rules))})
        await self.retired.attach(self.nc.jetstream(), self.subjects.fleet_bucket)
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
        await self._publish_waiting()
        await self._save(time.time(), bots=True)
        await self.silences.stop()
        await self.retired.stop()
        await self.notifier.drain()

    async def refresh(self) -> None:
        firing = sum(i.state == "firing" for i in self.engine.instances.values())
        n = self.notifier
        self.health.checks["notifications"] = Check(
            ok=not n.failed,
            details={
                "sent": dict(n.sent),
                "failed": dict(n.failed),
                "held_by_silences": dict(n.held),
                "held_by_inhibition": dict(n.inhibited),
                "budget_summaries": dict(n.summaries),
                "waiting_for_budget": {k: v for k, v in n.over_budget.items() if v},
            },
        )
        st = self.state
        self.health.checks["state"] = Check(
            ok=st is None or not st.failed,
            details={
                "bucket": self.config.state_bucket,
                "writes": st.writes if st else 0,
                "save_failures": st.failures if st else 0,
                "keys_failing": len(st.failed) if st else 0,
                "last_error": st.last_error if st else "",
            },
        )
        live = sum(b.live for b in self.engine.bots.values())
        self.health.checks["alerts"] = Check(
            details={
                "rules": len(self.engine.rules),
                "firing": firing,
                "published": dict(self.published),
                "unpublished": len(self.unpublished),
                "silences": sum(s.active(time.time()) for s in self.silences.silences.values()),
                "bots_live": live,
                "bots_history_only": len(self.engine.bots) - live,
                "bots_retired": len(self.retired.retired),
            }
        )
