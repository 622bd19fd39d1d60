from __future__ import annotations

import pytest

from tradewire.schemas import EventError, Subjects


def test_default_names() -> None:
    s = Subjects()
    assert s.event("bot-1", "order") == "tradewire.evt.bot-1.order"
    assert s.events_stream == "TRADEWIRE_EVENTS" and s.alerts_stream == "TRADEWIRE_ALERTS"
    assert s.events_wildcard == "tradewire.evt.>" and s.sql == "tradewire.sql"
    assert s.alert("bot-1", "BotDown") == "tradewire.alert.bot-1.BotDown"
    assert s.durable("store") == "tradewire-store" and s.alerts_bucket == "tradewire_alerts"
    assert s.fleet_bucket == "tradewire_fleet"


def test_custom_root_round_trip() -> None:
    s = Subjects("prod.fleet-a")
    assert s.events_stream == "PROD_FLEET_A_EVENTS"
    assert s.fleet_bucket == "prod_fleet-a_fleet"  # a valid bucket name: no dots
    assert s.parse_event(s.event("b_1", "fill")) == ("b_1", "fill")
    # Durable and bucket names take no dots; two roots never share one.
    assert s.durable("metrics") == "prod_fleet-a-metrics"
    assert s.alerts_bucket == "prod_fleet-a_alerts"
    assert Subjects("prod.fleet-b").alerts_bucket != s.alerts_bucket


@pytest.mark.parametrize(
    "subject",
    [
        "tradewire.evt.bot.nokind",
        "tradewire.evt.bot",
        "other.evt.bot.order",
        "tradewire.evt.bad bot.order",
        "tradewire.evt.a.b.order",
    ],
)
def test_parse_rejects(subject: str) -> None:
    with pytest.raises(EventError) as info:
        Subjects().parse_event(subject)
    assert info.value.reason == "bad_subject"


@pytest.mark.parametrize("root", ["", "a..b", "a b", "a.>", "x*"])
def test_bad_root(root: str) -> None:
    with pytest.raises(ValueError, match="invalid subject root"):
        Subjects(root)
