"""What each role may publish and subscribe to: the least each component needs.

Worked out from what each one does on the wire (and tested against a real nats-server
with the generated config, tests/security/):

- every client gets its replies below its own inbox prefix, ``_INBOX.<public key>``
  (PubAcks, JetStream API answers, pull deliveries, KV watches), and nobody else's;
- a **bot** publishes its own events, ``<root>.evt.<bot>.>``, and nothing else: no
  JetStream API (it never creates streams), no reading;
- a service consumes from its own durable consumers only (create, info, pull, ack);
  its start-up read of history uses a consumer it names (``<durable>-history``), so it
  can never pull, and ack away, another service's messages;
- the **store** also creates the streams and owns their limits and replicas, answers
  SQL on ``<root>.sql`` (replies through ``allow_responses``: one reply per request),
  and reads the server's JetStream API audit advisories for the audit log;
- **metrics** reads the alerts bucket (what fires) and the fleet bucket;
- **alerts** owns its bucket, publishes alert changes on ``<root>.alert.>``, reads the
  fleet bucket;
- an **operator** runs SQL, watches events (``tail``), reads and writes silences and
  the fleet bucket (``bots retire``), reads the stream and changes its limits.

Durable and bucket names are the defaults from :class:`Subjects`; a service given other
names (its ``durable`` setting) needs its entry edited to match. A service run as N
partitioned instances (docs/scaling.md) names a durable per instance and per stream
partition it owns (``<durable>-p<i>of<N>[-s<p>]``): given N and the stream's partitions
(``tradewire auth instances``), each of those names is listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradewire.schemas import Subjects

__all__ = ["ROLES", "SERVICES", "Permissions", "permissions"]

SERVICES = ("store", "metrics", "alerts")
ROLES = ("bot", *SERVICES, "operator")


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False


def _api(*tokens: str) -> str:
    return "$JS.API." + ".".join(tokens)


def _stream(stream: str, *, create: bool = True, update: bool = False) -> list[str]:
    out = [_api("STREAM", "INFO", stream)]
    out += [_api("STREAM", "CREATE", stream)] if create else []
    out += [_api("STREAM", "UPDATE", stream)] if update else []
    return out


def _durable(stream: str, name: str) -> list[str]:
    """Create (either API form), look up, pull from and ack one durable consumer."""
    return [
        _api("CONSUMER", "CREATE", stream, name),
        _api("CONSUMER", "CREATE", stream, name, ">"),
        _api("CONSUMER", "DURABLE", "CREATE", stream, name),
        _api("CONSUMER", "INFO", stream, name),
        _api("CONSUMER", "MSG", "NEXT", stream, name),
        f"$JS.ACK.{stream}.{name}.>",
    ]


def _history(stream: str, name: str) -> list[str]:
    """The named, unacked consumer that reads history once at start (then deleted)."""
    return [
        _api("CONSUMER", "CREATE", stream, name),
        _api("CONSUMER", "CREATE", stream, name, ">"),
        _api("CONSUMER", "MSG", "NEXT", stream, name),
        _api("CONSUMER", "DELETE", stream, name),
    ]


def _names(name: str, instances: int, slots: int, tail: str = "") -> list[str]:
    """``name + tail`` and, for several instances, what each one calls it: the names a
    partitioned instance gives its consumers (``Partition.consumers``), with ``tail``
    (``-history``) after the instance's suffix and before the stream partition's."""
    out = [name + tail]
    for i in range(instances if instances > 1 else 0):
        base = f"{name}-p{i}of{instances}{tail}"
        out += [base, *(f"{base}-s{s}" for s in range(slots) if s % instances == i)]
    return out


def _kv(bucket: str, *, write: bool) -> list[str]:
    """A key-value bucket: get, watch and list (ephemeral consumers of its stream, which
    hold nothing but the bucket), and with ``write`` put, delete, create the bucket and
    set its replicas."""
    stream = f"KV_{bucket}"
    out = [
        *_stream(stream, create=write, update=write),
        _api("DIRECT", "GET", stream),
        _api("DIRECT", "GET", stream, ">"),
        _api("STREAM", "MSG", "GET", stream),
        _api("CONSUMER", "CREATE", stream),
        _api("CONSUMER", "CREATE", stream, ">"),
        _api("CONSUMER", "INFO", stream, "*"),
        _api("CONSUMER", "MSG", "NEXT", stream, "*"),
        _api("CONSUMER", "DELETE", stream, "*"),
        f"$JS.FC.{stream}.>",  # flow control replies of a watch
    ]
    return out + ([f"$KV.{bucket}.>"] if write else [])


def permissions(
    role: str,
    subjects: Subjects,
    inbox: str,
    bot: str = "",
    *,
    instances: int = 1,
    slots: int = 0,
) -> Permissions:
    """The permissions of one identity; ``inbox`` is its inbox prefix, ``bot`` its bot id;
    ``instances`` of a service share the fleet over the stream's ``slots`` partitions."""
    events, alerts = subjects.events_stream, subjects.alerts_stream
    replies = (f"{inbox}.>",)
    if role == "bot":
        if not bot:
            raise ValueError("a bot identity needs its bot id")
        return Permissions((subjects.event(bot, ">"),), replies)
    if role == "operator":
        return Permissions(
            (
                subjects.sql,
                f"{subjects.sql}.>",
                *_stream(events, update=True),
                *_stream(alerts, create=False, update=True),  # stream set --replicas
                _api("CONSUMER", "LIST", events),
                _api("CONSUMER", "NAMES", events),
                *_kv(subjects.alerts_bucket, write=True),
                *_kv(subjects.fleet_bucket, write=True),
            ),
            (*replies, subjects.events_wildcard),
        )
    if role not in SERVICES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    durable = subjects.durable(role)
    publish = _stream(events, update=role == "store")
    for name in _names(durable, instances, slots):
        publish += _durable(events, name)
    subscribe = list(replies)
    responses = False
    if role != "store":  # metrics and alerts read recent history at start
        for name in _names(durable, instances, slots, "-history"):
            publish += _history(events, name)
    if role == "store":
        publish += [*_stream(alerts, update=True)]  # its replicas (stream_replicas)
        for name in _names(subjects.durable("store-alerts"), instances, 0):
            publish += _durable(alerts, name)
        subscribe += [subjects.sql, f"{subjects.sql}.>", "$JS.EVENT.ADVISORY.API"]
        responses = True
    elif role == "metrics":
        publish += [*_kv(subjects.alerts_bucket, write=False)]
        publish += [*_kv(subjects.fleet_bucket, write=False)]
    else:  # alerts
        publish += [*_stream(alerts), subjects.alerts_wildcard]
        publish += [*_kv(subjects.alerts_bucket, write=True)]
        publish += [*_kv(subjects.fleet_bucket, write=False)]
    return Permissions(tuple(publish), tuple(subscribe), responses)
