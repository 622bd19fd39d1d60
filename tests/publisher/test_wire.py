"""Our batched HPUB frames are byte-for-byte what nats-py's publish() would send."""

from __future__ import annotations

from nats.protocol.command import hpub_cmd

from tradewire.publisher._outbox import OutboxItem
from tradewire.publisher._wire import frame


def nats_py_frame(subject: str, reply: str, msg_id: str, payload: bytes) -> bytes:
    # The header block nats-py builds in Client._send_publish for {"Nats-Msg-Id": msg_id}.
    hdr = bytearray(b"NATS/1.0\r\n")
    hdr.extend(b"Nats-Msg-Id: " + msg_id.encode() + b"\r\n\r\n")
    return hpub_cmd(subject, reply, hdr, payload)


def test_frame_matches_nats_py() -> None:
    for msg_id, payload in [("ab12-1", b'{"kind":"mark"}'), ("f" * 16 + "-123456", b"{}" * 500)]:
        item = OutboxItem("tradewire.evt.bot-1.mark", msg_id, payload)
        assert frame(item, "_INBOX.abc.") == nats_py_frame(
            "tradewire.evt.bot-1.mark", "_INBOX.abc." + msg_id, msg_id, payload
        )
