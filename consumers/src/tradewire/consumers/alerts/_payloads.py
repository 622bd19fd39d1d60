"""What each receiver sends, as pure functions of one notification (a group of alerts).

Formats follow each service's documentation: Alertmanager's webhook payload (version 4)
and API v2 ``postableAlerts``; Slack incoming webhooks (``text`` + ``blocks``, section
text at most 3000 characters); Telegram ``sendMessage`` (text at most 4096
characters: longer notifications are split at line ends); PagerDuty Events API v2
(``trigger``/``resolve`` with ``dedup_key``, summary at most 1024 characters).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import msgspec

from tradewire.schemas import AlertChange, AlertSeverity

from ._receivers import alert_labels

__all__ = [
    "BUDGET_RULE",
    "SEVERITY_RANK",
    "TELEGRAM_LIMIT",
    "Notification",
    "alertmanager_alerts",
    "alertmanager_webhook",
    "budget_summary",
    "email_message",
    "pagerduty_events",
    "render_text",
    "rfc3339",
    "slack_payload",
    "telegram_texts",
    "tradewire_payload",
]

TELEGRAM_LIMIT = 4096
BUDGET_RULE = "NotificationBudget"  # the alert name of a budget summary
_SLACK_SECTION = 3000
_PD_SUMMARY = 1024
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "not set"
_PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class Notification:
    """One group of alert changes for one receiver."""

    receiver: str
    group_labels: dict[str, str]
    alerts: list[AlertChange]

    @property
    def status(self) -> str:
        return "firing" if any(a.state == "firing" for a in self.alerts) else "resolved"

    @property
    def group_key(self) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(self.group_labels.items()))
        return f"{{}}:{{{inner}}}"


def rfc3339(ts: float | None) -> str:
    if ts is None:
        return _ZERO_TIME
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def _annotations(a: AlertChange) -> dict[str, str]:
    out = {"summary": a.summary, "runbook_url": a.runbook}
    if a.value is not None:
        out["value"] = f"{a.value:g}"
    return {k: v for k, v in out.items() if v}


def tradewire_payload(n: Notification) -> dict[str, Any]:
    return {
        "version": 1,
        "receiver": n.receiver,
        "status": n.status,
        "group_labels": n.group_labels,
        "alerts": [msgspec.to_builtins(a) for a in n.alerts],
    }


def alertmanager_webhook(n: Notification) -> dict[str, Any]:
    """Alertmanager's webhook payload, version 4."""
    labels = [alert_labels(a) for a in n.alerts]
    notes = [_annotations(a) for a in n.alerts]
    alerts = [
        {
            "status": "resolved" if a.state == "resolved" else "firing",
            "labels": lab,
            "annotations": ann,
            "startsAt": rfc3339(a.active_since),
            "endsAt": rfc3339(a.ts if a.state == "resolved" else None),
            "generatorURL": "",
            "fingerprint": a.fingerprint,
        }
        for a, lab, ann in zip(n.alerts, labels, notes, strict=True)
    ]
    common_labels = {k: v for k, v in labels[0].items() if all(x.get(k) == v for x in labels)}
    common_ann = {k: v for k, v in notes[0].items() if all(x.get(k) == v for x in notes)}
    return {
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": n.status,
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common_ann,
        "externalURL": "",
        "alerts": alerts,
    }


def _alert_line(a: AlertChange) -> str:
    extra = " ".join(f"{k}={v}" for k, v in sorted(a.labels.items()))
    value = f" value={a.value:g}" if a.value is not None else ""
    threshold = f" (threshold {a.threshold:g})" if a.threshold is not None else ""
    head = f"[{a.state.upper()}] {a.severity} {a.rule} bot={a.bot}"
    return " ".join(p for p in (head, extra) if p) + value + threshold


def render_text(n: Notification) -> tuple[str, list[str]]:
    """(headline, one line per alert with its summary and runbook)."""
    firing = sum(a.state == "firing" for a in n.alerts)
    labels = " ".join(f"{k}={v}" for k, v in n.group_labels.items())
    headline = f"[{n.status.upper()}:{firing or len(n.alerts)}] {labels}"
    lines = []
    for a in n.alerts:
        lines.append(_alert_line(a))
        if a.summary:
            lines.append(f"  {a.summary}")
        if a.runbook:
            lines.append(f"  runbook: {a.runbook}")
    return headline, lines


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(n: Notification) -> dict[str, Any]:
    headline, lines = render_text(n)
    body = _cut("\n".join(lines), _SLACK_SECTION - 8)
    return {
        "text": headline,  # the notification preview, and the fallback
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"}},
        ],
    }


