"""The bot process's own vital signs, for the heartbeat, with no dependency beyond Python.

On Linux everything comes from ``/proc``; elsewhere what ``resource`` and ``os`` can tell
(CPU time, peak memory) is filled in and the rest stays ``None``. Sampling costs a few
file reads, done by the publisher's background task on the heartbeat timer, never in
``emit``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessSampler", "ProcessStats"]

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessStats:
    cpu_percent: float | None = None
    memory_rss_bytes: int | None = None
    memory_percent: float | None = None
    open_files: int | None = None
    threads: int | None = None
    disk_percent: float | None = None
    disk_used_bytes: int | None = None
    net_sent_bytes: int | None = None
    net_recv_bytes: int | None = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _status_value(status: str, key: str) -> int | None:
    for line in status.splitlines():
        if line.startswith(key + ":"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                value = int(parts[1])
                return value * 1024 if parts[-1] == "kB" else value
    return None


def _host_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _net_bytes() -> tuple[int | None, int | None]:
    text = _read(_PROC / "net" / "dev")
    if text is None:
        return None, None
    sent = recv = 0
    for line in text.splitlines()[2:]:
        name, _, data = line.partition(":")
        fields = data.split()
        if name.strip() == "lo" or len(fields) < 9:
            continue
        recv += int(fields[0])
        sent += int(fields[8])
    return sent, recv


class ProcessSampler:
    """Call :meth:`sample` on a timer; CPU percent is over the time since the last call."""

    def __init__(self, disk_path: Path | None = None) -> None:
        self.disk_path = disk_path
        self._last_cpu = time.process_time()
        self._last_wall = time.monotonic()
        self._memory_total = _host_memory()

    def sample(self) -> ProcessStats:
        cpu, wall = time.process_time(), time.monotonic()
        elapsed = wall - self._last_wall
        cpu_percent = max(0.0, (cpu - self._last_cpu) / elapsed * 100) if elapsed > 0 else None
        self._last_cpu, self._last_wall = cpu, wall
        status = _read(_PROC / "self" / "status")
        rss = _status_value(status, "VmRSS") if status else None
        threads = _status_value(status, "Threads") if status else None
        try:
            open_files: int | None = len(os.listdir(_PROC / "self" / "fd"))
        except OSError:
            open_files = None
        disk_percent = disk_used = None
        if self.disk_path is not None:
            try:
                usage = shutil.disk_usage(self.disk_path)
                disk_used = usage.used
                disk_percent = usage.used / usage.total * 100 if usage.total else None
            except OSError:
                pass
        sent, recv = _net_bytes()
        total = self._memory_total
        return ProcessStats(
            cpu_percent=cpu_percent,
            memory_rss_bytes=rss,
            memory_percent=rss / total * 100 if rss is not None and total else None,
            open_files=open_files,
            threads=threads,
            disk_percent=disk_percent,
            disk_used_bytes=disk_used,
            net_sent_bytes=sent,
            net_recv_bytes=recv,
        )
