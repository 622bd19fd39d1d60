"""The console at fleet scale: what ``/api/fleet`` costs the metrics service, what it
sends, what the per-bot history holds, and how fast the page renders in Chromium.

usage: uv run python benchmarks/console.py [--bots 1000] [--rounds 20] [--no-browser]

Each bot is the simulator's (all kinds, 2-4 symbols), folded into the metrics service's
Aggregator and the console's History with event times spread over the last 10 minutes
(a full history ring); one bot in ten has an alert firing (two in a hundred critical),
and there are a few silences. Server side: median time to build and encode
``/api/fleet`` and ``/api/bot``, and the bytes sent (raw and gzipped as the service
sends them); History's memory (tracemalloc). Browser side (Debian's Chromium, through
Playwright, the console served by the same HTTP server as the service's): time from
navigation until the table holds every bot, then the page's own render time per update
(``window.tradewireConsole``) while the fleet keeps changing, a sort and a filter.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import random
import shutil
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import table

from tradewire.consumers.alerts import Silence
from tradewire.consumers.console import Console, History
from tradewire.consumers.metrics import Aggregator
from tradewire.consumers.runtime import Health, HealthServer, Request
from tradewire.consumers.simulate import BotModel
from tradewire.schemas import AlertChange, AlertSeverity

NOW = time.time()
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def fleet(bots: int, cycles: int) -> tuple[Aggregator, History, list[BotModel]]:
    agg, history = Aggregator(), History()
    models = [BotModel(f"bot-{b:04d}", 1) for b in range(bots)]
    for b, m in enumerate(models):
        seq = 0
        for c in range(cycles):
            ts = NOW - 600 + 600 * c / cycles
            for ev in m.cycle():
                seq += 1  # no gaps: a healthy fleet loses nothing
                ev.bot, ev.run, ev.seq, ev.ts, ev.id = m.bot, f"r{b}", seq, ts, f"r{b}-{seq}"
                if agg.apply(ev, NOW):
                    history.observe(ev, NOW)
    return agg, history, models


def alerts(bots: int) -> list[AlertChange]:
    out = []
    for b in range(0, bots, 10):
        severity: AlertSeverity = "critical" if b % 50 == 0 else "warning"
        out.append(
            AlertChange(
                id=f"a{b}",
                fingerprint=f"f{b}",
                rule="Drawdown",
                bot=f"bot-{b:04d}",
                state="firing",
                severity=severity,
                ts=NOW,
                active_since=NOW - 60,
                value=12.0,
                threshold=10.0,
                summary="Drawdown from peak equity (percent)",
            )
        )
    return out


def median_ms(fn: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def server_side(console: Console, rounds: int) -> tuple[list[tuple[str, str]], bytes]:
    fleet_route, bot_route = console.routes()["/api/fleet"], console.routes()["/api/bot"]
    req = Request({}, path="/api/fleet")
    bot_req = Request({}, path="/api/bot", query={"bot": "bot-0000"})
    fleet_ms, bot_ms = [], []
    body = b""
    for _ in range(rounds):
        t0 = time.perf_counter()
        _, _, body = await fleet_route(req)
        fleet_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        _, _, bot_body = await bot_route(bot_req)
        bot_ms.append((time.perf_counter() - t0) * 1000)
    gz_ms = median_ms(lambda: gzip.compress(body, 6), rounds)
    rows = [
        ("/api/fleet: build + encode (ms, median)", f"{statistics.median(fleet_ms):.1f}"),
        ("/api/fleet: gzip level 6 (ms, median)", f"{gz_ms:.1f}"),
        ("/api/fleet: bytes", f"{len(body):,}"),
        ("/api/fleet: bytes gzipped", f"{len(gzip.compress(body, 6)):,}"),
        ("/api/bot: build + encode (ms, median)", f"{statistics.median(bot_ms):.2f}"),
        ("/api/bot: bytes", f"{len(bot_body):,}"),
    ]
    return rows, body


async def browser_side(
    console: Console, models: list[BotModel], bots: int, chromium: str, shots: Path | None
) -> list[tuple[str, str]]:
    from playwright.async_api import async_playwright

    server = await HealthServer(Health(), extra=console.routes()).start()
    stop = asyncio.Event()

    async def churn() -> None:
        """Keep the fleet moving: a cycle of 50 random bots every 100 ms."""
        rng = random.Random(7)
        seqs = dict.fromkeys((m.bot for m in models), 0)
        while not stop.is_set():
            now = time.time()
            for m in rng.sample(models, min(50, len(models))):
                for ev in m.cycle():
                    seqs[m.bot] = seq = seqs[m.bot] + 1
                    ev.bot, ev.run, ev.seq, ev.ts = m.bot, f"churn-{m.bot}", seq, now
                    ev.id = f"{ev.run}-{seq}"
                    if console.agg.apply(ev, now):
                        console.history.observe(ev, now)
            await asyncio.sleep(0.1)

    mover = asyncio.create_task(churn())
    rows: list[tuple[str, str]] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            t0 = time.perf_counter()
            await page.goto(f"http://127.0.0.1:{server.port}/")
            # The table shows a page of 200 rows at a time (console.js PAGE_ROWS).
            js = f"document.querySelectorAll('#fleet tbody tr').length === {min(bots, 200)}"
            deadline = time.monotonic() + 60
            while not await page.evaluate(js):
                if time.monotonic() > deadline:
                    raise TimeoutError(await page.inner_text("#shown"))
                await asyncio.sleep(0.01)
            first = time.perf_counter() - t0
            first_render = await page.evaluate("window.tradewireConsole.renderMs[0]")
            while await page.evaluate("window.tradewireConsole.renders") < 21:
                await asyncio.sleep(0.1)
            renders = await page.evaluate("window.tradewireConsole.renderMs.slice(1, 21)")
            t0 = time.perf_counter()
            await page.click('th[data-col="equity"]')
            sort_ms = (time.perf_counter() - t0) * 1000
            sort_render = await page.evaluate("window.tradewireConsole.lastRenderMs")
            if shots:
                await page.screenshot(path=str(shots / "console-1000-bots.png"))
            await page.fill("#filter", "bot-00")
            filter_render = await page.evaluate("window.tradewireConsole.lastRenderMs")
            await page.goto(f"http://127.0.0.1:{server.port}/#bot/bot-0001")
            await page.wait_for_selector("#chart-equity polyline")
            if shots:
                await page.wait_for_timeout(1500)
                await page.screenshot(path=str(shots / "console-bot-0001.png"), full_page=True)
            await browser.close()
        rows = [
            ("page: navigation until the table is drawn (ms)", f"{first * 1000:.0f}"),
            ("page: first render of the table (ms)", f"{first_render:.1f}"),
            (
                "page: render per update, 20 updates (ms, median / max)",
                f"{statistics.median(renders):.1f} / {max(renders):.1f}",
            ),
            (
                "page: sort by equity, click to rendered (ms)",
                f"{sort_ms:.0f} ({sort_render:.1f} render)",
            ),
            ("page: filter render (ms)", f"{filter_render:.1f}"),
        ]
    finally:
        stop.set()
        await mover
        await server.close()
    return rows


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bots", type=int, default=1000)
    p.add_argument("--cycles", type=int, default=150, help="simulated cycles per bot")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--no-browser", action="store_true")
    p.add_argument("--screenshot", type=Path, help="save the fleet page and a bot's page here")
    args = p.parse_args()

    tracemalloc.start()
    agg, history, models = fleet(args.bots, args.cycles)
    mem = sum(
        s.size
        for s in tracemalloc.take_snapshot()
        .filter_traces([tracemalloc.Filter(True, "*console/_history.py")])
        .statistics("filename")
    )
    tracemalloc.stop()
    firing = alerts(args.bots)
    silences = {
        f"s{i}": Silence(
            rule="Drawdown",
            bot=f"bot-{i * 10:04d}",
            starts_at=NOW,
            ends_at=NOW + 3600,
            comment="bench",
        )
        for i in range(10)
    }

    async def current() -> list[AlertChange]:
        return firing

    console = Console(
        agg, history, firing=current, nats=lambda: None, alerts_bucket="b", bot_down_after_s=120
    )

    class Watch:  # the silences as the service's watch holds them
        def __init__(self) -> None:
            self.silences = silences

        async def stop(self) -> None:
            return None

    console.watch = Watch()  # type: ignore[assignment]
    points = sum(len(h.series(history.step_s)["t"]) for h in history.bots.values())
    rows = [
        ("bots", f"{len(agg.bots):,}"),
        ("alerts firing / silences", f"{len(firing)} / {len(silences)}"),
        ("History: chart points held", f"{points:,}"),
        ("History: memory (tracemalloc, MiB)", f"{mem / 2**20:.1f}"),
    ]
    server_rows, _ = await server_side(console, args.rounds)
    rows += server_rows
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if args.no_browser:
        pass
    elif not Path(chromium).exists():
        print("no chromium: the page's numbers are left out (apt-get install chromium)")
    else:
        rows += await browser_side(console, models, args.bots, chromium, args.screenshot)
    print(table(rows, ("what", "value")))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