def telegram_texts(n: Notification, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Plain-text messages of at most ``limit`` characters, split at line ends."""
    headline, lines = render_text(n)
    out: list[str] = []
    current = headline
    for full in lines:
        line = _cut(full, limit)
        if len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current += "\n" + line
    out.append(current)
    return out


def pagerduty_events(n: Notification, routing_key: str, source: str) -> list[dict[str, Any]]:
    """One Events v2 event per alert: PagerDuty deduplicates per alert, not per group."""
    out = []
    for a in n.alerts:
        event: dict[str, Any] = {
            "routing_key": routing_key,
            "event_action": "resolve" if a.state == "resolved" else "trigger",
            "dedup_key": f"tradewire-{a.fingerprint}",
        }
        if a.state != "resolved":
            event["payload"] = {
                "summary": _cut(_alert_line(a) + (f": {a.summary}" if a.summary else ""), 1024),
                "source": f"{source}/{a.bot}",
                "severity": _PD_SEVERITY[a.severity],
                "timestamp": rfc3339(a.active_since or a.ts),
                "component": a.bot,
                "group": a.rule,
                "class": a.rule,
                "custom_details": {
                    "labels": alert_labels(a),
                    "value": a.value,
                    "threshold": a.threshold,
                },
            }
            if a.runbook:
                event["links"] = [{"href": a.runbook, "text": "runbook"}]
        out.append(event)
    return out


def email_message(n: Notification, sender: str, to: list[str]) -> EmailMessage:
    headline, lines = render_text(n)
    msg = EmailMessage()
    msg["Subject"] = headline
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg.set_content("\n".join([headline, "", *lines]) + "\n")
    return msg


def alertmanager_alerts(n: Notification, now: float, resend_s: float) -> list[dict[str, Any]]:
    """Alertmanager API v2 ``postableAlerts``: a firing alert's endsAt is three resend
    intervals ahead (it resolves by itself if we stop sending); a resolved one's is
    when it resolved."""
    return [
        {
            "labels": alert_labels(a),
            "annotations": _annotations(a),
            "startsAt": rfc3339(a.active_since or a.ts),
            "endsAt": rfc3339(a.ts if a.state == "resolved" else now + 3 * resend_s),
            "generatorURL": "",
        }
        for a in n.alerts
    ]


def budget_summary(
    receiver: str,
    *,
    budget: int,
    window: str,
    groups: int,
    held: list[AlertChange],
    free_at: float,
    now: float,
) -> Notification:
    """The one notification a receiver gets per window once its budget is used up: how
    much waits, until when, and for which rules. It is an alert of its own
    (``NotificationBudget``, bot ``fleet``) so every receiver type can render it."""
    per_rule = Counter(a.rule for a in held if a.state == "firing")
    rules = ", ".join(f"{name} x{n}" for name, n in per_rule.most_common(10))
    summary = (
        f"{budget} notifications per {window} used: {groups} group(s) with {len(held)} "
        f"change(s) wait until {rfc3339(free_at)}"
        + (f" (firing: {rules})" if rules else "")
        + "; `tradewire alerts list` shows everything firing"
    )
    severity: AlertSeverity = max(
        (a.severity for a in held), key=SEVERITY_RANK.__getitem__, default="warning"
    )
    alert = AlertChange(
        id=f"budget-{receiver}-{int(now * 1000)}",
        fingerprint=f"budget-{receiver}"[:128],
        rule=BUDGET_RULE,
        bot="fleet",
        state="firing",
        severity=severity,
        ts=now,
        active_since=now,
        value=float(len(held)),
        threshold=float(budget),
        labels={"receiver": receiver},
        summary=summary,
        runbook="docs/alerts.md#notification-budget",
    )
    return Notification(receiver, {"alertname": BUDGET_RULE, "receiver": receiver}, [alert])
