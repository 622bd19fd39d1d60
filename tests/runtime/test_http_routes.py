"""The services' HTTP server: routes by method and prefix, the query, a POST's body."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.http_raw import get, post, raw
from tradewire.consumers.runtime import MAX_BODY, Health, HealthServer, Request, Route


@pytest.fixture
async def server() -> AsyncIterator[HealthServer]:
    async def echo(req: Request) -> tuple[int, str, bytes]:
        seen = {"method": req.method, "path": req.path, "query": req.query, "body": req.body.hex()}
        return 200, "application/json", json.dumps({**seen, "host": req.get("host")}).encode()

    async def page(headers: dict[str, str]) -> tuple[int, str, bytes]:
        return 200, "text/html; charset=utf-8", b"<p>hi</p>"

    routes: dict[str, Route] = {
        "/echo": echo,
        "/files/*": echo,
        "/files/deep/*": page,
        "POST /echo": echo,
        "/page": page,
    }
    served = await HealthServer(Health(), extra=routes).start()
    yield served
    await served.close()


async def test_a_route_gets_the_method_path_query_and_headers(server: HealthServer) -> None:
    code, _, body = await raw(server.port, get("/echo?a=1&b=x%20y&a=2"))
    assert code == 200
    assert json.loads(body) == {
        "method": "GET",
        "path": "/echo",
        "query": {"a": "1", "b": "x y"},  # the first value of each name
        "body": "",
        "host": "x",
    }


async def test_prefix_routes_take_the_longest_match(server: HealthServer) -> None:
    code, _, body = await raw(server.port, get("/files/a%2Fb.txt"))
    assert code == 200 and json.loads(body)["path"] == "/files/a%2Fb.txt"  # as sent
    code, headers, _ = await raw(server.port, get("/files/deep/x"))
    assert code == 200 and headers["content-type"].startswith("text/html")
    assert (await raw(server.port, get("/files")))[0] == 404  # the prefix needs its "/"


async def test_post_gets_its_body_and_only_where_a_post_route_is(server: HealthServer) -> None:
    code, _, body = await raw(server.port, post("/echo", b'{"x": 1}'))
    assert code == 200 and bytes.fromhex(json.loads(body)["body"]) == b'{"x": 1}'
    assert (await raw(server.port, post("/page", b"{}")))[0] == 405
    assert (await raw(server.port, post("/live", b"{}")))[0] == 405
    assert (await raw(server.port, get("/nowhere")))[0] == 404
    put = b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    assert (await raw(server.port, put))[0] == 405


async def test_post_bodies_are_bounded_and_need_a_length(server: HealthServer) -> None:
    big = f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode()
    code, _, body = await raw(server.port, big)
    assert code == 413 and b"larger than" in body
    no_length = b"POST /echo HTTP/1.1\r\nHost: x\r\n\r\n"
    assert (await raw(server.port, no_length))[0] == 411
    chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    assert (await raw(server.port, chunked))[0] == 411
    bad = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"
    assert (await raw(server.port, bad))[0] == 413


async def test_html_is_served_with_a_policy_that_forbids_framing(server: HealthServer) -> None:
    code, headers, _ = await raw(server.port, get("/page"))
    assert code == 200
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    _, headers, _ = await raw(server.port, get("/live"))
    assert "content-security-policy" not in headers  # JSON needs none
