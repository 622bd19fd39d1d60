"""Notifications per bot-hour from the default rules on a simulated fleet, and whether
each injected incident pages exactly once.

usage: uv run python benchmarks/alert_noise.py [--bots 20] [--duration 300] [--rate 50]
       [--seed 1] [--budget N]

An embedded nats-server, ``AlertsService`` with the shipped default rules and one webhook
receiver with default settings (``--budget N`` gives it a budget of N per hour), and a
fleet run as ``tradewire simulate --bots 20`` runs it (``run_simulation``: one publisher
per bot, 50 events/s each) with three incidents injected (``--incident``):

- drawdown on sim-bot-03 from 60 s to 180 s (Drawdown, critical at once),
- breaker_open on sim-bot-11 from 60 s to 180 s (CircuitBreakerOpen after its `for: 1m`),
- sim-bot-07 silent from 60 s to the end (BotDown after 2 min).

It prints the notifications the webhook got per rule and state; per bot-hour, counting
the notifications still waiting at the end (group_interval defers, a budget holds back)
as sent; and for each incident how many notifications paged it (carried it as firing).
Bounded: the run stops after ``--duration`` s plus a few seconds for the last
deliveries. It only uses APIs the alerts service had before flood controls existed, so
the same script measures a checkout of an older commit (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import WebhookCapture, table

from tradewire.consumers.alerts import DEFAULT_RULES, AlertsConfig, AlertsService
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.simulate import Incident, SimulationConfig, run_simulation

INCIDENTS = (
    (Incident(kind="drawdown", bot="sim-bot-03", start_s=60, end_s=180), "Drawdown"),
    (Incident(kind="breaker_open", bot="sim-bot-11", start_s=60, end_s=180), "CircuitBreakerOpen"),
    (Incident(kind="silent", bot="sim-bot-07", start_s=60), "BotDown"),
)


async def run(args: argparse.Namespace, tmp: Path) -> tuple[WebhookCapture, float, int]:
    """The webhook's capture, when the simulated run's clock started, and how many
    notifications (groups) were still waiting at the end (group_interval, budget)."""
    hook = WebhookCapture()
    started: list[float] = []
    rules = tmp / "rules.yaml"
    budget = f"    budget: {args.budget}\n" if args.budget else ""
    rules.write_text(
        DEFAULT_RULES.read_text()
        + f"\nreceivers:\n  - name: hook\n    type: webhook\n    url: {hook.url}\n{budget}"
    )
    server = EmbeddedNats(store_dir=tmp / "js").start()
    try:
        svc = AlertsService(AlertsConfig(nats_url=server.url, http_port=0, rules=str(rules)))
        task = await svc.start()
        config = SimulationConfig(
            bots=args.bots,
            rate=args.rate,
            duration=args.duration,
            seed=args.seed,
            incidents=tuple(i for i, _ in INCIDENTS),
        )
        result = await run_simulation(
            server.url,
            config,
            tmp / "outbox",
            progress=lambda p: started.append(time.time() - p.elapsed),
        )
        print(f"simulated {result.emitted:,} events, {result.acked:,} acked", file=sys.stderr)
        await asyncio.sleep(2)  # the last events through the consumer and the clock
        # Groups queued for a later notification: the notifier's internals, read here
        # so that deferring a notification past the end of the run does not count as
        # saving it.
        waiting = sum(len(st.groups) for st in svc.notifier._state.values())
        svc.stop()
        await task  # drains deliveries in flight
    finally:
        server.close()
    return hook, min(started), waiting


def report(args: argparse.Namespace, hook: WebhookCapture, began: float, waiting: int) -> None:
    bodies = [b for _, b in hook.received]
    alerts = [(a, at) for at, b in hook.received for a in b["alerts"]]
    bot_hours = args.bots * args.duration / 3600
    by_rule = Counter((a["rule"], a["state"]) for a, _ in alerts)
    print(
        table(
            [(r, s, str(n)) for (r, s), n in sorted(by_rule.items())],
            ("rule", "state", "alerts in notifications"),
        )
    )
    print()
    pages = []
    for incident, rule in INCIDENTS:
        fired = [
            at
            for a, at in alerts
            if (a["rule"], a["bot"], a["state"]) == (rule, incident.bot, "firing")
        ]
        first = f"{fired[0] - began:.0f} s" if fired else "-"
        pages.append((f"{incident.kind} on {incident.bot}", rule, str(len(fired)), first))
    print(table(pages, ("incident", "rule", "pages", "first page at")))
    print()
    silent = next(i for i, _ in INCIDENTS if i.kind == "silent")
    after = sorted(
        {a["rule"] for a, at in alerts if a["bot"] == silent.bot and at >= began + silent.start_s}
    )
    print(f"alerts sent for {silent.bot} after it fell silent: {', '.join(after) or 'none'}")
    print(
        table(
            [
                (
                    f"{args.bots} bots x {args.duration:g} s",
                    f"{bot_hours:.2f}",
                    str(len(bodies)),
                    str(waiting),
                    f"{(len(bodies) + waiting) / bot_hours:.1f}",
                )
            ],
            ("fleet", "bot-hours", "notifications", "waiting at the end", "per bot-hour"),
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bots", type=int, default=20)
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget", type=int, default=0, help="the webhook's budget per hour")
    args = ap.parse_args()
    if args.duration < 240:
        ap.error("--duration: at least 240 s, for BotDown to fire on the silent bot")
    with tempfile.TemporaryDirectory() as d:
        hook, began, waiting = asyncio.run(run(args, Path(d)))
        hook.close()
    report(args, hook, began, waiting)


if __name__ == "__main__":
    main()
