"""The on-disk outbox: a FIFO of encoded events that survives a bot restart.

Events are appended as lines ``subject TAB id TAB json`` to numbered segment
files. msgspec escapes control characters inside JSON strings, so a raw tab or
newline never appears inside a field. A segment is deleted once every line in
it has been read back and acknowledged by JetStream. Delivery from the outbox
is at-least-once: a segment that was partly acknowledged when the bot died is
sent again whole, and the stream's duplicate window and the consumers' dedup
by event id absorb the repeats.
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["Outbox", "OutboxItem", "OutboxLockedError"]

log = logging.getLogger("tradewire.publisher.outbox")

_FIRST_SEGMENT = 10**12  # leaves room below for segments prepended at close
_SUFFIX = ".seg"


class OutboxLockedError(RuntimeError):
    """Another live publisher holds this outbox directory."""


class OutboxItem:
    """One encoded event on its way to JetStream; ``segment`` is where it sits on disk."""

    __slots__ = ("attempts", "data", "id", "not_before", "segment", "sent_at", "subject")

    def __init__(self, subject: str, event_id: str, data: bytes, segment: int | None = None):
        self.subject = subject
        self.id = event_id
        self.data = data
        self.segment = segment
        self.sent_at = 0.0
        self.not_before = 0.0
        self.attempts = 0

    def line(self) -> bytes:
        return b"%s\t%s\t%s\n" % (self.subject.encode(), self.id.encode(), self.data)


@dataclass
class _Segment:
    num: int
    path: Path
    lines: int = 0  # complete lines written
    size: int = 0
    read_offset: int = 0
    read: int = 0  # lines read back (including corrupt ones)
    unacked: int = 0  # read back, handed out, not yet acknowledged


def _count_lines(path: Path) -> tuple[int, int]:
    """Complete lines and bytes in a segment, read in chunks (segments can be large)."""
    lines = size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
            size += len(chunk)
    return lines, size


class Outbox:
    """A directory of segment files, locked against a second publisher."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int, fsync: bool) -> None:
        self.directory = directory
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise OutboxLockedError(
                f"outbox {directory} is held by another running publisher; "
                "give each bot process its own outbox_dir"
            ) from None
        self._segments: list[_Segment] = []
        for path in sorted(directory.glob(f"*{_SUFFIX}")):
            lines, size = _count_lines(path)
            self._segments.append(_Segment(int(path.stem), path, lines=lines, size=size))
        self._writer: BinaryIO | None = None
        self.corrupt = 0

    # -- state -------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Events on disk that JetStream has not acknowledged."""
        return sum(s.lines - s.read + s.unacked for s in self._segments)

    @property
    def has_unread(self) -> bool:
        return any(s.read < s.lines for s in self._segments)

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    # -- writing -----------------------------------------------------------
    def append(self, items: list[OutboxItem]) -> int:
        """Append in order; return how many were dropped (size cap or disk error)."""
        total = self.size_bytes
        dropped = 0
        for n, item in enumerate(items):
            line = item.line()
            if total + len(line) > self._max_bytes:
                dropped += 1
                continue
            seg = self._write_segment()
            try:
                assert self._writer is not None
                self._writer.write(line)
            except OSError as exc:
                # The file may now end in a partial line: never append after it.
                log.error("outbox write failed, dropping %d event(s): %s", len(items) - n, exc)
                self._close_writer()
                return dropped + len(items) - n
            seg.lines += 1
            seg.size += len(line)
            total += len(line)
        return dropped + self._flush_writer()

    def prepend(self, items: list[OutboxItem]) -> int:
        """Write ``items`` into a new segment read before all others (used at close)."""
        if not items:
            return 0
        num = self._segments[0].num - 1 if self._segments else _FIRST_SEGMENT
        seg = _Segment(num, self.directory / f"{num:020d}{_SUFFIX}")
        data = b"".join(item.line() for item in items)
        try:
            with open(seg.path, "wb") as f:
                f.write(data)
                f.flush()
                if self._fsync:
                    os.fsync(f.fileno())
        except OSError as exc:
            log.error("outbox write failed, dropping %d event(s): %s", len(items), exc)
            seg.path.unlink(missing_ok=True)
            return len(items)
        seg.lines, seg.size = len(items), len(data)
        self._segments.insert(0, seg)
        return 0

    def _write_segment(self) -> _Segment:
        last = self._segments[-1] if self._segments else None
        if self._writer is not None and last is not None and last.size < self._segment_bytes:
            return last
        self._close_writer()
        num = last.num + 1 if last else _FIRST_SEGMENT
        seg = _Segment(num, self.directory / f"{num:020d}{_SUFFIX}")
        self._writer = open(seg.path, "ab")  # noqa: SIM115 - held open across appends
        self._segments.append(seg)
        return seg

    def _flush_writer(self) -> int:
        if self._writer is None:
            return 0
        try:
            self._writer.flush()
            if self._fsync:
                os.fsync(self._writer.fileno())
        except OSError as exc:
            log.error("outbox flush failed: %s", exc)
            self._close_writer()
        return 0

    def _close_writer(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError as exc:
                log.error("outbox close failed: %s", exc)
            self._writer = None

    # -- reading -----------------------------------------------------------
    def load(self, limit: int) -> list[OutboxItem]:
        """Read up to ``limit`` unread events, oldest first."""
        out: list[OutboxItem] = []
        for seg in self._segments:
            if len(out) >= limit:
                break
            if seg.read >= seg.lines:
                continue
            if self._writer is not None and seg is self._segments[-1]:
                self._writer.flush()
            with open(seg.path, "rb") as f:
                f.seek(seg.read_offset)
                while seg.read < seg.lines and len(out) < limit:
                    line = f.readline()
                    if not line.endswith(b"\n"):
                        # A line cut short by a crash: the count said it was whole.
                        seg.read = seg.lines
                        self.corrupt += 1
                        break
                    seg.read_offset += len(line)
                    seg.read += 1
                    parts = line[:-1].split(b"\t", 2)
                    if len(parts) != 3 or not parts[2].startswith(b"{"):
                        self.corrupt += 1
                        log.warning("skipping corrupt outbox line in %s", seg.path.name)
                        continue
                    seg.unacked += 1
                    out.append(OutboxItem(parts[0].decode(), parts[1].decode(), parts[2], seg.num))
            self._collect(seg)
        return out

    def acked(self, segment: int) -> None:
        """One event handed out by :meth:`load` was acknowledged."""
        for seg in self._segments:
            if seg.num == segment:
                seg.unacked -= 1
                self._collect(seg)
                return

    def _collect(self, seg: _Segment) -> None:
        if seg.read < seg.lines or seg.unacked > 0:
            return
        if self._writer is not None and seg is self._segments[-1]:
            self._close_writer()
        seg.path.unlink(missing_ok=True)
        self._segments.remove(seg)

    def close(self) -> None:
        self._flush_writer()
        self._close_writer()
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
