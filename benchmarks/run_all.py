"""Run every benchmark in turn (``make bench``); each prints its own table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = [
    "emit_cost.py",
    "publish_throughput.py",
    "store_ingest.py",
    "report_daily.py",
    "metrics_ingest.py",
    "metrics_scrape.py",
    "alert_latency.py",
    "alert_noise.py",
    "alerts_ingest.py",
    "console.py",
    "whole_box.py",
    "partitions.py",
]


def main() -> int:
    for script in SCRIPTS:
        print(f"\n## {script}\n", flush=True)
        code = subprocess.call([sys.executable, str(HERE / script)])
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
