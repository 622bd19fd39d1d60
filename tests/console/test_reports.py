"""The reports directory the console serves: its files, and never anything outside it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http_raw import get, raw
from tradewire.consumers.console import Console, History
from tradewire.consumers.metrics import Aggregator
from tradewire.consumers.runtime import Health, HealthServer
from tradewire.schemas import AlertChange

SECRET = b"outside the reports directory"


async def no_alerts() -> list[AlertChange]:
    return []


async def serve(reports_dir: str) -> HealthServer:
    console = Console(
        Aggregator(),
        History(),
        firing=no_alerts,
        nats=lambda: None,
        alerts_bucket="tradewire_alerts",
        bot_down_after_s=120,
        reports_dir=reports_dir,
    )
    return await HealthServer(Health(), extra=console.routes()).start()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[HealthServer, Path]]:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "daily_report_2026-11-20.html").write_text("<p>the report</p>")
    (reports / "daily_report_2026-11-20.json").write_text("{}")
    (reports / ".hidden.txt").write_text("hidden")
    (reports / "notes.md").write_text("not a report")
    (reports / "sub").mkdir()
    (reports / "sub" / "inner.txt").write_text("in a subdirectory")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (reports / "link.txt").symlink_to(tmp_path / "secret.txt")  # points outside
    (reports / "same.txt").symlink_to(reports / "daily_report_2026-11-20.json")
    server = await serve(str(reports))
    yield server, reports
    await server.close()


async def test_reports_are_listed_and_served(served: tuple[HealthServer, Path]) -> None:
    server, _ = served
    code, headers, body = await raw(server.port, get("/reports/"))
    assert code == 200 and headers["content-type"].startswith("text/html")
    listed = body.decode()
    assert 'href="/reports/daily_report_2026-11-20.html"' in listed
    assert 'href="/reports/same.txt"' in listed  # a link that stays inside is a file there
    for hidden in ("link.txt", ".hidden.txt", "notes.md", "sub", "inner.txt"):
        assert hidden not in listed
    code, headers, body = await raw(server.port, get("/reports/daily_report_2026-11-20.html"))
    assert (code, body) == (200, b"<p>the report</p>")
    assert headers["content-type"] == "text/html; charset=utf-8"
    code, headers, _ = await raw(server.port, get("/reports/daily_report_2026-11-20.json"))
    assert code == 200 and headers["content-type"] == "application/json"
    assert (await raw(server.port, get("/reports")))[0] == 200  # the listing, without "/"


@pytest.mark.parametrize(
    "path",
    [
        "/reports/../secret.txt",
        "/reports/%2e%2e/secret.txt",
        "/reports/%2E%2E%2Fsecret.txt",
        "/reports/..%2fsecret.txt",
        "/reports/..%5csecret.txt",
        "/reports/%252e%252e%252fsecret.txt",
        "/reports//etc/passwd",
        "/reports/%2fetc%2fpasswd",
        "/reports/link.txt",
        "/reports/sub/inner.txt",
        "/reports/sub%2finner.txt",
        "/reports/.hidden.txt",
        "/reports/notes.md",
        "/reports/daily_report_2026-11-20.html%00.txt",
        "/reports/nothing.txt",
    ],
)
async def test_nothing_outside_the_directory_is_served(
    served: tuple[HealthServer, Path], path: str
) -> None:
    server, _ = served
    code, _, body = await raw(server.port, get(path))
    assert code == 404, (path, body)
    assert SECRET not in body and b"hidden" not in body and b"subdirectory" not in body


async def test_no_reports_route_without_a_directory(tmp_path: Path) -> None:
    server = await serve("")
    try:
        assert (await raw(server.port, get("/reports/")))[0] == 404
        # The console still lists what there is, and says so on the page (no link).
        assert (await raw(server.port, get("/")))[0] == 200
    finally:
        await server.close()


async def test_a_missing_directory_lists_nothing(tmp_path: Path) -> None:
    server = await serve(str(tmp_path / "not-yet"))
    try:
        code, _, body = await raw(server.port, get("/reports/"))
        assert code == 200 and b"No reports yet" in body
        assert (await raw(server.port, get("/reports/x.html")))[0] == 404
    finally:
        await server.close()
    assert not os.path.exists(tmp_path / "not-yet")  # looking creates nothing
