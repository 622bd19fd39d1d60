"""Helpers shared by the benchmark scripts: a server, timing, result tables."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

__all__ = ["median_ns_per_call", "table"]


def median_ns_per_call(fn: Callable[[int], None], *, batch: int, batches: int) -> float:
    """Median over ``batches`` of (time of ``fn(batch)``) / batch, in ns.

    Timing batches rather than single calls keeps the clock's own cost
    (~50-100 ns) out of sub-microsecond results.
    """
    import time

    per_call = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        fn(batch)
        per_call.append((time.perf_counter_ns() - t0) / batch)
    return statistics.median(per_call)


def table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, sep, *body])
