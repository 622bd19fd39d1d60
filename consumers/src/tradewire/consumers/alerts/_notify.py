"""Notifications: routing, grouping, repeats, silences, inhibition, a budget, and
delivery with retries.

Each receiver keeps the alerts it has been sent that still fire. A firing change joins
its group (``group_by`` labels). A group goes out ``group_wait`` after its first change;
a group notified within the last ``group_interval`` waits until that much time has passed
since, and then sends everything that changed meanwhile in one notification. An alert
that fired and resolved before anything was sent is never sent; one that resolved and
fired again before its resolve went out is not sent again, nor one whose severity went
back to the one last sent before the change went out. A resolve goes only to
receivers that were sent the firing (and want resolves); a still-firing alert is sent
again every ``repeat_interval``. An alert held by a silence or an inhibition is sent if
it is still firing when that ends.

A receiver with a ``budget`` sends at most that many notifications per
``budget_window``; past it, groups wait (the most severe go first once it frees up) and
the receiver gets one summary per window saying what waits, and one more if something
more severe comes to wait after it.

Every delivery runs in a task of its own with retries and backoff: a slow or failing
receiver is counted and logged (by name: URLs and tokens are secrets) and never holds
up evaluation or the other receivers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradewire.schemas import AlertChange

from ._inhibit import DEFAULT_INHIBIT_RULES, Inhibitor, InhibitRule
from ._payloads import (
    SEVERITY_RANK,
    Notification,
    alertmanager_alerts,
    alertmanager_webhook,
    budget_summary,
    email_message,
    pagerduty_events,
    render_text,
    slack_payload,
    telegram_texts,
    tradewire_payload,
)
from ._receivers import (
    AlertmanagerReceiver,
    EmailReceiver,
    LogReceiver,
    PagerDutyReceiver,
    Receiver,
    SlackReceiver,
    TelegramReceiver,
    WebhookReceiver,
    alert_labels,
    secret,
)

__all__ = ["DeliveryError", "Notifier"]

log = logging.getLogger("tradewire.alerts.notify")
_MAX_BACKOFF_S = 30.0
GroupKey = tuple[str, ...]


class DeliveryError(Exception):
    """A receiver refused or could not take a notification."""

    def __init__(self, message: str, *, retry: bool = True, after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry = retry
        self.after_s = after_s


@dataclass
class _Sent:
    change: AlertChange  # the latest firing change
    sent_at: float | None = None  # None: not sent (held back, or waiting) so far
    told: AlertChange | None = None  # the firing change the receiver was last sent


@dataclass
class _Group:
    first_at: float
    changes: dict[str, AlertChange] = field(default_factory=dict)  # by fingerprint
    # Resolves waiting here for alerts the receiver was told of, with what it was told:
    # if such an alert fires again before the resolve goes out, nothing changed for it.
    taken_back: dict[str, _Sent] = field(default_factory=dict)


@dataclass
class _State:
    active: dict[str, _Sent] = field(default_factory=dict)
    groups: dict[GroupKey, _Group] = field(default_factory=dict)
    queued: dict[str, GroupKey] = field(default_factory=dict)  # fingerprint -> its group
    last_sent: dict[GroupKey, float] = field(default_factory=dict)  # for group_interval
    sent_times: deque[float] = field(default_factory=deque)  # for the budget
    summary_at: float | None = None  # the last budget summary, and the most severe
    summary_rank: int = -1  # alert it told of


def _post(url: str, body: bytes, timeout: float) -> tuple[int, bytes, str]:
    """(status, body, Retry-After) for any HTTP answer; raises only when none came."""
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read(), ""
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(), exc.headers.get("Retry-After", "")


def _check(status: int, body: bytes, retry_after: str) -> None:
    """Raise unless 2xx; 4xx other than 408/429 is the request's fault: no retry."""
    if status < 300:
        return
    after = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 0.0
    if status == 429 and not after:
        try:  # Telegram puts it in the body
            after = float(json.loads(body)["parameters"]["retry_after"])
        except (ValueError, KeyError, TypeError):
            after = 1.0
    retry = status >= 500 or status in (408, 429)
    raise DeliveryError(f"HTTP {status}", retry=retry, after_s=after)


