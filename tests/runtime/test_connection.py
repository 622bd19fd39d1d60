"""The pieces of a service's NATS connection that need no server."""

from __future__ import annotations

import pytest

from tradewire.consumers.runtime import Backoff, ConfigError, check_url, describe, redact_url


def test_backoff_doubles_to_its_cap_and_starts_over() -> None:
    b = Backoff(first=0.5, cap=5.0)
    pauses = [b.next() for _ in range(8)]
    for got, want in zip(pauses, [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0], strict=True):
        assert want * 0.9 <= got <= want * 1.1
    for _ in range(100_000):  # hours of retrying: still capped, no overflow
        assert b.next() <= 5.5
    b.reset()
    assert b.next() <= 0.55


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        ("nats://alice:s3cret@nats.example:4222", "nats://***@nats.example:4222"),
        ("tls://tok3n@nats.example", "tls://***@nats.example"),
        ("nats://a:b@h1:4222, nats://h2:4222", "nats://***@h1:4222,nats://h2:4222"),
    ],
)
def test_urls_are_shown_without_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_errors_are_described_on_one_line() -> None:
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(OSError("no\nroute")) == "OSError: no route"


@pytest.mark.parametrize(
    "url",
    [
        "nats://127.0.0.1:4222",
        "127.0.0.1:4222",
        "tls://a:b@nats.example",
        "nats://h1,nats://h2:4223",
    ],
)
def test_urls_that_can_work(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:4222", "scheme must be one of nats://"),
        ("nats://127.0.0.1:99999", "Port out of range"),
        ("nats://127.0.0.1:port", "Port could not be cast"),
        ("nats://[::1", "Invalid IPv6 URL"),
        ("nats://:4222", "needs a host"),
        ("nats://ok:4222,nats://user:pw@:1", "'nats://***@:1': needs a host"),
    ],
)
def test_urls_that_cannot_work_are_config_errors(url: str, why: str) -> None:
    with pytest.raises(ConfigError, match="nats_url") as err:
        check_url(url)
    assert why in str(err.value) and "pw" not in str(err.value)
