"""Notifications: receivers, routing by severity, bot and rule, retries with backoff.

Built: ``log`` and ``webhook`` (our JSON, or Alertmanager's webhook payload with
``format: alertmanager``). Slack, Telegram, PagerDuty, email and Alertmanager's API
are not built yet; a rules file naming them is refused at load time, not ignored.

Each firing or resolved change goes once to each matching receiver, from a task of
its own: a slow or failing receiver is retried with backoff, counted and logged, and
never holds up evaluation or the other receivers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import urllib.request
from collections import Counter
from typing import Any, Literal

import msgspec

from tradewire.schemas import AlertChange

__all__ = ["Notifier", "Receiver", "alertmanager_payload", "parse_receivers"]

log = logging.getLogger("tradewire.alerts.notify")


class Receiver(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    type: Literal["log", "webhook"]
    url: str = ""
    url_env: str = ""  # read the URL (it may hold a token) from this environment variable
    format: Literal["tradewire", "alertmanager"] = "tradewire"
    severities: list[Literal["info", "warning", "critical"]] = msgspec.field(
        default_factory=lambda: ["warning", "critical"]
    )
    bots: list[str] = msgspec.field(default_factory=list)  # empty: every bot
    rules: list[str] = msgspec.field(default_factory=list)  # empty: every rule
    send_resolved: bool = True
    timeout_s: float = 5.0
    max_attempts: int = 5

    def target(self) -> str:
        return os.environ.get(self.url_env, "") if self.url_env else self.url

    def wants(self, change: AlertChange) -> bool:
        if change.state == "resolved" and not self.send_resolved:
            return False
        return (
            change.state in ("firing", "resolved")
            and change.severity in self.severities
            and (not self.bots or change.bot in self.bots)
            and (not self.rules or change.rule in self.rules)
        )


def parse_receivers(raw: list[dict[str, Any]]) -> list[Receiver]:
    """Receivers from the rules file; a type not built yet is an error, not a no-op."""
    out = []
    for i, item in enumerate(raw):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind in ("slack", "telegram", "pagerduty", "email", "alertmanager"):
            raise ValueError(
                f"receivers[{i}]: type {kind!r} is not built yet (built: log, webhook)"
            )
        try:
            r = msgspec.convert(item, Receiver)
        except msgspec.ValidationError as exc:
            raise ValueError(f"receivers[{i}]: {exc}") from None
        if r.type == "webhook" and not r.target():
            raise ValueError(f"receivers[{i}] {r.name}: webhook needs url or url_env")
        out.append(r)
    return out or [Receiver(name="log", type="log")]


def _rfc3339(ts: float | None) -> str:
    if ts is None:
        return "0001-01-01T00:00:00Z"
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def alertmanager_payload(change: AlertChange, receiver: str) -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) for one alert."""
    labels = {
        "alertname": change.rule,
        "bot": change.bot,
        "severity": change.severity,
        **change.labels,
    }
    annotations = {"summary": change.summary, "runbook_url": change.runbook}
    status = "resolved" if change.state == "resolved" else "firing"
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{change.rule}", bot="{change.bot}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": change.rule, "bot": change.bot},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": _rfc3339(change.active_since),
                "endsAt": _rfc3339(change.ts if status == "resolved" else None),
                "generatorURL": "",
                "fingerprint": change.fingerprint,
            }
        ],
    }


def _post(url: str, body: bytes, timeout: float) -> int:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return int(resp.status)


class Notifier:
    def __init__(self, receivers: list[Receiver]) -> None:
        self.receivers = receivers
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, change: AlertChange) -> None:
        for r in self.receivers:
            if r.wants(change):
                task = asyncio.create_task(self._deliver(r, change))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, r: Receiver, change: AlertChange) -> None:
        if r.type == "log":
            log.warning(
                "[%s] %s %s bot=%s %s value=%s",
                change.state.upper(),
                change.severity,
                change.rule,
                change.bot,
                change.labels or "",
                change.value,
            )
            self.sent[r.name] += 1
            return
        body = json.dumps(
            alertmanager_payload(change, r.name)
            if r.format == "alertmanager"
            else msgspec.to_builtins(change)
        ).encode()
        delay = 0.5
        for attempt in range(1, r.max_attempts + 1):
            try:
                status = await asyncio.to_thread(_post, r.target(), body, r.timeout_s)
                if status < 300:
                    self.sent[r.name] += 1
                    return
                raise OSError(f"HTTP {status}")
            except Exception as exc:  # a receiver's failure must not escape its task
                if attempt == r.max_attempts:
                    self.failed[r.name] += 1
                    # The URL may carry a token: name the receiver, never the URL.
                    log.error(
                        "receiver %s gave up on %s %s after %d attempts: %s",
                        r.name,
                        change.rule,
                        change.state,
                        attempt,
                        type(exc).__name__,
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for deliveries in flight (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
