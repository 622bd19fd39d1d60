"""The on-disk outbox: order, deletion after ack, caps, crash debris, locking."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewire.publisher import OutboxLockedError
from tradewire.publisher._outbox import Outbox, OutboxItem


def items(n: int, start: int = 0) -> list[OutboxItem]:
    return [
        OutboxItem("tradewire.evt.b.mark", f"r-{i}", b'{"i":%d}' % i)
        for i in range(start, start + n)
    ]


def open_outbox(path: Path, **kw: int) -> Outbox:
    opts = {"max_bytes": 1 << 20, "segment_bytes": 4096, **kw}
    return Outbox(
        path, max_bytes=opts["max_bytes"], segment_bytes=opts["segment_bytes"], fsync=False
    )


def test_fifo_across_segments_and_reopen(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    assert box.append(items(500)) == 0
    assert len(list(tmp_path.glob("*.seg"))) > 1  # rolled over at 4 KiB
    box.close()
    box = open_outbox(tmp_path)
    assert box.pending == 500
    got = box.load(10_000)
    assert [i.id for i in got] == [f"r-{i}" for i in range(500)]
    assert got[0].data == b'{"i":0}' and got[0].subject == "tradewire.evt.b.mark"
    assert box.pending == 500  # read back but not acked
    for item in got:
        assert item.segment is not None
        box.acked(item.segment)
    assert box.pending == 0 and not list(tmp_path.glob("*.seg"))
    box.close()


def test_prepend_is_read_first(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    box.append(items(3, start=10))
    box.prepend(items(3, start=0))
    assert [i.id for i in box.load(100)] == ["r-0", "r-1", "r-2", "r-10", "r-11", "r-12"]
    box.close()


def test_size_cap_drops_and_counts(tmp_path: Path) -> None:
    box = open_outbox(tmp_path, max_bytes=1000)
    batch = items(100)
    dropped = box.append(batch)
    fits, used = 0, 0
    for item in batch:  # lines differ in length ("r-9" vs "r-10")
        if used + len(item.line()) <= 1000:
            used += len(item.line())
            fits += 1
    assert 0 < fits < 100
    assert dropped == 100 - fits
    assert box.size_bytes == used <= 1000
    assert [i.id for i in box.load(1000)] == [i.id for i in batch[:fits]]
    box.close()


def test_crash_debris_is_skipped(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    box.append(items(3))
    box.close()
    seg = next(tmp_path.glob("*.seg"))
    with open(seg, "ab") as f:
        f.write(b"garbage line\n")  # a complete but unreadable line
        f.write(b"tradewire.evt.b.mark\tr-9\t{")  # a write cut short by SIGKILL
    box = open_outbox(tmp_path)
    got = box.load(100)
    assert [i.id for i in got] == ["r-0", "r-1", "r-2"]
    assert box.corrupt == 1
    for item in got:
        box.acked(item.segment or 0)
    assert not list(tmp_path.glob("*.seg"))
    box.close()


def test_second_holder_is_refused(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    with pytest.raises(OutboxLockedError, match="another running publisher"):
        open_outbox(tmp_path)
    box.close()
    open_outbox(tmp_path).close()  # free again once closed


def test_appending_while_reading_keeps_order(tmp_path: Path) -> None:
    box = open_outbox(tmp_path, segment_bytes=1 << 20)
    box.append(items(5))
    first = box.load(3)
    box.append(items(5, start=5))
    rest = box.load(100)
    assert [i.id for i in first + rest] == [f"r-{i}" for i in range(10)]
    box.close()
