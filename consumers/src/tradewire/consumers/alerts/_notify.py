"""Notifications: routing, grouping, repeats, silences, and delivery with retries.

Each receiver keeps the alerts it has been sent that still fire. A firing change joins
its group (``group_by`` labels) and goes out when the group's ``group_wait`` is over;
a resolve goes only to receivers that were sent the firing (and want resolves); a
still-firing alert is sent again every ``repeat_interval``; a silenced alert is held
back and sent if it is still firing when the silence ends.

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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tradewire.schemas import AlertChange

from ._payloads import (
    Notification,
    alertmanager_alerts,
    alertmanager_webhook,
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


class DeliveryError(Exception):
    """A receiver refused or could not take a notification."""

    def __init__(self, message: str, *, retry: bool = True, after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry = retry
        self.after_s = after_s


@dataclass
class _Sent:
    change: AlertChange  # the latest firing change
    sent_at: float | None = None  # None: held back (silenced) so far


@dataclass
class _Group:
    first_at: float
    changes: dict[str, AlertChange] = field(default_factory=dict)  # by fingerprint


@dataclass
class _State:
    active: dict[str, _Sent] = field(default_factory=dict)
    groups: dict[tuple[str, ...], _Group] = field(default_factory=dict)


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
        silenced: Callable[[AlertChange, float], bool] = lambda change, now: False,
    ) -> None:
        self.receivers = receivers
        self.silenced = silenced
        self.sent: Counter[str] = Counter()  # notifications delivered, per receiver
        self.failed: Counter[str] = Counter()  # notifications given up on
        self.held: Counter[str] = Counter()  # firing changes held back by a silence
        self._state = {r.name: _State() for r in receivers}
        self._tasks: set[asyncio.Task[None]] = set()
        self._chat_free_at: dict[str, float] = {}  # telegram chat -> next send allowed
        self.dirty = False  # sent state changed since the service last saved it

    # -- input ----------------------------------------------------------------------------
    def export_state(self) -> dict[str, dict[str, float | None]]:
        """Per receiver, when each firing alert was last sent (None: held back)."""
        return {
            name: {fp: sent.sent_at for fp, sent in st.active.items()}
            for name, st in self._state.items()
        }

    def restore(
        self, firing: list[AlertChange], saved: dict[str, dict[str, float | None]], now: float
    ) -> None:
        """After a restart: what was sent stays sent (no re-page), what a silence held
        back stays held. A receiver with no saved state (new, or state from before it
        existed) counts the alerts as sent now."""
        for change in firing:
            for r in self.receivers:
                if not r.routes(change):
                    continue
                mine = saved.get(r.name)
                sent_at = now if mine is None else mine.get(change.fingerprint)
                self._state[r.name].active[change.fingerprint] = _Sent(change, sent_at)

    def notify(self, change: AlertChange, now: float) -> None:
        for r in self.receivers:
            st = self._state[r.name]
            if change.state == "firing":
                if not r.routes(change):
                    continue
                sent = st.active.setdefault(change.fingerprint, _Sent(change))
                sent.change = change
                if self.silenced(change, now):
                    self.held[r.name] += 1
                    continue
            elif change.state == "resolved":
                was = st.active.pop(change.fingerprint, None)
                if was is not None and was.sent_at is None:  # not sent yet: never send it
                    for group in st.groups.values():
                        group.changes.pop(change.fingerprint, None)
                if was is None or was.sent_at is None or not r.send_resolved:
                    continue  # never told of it, so nothing to take back
            else:
                continue  # pending and inactive are not notified
            self._enqueue(r, st, change, now)
        self.flush(now)

    def _enqueue(self, r: Receiver, st: _State, change: AlertChange, now: float) -> None:
        labels = alert_labels(change)
        key = tuple(labels.get(k, "") for k in r.group_by)
        group = st.groups.get(key)
        if group is None:
            group = st.groups[key] = _Group(first_at=now)
        group.changes[change.fingerprint] = change

    def flush(self, now: float) -> None:
        """Send groups whose wait is over, repeats that are due, and alerts whose silence
        ended. Called on every change and on the service's clock."""
        for r in self.receivers:
            st = self._state[r.name]
            for fp, sent in st.active.items():
                due = sent.sent_at is None or now - sent.sent_at >= r.repeat_s
                queued = any(fp in g.changes for g in st.groups.values())
                if due and not queued and not self.silenced(sent.change, now):
                    self._enqueue(r, st, sent.change, now)
            wait = r.group_wait_s
            for key, group in list(st.groups.items()):
                if now - group.first_at < wait:
                    continue
                del st.groups[key]
                alerts = [
                    c
                    for c in group.changes.values()
                    if c.state == "resolved" or not self.silenced(c, now)
                ]
                for c in alerts:
                    if c.state == "firing" and c.fingerprint in st.active:
                        st.active[c.fingerprint].sent_at = now
                        self.dirty = True
                if alerts:
                    labels = dict(zip(r.group_by, key, strict=True))
                    self._spawn(r, Notification(r.name, labels, alerts))

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