class Notifier:
    def __init__(
        self,
        receivers: list[Receiver],
        *,
        inhibit_rules: list[InhibitRule] | None = None,
        silenced: Callable[[AlertChange, float], bool] = lambda change, now: False,
    ) -> None:
        self.receivers = receivers
        self.silenced = silenced
        rules = DEFAULT_INHIBIT_RULES if inhibit_rules is None else inhibit_rules
        self.inhibitor = Inhibitor(rules)
        self.sent: Counter[str] = Counter()  # notifications delivered, per receiver
        self.failed: Counter[str] = Counter()  # notifications given up on
        self.held: Counter[str] = Counter()  # firing changes held back by a silence
        self.inhibited: Counter[str] = Counter()  # firing changes held back by inhibition
        self.summaries: Counter[str] = Counter()  # budget summaries sent
        self.over_budget: dict[str, int] = {}  # groups waiting for the budget now
        self._state = {r.name: _State() for r in receivers}
        self._tasks: set[asyncio.Task[None]] = set()
        self._chat_free_at: dict[str, float] = {}  # telegram chat -> next send allowed
        self.dirty: set[str] = set()  # alerts whose sent state changed since the last save

    # -- state ----------------------------------------------------------------------------
    def export(self, fingerprint: str) -> dict[str, float | None]:
        """Per receiver, when this firing alert was last sent (None: not yet)."""
        return {
            name: st.active[fingerprint].sent_at
            for name, st in self._state.items()
            if fingerprint in st.active
        }

    def export_told(self, fingerprint: str) -> dict[str, str]:
        """Per receiver, the severity this firing alert was last sent at."""
        return {
            name: told.severity
            for name, st in self._state.items()
            if fingerprint in st.active and (told := st.active[fingerprint].told) is not None
        }

    def restore(
        self,
        firing: list[AlertChange],
        saved: dict[str, dict[str, float | None]],
        now: float,
        *,
        told: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """After a restart: what was sent stays sent (no re-page), what was not sent yet
        (held by a silence, waiting) is sent when it can be. ``saved`` is, per alert, per
        receiver, when it was sent; a receiver with no entry (new, or added since) counts
        the alert as sent now. ``told``: per alert, per receiver, the severity it was
        sent at (``export_told``); one that differs now is sent again when its group may."""
        for change in firing:
            self.inhibitor.update(change)
            mine = saved.get(change.fingerprint, {})
            severities = (told or {}).get(change.fingerprint, {})
            for r in self.receivers:
                if not r.routes(change):
                    continue
                st = self._state[r.name]
                sent_at = mine.get(r.name, now)
                was = severities.get(r.name, change.severity)
                had = None if sent_at is None else msgspec.structs.replace(change, severity=was)
                st.active[change.fingerprint] = _Sent(change, sent_at, had)
                if sent_at is not None:
                    key = self._key(r, change)
                    st.last_sent[key] = max(st.last_sent.get(key, 0.0), sent_at)
                    if was != change.severity and not self._muted(change, now):
                        self._enqueue(r, st, change, now)  # the change that waited

    def export_resolve(self, fingerprint: str) -> tuple[AlertChange, dict[str, float]] | None:
        """A resolve of this alert waiting to go out (``group_interval``): the change and,
        per receiver it waits for, when that receiver was sent the firing; None: none."""
        waiting: AlertChange | None = None
        told: dict[str, float] = {}
        for name, st in self._state.items():
            key = st.queued.get(fingerprint)
            group = st.groups.get(key) if key is not None else None
            back = group.taken_back.get(fingerprint) if group is not None else None
            if group is not None and back is not None and back.sent_at is not None:
                waiting = group.changes[fingerprint]
                told[name] = back.sent_at
        return None if waiting is None else (waiting, told)

    def restore_resolves(
        self, waiting: list[tuple[AlertChange, dict[str, float]]], now: float
    ) -> None:
        """After a restart: resolves that waited (``export_resolve``) wait again, each
        for the group interval since its receiver was sent the firing."""
        for change, told in waiting:
            fp = change.fingerprint
            for r in self.receivers:
                st = self._state[r.name]
                sent_at = told.get(r.name)
                if sent_at is None or not r.send_resolved or fp in st.active:
                    continue  # firing again since: restored as firing
                key = self._key(r, change)
                st.last_sent[key] = max(st.last_sent.get(key, 0.0), sent_at)
                self._enqueue(r, st, change, now).taken_back[fp] = _Sent(change, sent_at, change)

    # -- input ----------------------------------------------------------------------------
    def notify(self, change: AlertChange, now: float) -> None:
        self.notify_all([change], now)

    def notify_all(self, changes: Iterable[AlertChange], now: float) -> None:
        """Take a batch of changes, then send what is due: a critical change in the same
        batch inhibits a warning before either goes out."""
        for change in changes:
            self._add(change, now)
        self.flush(now)

    def _add(self, change: AlertChange, now: float) -> None:
        self.inhibitor.update(change)
        fp = change.fingerprint
        for r in self.receivers:
            st = self._state[r.name]
            if change.state == "firing":
                if not r.routes(change):
                    continue
                back = self._take_back(st, fp)
                if back is not None:  # resolved and firing again before the resolve went
                    told, back.change = back.change, change
                    st.active[fp] = back
                    self.dirty.add(fp)
                    if told.severity == change.severity:
                        continue  # the receiver still has it as firing: nothing new
                sent = st.active.get(fp)
                if sent is None:
                    sent = st.active[fp] = _Sent(change)
                    self.dirty.add(fp)
                sent.change = change
                if sent.told is not None and sent.told.severity == change.severity:
                    self._unqueue(st, fp)  # back to what the receiver has: nothing new
                    continue
                if self.silenced(change, now):
                    self.held[r.name] += 1
                elif self.inhibitor.inhibited(change):
                    self.inhibited[r.name] += 1
                else:
                    self._enqueue(r, st, change, now)
            elif change.state == "resolved":
                was = st.active.pop(fp, None)
                if was is None:
                    continue  # never told of it, so nothing to take back
                self.dirty.add(fp)
                self._unqueue(st, fp)  # a firing or repeat of it still waiting is moot
                if was.sent_at is not None and r.send_resolved:
                    self._enqueue(r, st, change, now).taken_back[fp] = was
            # pending and inactive are not notified

    # -- groups ---------------------------------------------------------------------------
    @staticmethod
    def _key(r: Receiver, change: AlertChange) -> GroupKey:
        labels = alert_labels(change)
        return tuple(labels.get(k, "") for k in r.group_by)

    def _enqueue(self, r: Receiver, st: _State, change: AlertChange, now: float) -> _Group:
        key = self._key(r, change)
        if st.queued.get(change.fingerprint, key) != key:
            self._unqueue(st, change.fingerprint)  # its group labels changed
        group = st.groups.get(key)
        if group is None:
            group = st.groups[key] = _Group(first_at=now)
        group.changes[change.fingerprint] = change
        st.queued[change.fingerprint] = key
        return group

    @staticmethod
    def _unqueue(st: _State, fp: str) -> None:
        key = st.queued.pop(fp, None)
        group = st.groups.get(key) if key is not None else None
        if group is not None:
            group.changes.pop(fp, None)
            group.taken_back.pop(fp, None)
            if not group.changes:
                del st.groups[key]  # type: ignore[arg-type]

    def _take_back(self, st: _State, fp: str) -> _Sent | None:
        key = st.queued.get(fp)
        group = st.groups.get(key) if key is not None else None
        if group is None or fp not in group.taken_back:
            return None
        back = group.taken_back[fp]
        self._unqueue(st, fp)
        return back

    def _muted(self, change: AlertChange, now: float) -> bool:
        return self.silenced(change, now) or self.inhibitor.inhibited(change)

    def flush(self, now: float) -> None:
        """Send groups that are due, repeats that are due, and alerts whose silence or
        inhibition ended. Called after each batch of changes and on the service's clock."""
        for r in self.receivers:
            st = self._state[r.name]
            for fp, sent in st.active.items():
                if fp in st.queued:
                    continue
                due = sent.sent_at is None or now - sent.sent_at >= r.repeat_s
                if due and not self._muted(sent.change, now):
                    self._enqueue(r, st, sent.change, now)
            self._send_due(r, st, now)

    def _send_due(self, r: Receiver, st: _State, now: float) -> None:
        interval = r.group_interval_s
        due: list[tuple[GroupKey, _Group]] = []
        for key, group in st.groups.items():
            at = group.first_at + r.group_wait_s
            last = st.last_sent.get(key)
            if last is not None:
                at = max(at, last + interval)
            if now >= at:
                due.append((key, group))
        # Most severe first, then oldest: what the budget lets through, it lets through first.
        due.sort(
            key=lambda kg: (
                -max(SEVERITY_RANK[c.severity] for c in kg[1].changes.values()),
                kg[1].first_at,
            )
        )
        waiting: list[_Group] = []
        for key, group in due:
            alerts = []
            for c in group.changes.values():
                if c.state == "resolved":
                    alerts.append(c)
                elif self.silenced(c, now):  # muted since it was queued
                    self.held[r.name] += 1
                elif self.inhibitor.inhibited(c):
                    self.inhibited[r.name] += 1
                else:
                    alerts.append(c)
            if alerts and self._over_budget(r, st, now):
                waiting.append(group)
                continue
            for fp in list(group.changes):
                self._unqueue(st, fp)  # muted ones are queued again once they may go
            if not alerts:
                continue
            for c in alerts:
                if c.state == "resolved":
                    self.dirty.add(c.fingerprint)  # its saved waiting resolve goes
                if c.state == "firing" and c.fingerprint in st.active:
                    st.active[c.fingerprint].sent_at = now
                    st.active[c.fingerprint].told = c
                    self.dirty.add(c.fingerprint)
            st.last_sent[key] = now
            st.sent_times.append(now)
            self._spawn(r, Notification(r.name, dict(zip(r.group_by, key, strict=True)), alerts))
        self.over_budget[r.name] = len(waiting)
        held = [c for g in waiting for c in g.changes.values()]
        rank = max((SEVERITY_RANK[c.severity] for c in held), default=-1)
        # One summary per window, and one more if something more severe waits since.
        if waiting and (
            st.summary_at is None
            or now - st.summary_at >= r.budget_window_s
            or rank > st.summary_rank
        ):
            st.summary_at, st.summary_rank = now, rank
            self.summaries[r.name] += 1
            free_at = st.sent_times[0] + r.budget_window_s
            self._spawn(
                r,
                budget_summary(
                    r.name,
                    budget=r.budget_limit,
                    window=r.budget_window,
                    groups=len(waiting),
                    held=held,
                    free_at=free_at,
                    now=now,
                ),
            )
        if len(st.last_sent) > len(st.groups) + 1000:  # forget groups quiet for long
            st.last_sent = {k: t for k, t in st.last_sent.items() if now - t < interval}

    def _over_budget(self, r: Receiver, st: _State, now: float) -> bool:
        limit = r.budget_limit
        if limit <= 0:
            return False
        times = st.sent_times
        while times and times[0] <= now - r.budget_window_s:
            times.popleft()
        return len(times) >= limit

    def _spawn(self, r: Receiver, n: Notification) -> None:
        task = asyncio.create_task(self._deliver(r, n))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- delivery ---------------------------------------------------------------------------
    async def _deliver(self, r: Receiver, n: Notification) -> None:
        delay = 0.5
        for attempt in range(1, r.max_attempts + 1):
            try:
                await self._send(r, n)
                self.sent[r.name] += 1
                return
            except Exception as exc:  # a receiver's failure must not escape its task
                retry = not isinstance(exc, DeliveryError) or exc.retry
                if attempt == r.max_attempts or not retry:
                    self.failed[r.name] += 1
                    log.error(
                        "receiver %s gave up on %s (%d alert(s)) after %d attempt(s): %s",
                        r.name,
                        n.status,
                        len(n.alerts),
                        attempt,
                        exc if isinstance(exc, DeliveryError) else type(exc).__name__,
                    )
                    return
                after = exc.after_s if isinstance(exc, DeliveryError) else 0.0
                await asyncio.sleep(min(max(delay, after), _MAX_BACKOFF_S))
                delay = min(delay * 2, _MAX_BACKOFF_S)

    async def _http(self, url: str, payload: Any, timeout: float) -> None:
        body = json.dumps(payload).encode()
        _check(*await asyncio.to_thread(_post, url, body, timeout))

    async def _send(self, r: Receiver, n: Notification) -> None:
        if isinstance(r, LogReceiver):
            headline, lines = render_text(n)
            log.warning("%s\n%s", headline, "\n".join(lines))
        elif isinstance(r, WebhookReceiver):
            body = alertmanager_webhook(n) if r.format == "alertmanager" else tradewire_payload(n)
            await self._http(secret(r.url), body, r.timeout_s)
        elif isinstance(r, SlackReceiver):
            await self._http(secret(r.url), slack_payload(n), r.timeout_s)
        elif isinstance(r, TelegramReceiver):
            await self._telegram(r, n)
        elif isinstance(r, PagerDutyReceiver):
            for event in pagerduty_events(n, secret(r.routing_key), r.source):
                await self._http(r.url, event, r.timeout_s)
        elif isinstance(r, EmailReceiver):
            await asyncio.to_thread(self._smtp, r, n)
        elif isinstance(r, AlertmanagerReceiver):
            url = secret(r.url).rstrip("/") + "/api/v2/alerts"
            await self._http(url, alertmanager_alerts(n, time.time(), r.repeat_s), r.timeout_s)

    async def _telegram(self, r: TelegramReceiver, n: Notification) -> None:
        url = f"{r.api_url.rstrip('/')}/bot{secret(r.token)}/sendMessage"
        for text in telegram_texts(n):
            # Per-chat pacing: Telegram answers bursts to one chat with 429. Each send
            # reserves the chat's next slot before it sleeps, so concurrent sends queue.
            now = time.monotonic()
            slot = max(now, self._chat_free_at.get(r.chat_id, 0.0))
            self._chat_free_at[r.chat_id] = slot + r.min_interval_s
            if slot > now:
                await asyncio.sleep(slot - now)
            body = {"chat_id": r.chat_id, "text": text, "disable_web_page_preview": True}
            try:
                await self._http(url, body, r.timeout_s)
            except DeliveryError as exc:
                if exc.after_s:  # the chat is blocked for everyone, not only this send
                    blocked = time.monotonic() + exc.after_s
                    self._chat_free_at[r.chat_id] = max(self._chat_free_at[r.chat_id], blocked)
                raise

    @staticmethod
    def _smtp(r: EmailReceiver, n: Notification) -> None:
        host, _, port = r.smarthost.rpartition(":")
        msg = email_message(n, r.sender, r.to)
        smtp_cls = smtplib.SMTP_SSL if r.tls == "tls" else smtplib.SMTP
        try:
            with smtp_cls(host, int(port), timeout=r.timeout_s) as smtp:
                if r.tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if r.username:
                    smtp.login(r.username, secret(r.password))
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", retry=exc.smtp_code < 500) from None

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for deliveries in flight (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
