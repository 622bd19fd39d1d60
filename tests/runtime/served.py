"""``tradewire serve <service>`` as an operator runs it: a process of its own, signalled."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.waiting import wait_until_sync

__all__ = ["SERVICES", "Served"]

SERVICES = ["store", "metrics", "alerts"]
_LISTENING = re.compile(r"http://127\.0\.0\.1:(\d+)/ serves")


class Served:
    """One service process; its stderr is collected line by line as it comes."""

    def __init__(self, service: str, url: str, workdir: Path) -> None:
        args = [sys.executable, "-m", "tradewire.consumers.cli", "serve", service]
        args += ["--nats-url", url, "--http-port", "0"]
        if service == "store":
            args += ["--db", str(workdir / "store.duckdb")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIRE_")}
        self.proc = subprocess.Popen(
            args, cwd=workdir, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = 0

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def wait_for_line(self, text: str, timeout: float = 20.0) -> None:
        def seen() -> bool:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.stderr}"
            return self.count(text) > 0

        wait_until_sync(seen, timeout=timeout, what=f"{text!r} on stderr")

    def wait_listening(self, timeout: float = 20.0) -> int:
        """The health port, from the line the service logs when its server is up."""
        self.wait_for_line(" serves ", timeout)
        match = next(m for m in map(_LISTENING.search, self.lines) if m)
        self.port = int(match[1])
        return self.port

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def wait_ready(self, code: int, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until ``/ready`` answers ``code``; its body."""
        body: dict[str, Any] = {}

        def answered() -> bool:
            nonlocal body
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.stderr}"
            status, body = self.get("/ready")
            return status == code

        wait_until_sync(answered, timeout=timeout, what=f"/ready {code}")
        return body

    def signal_and_wait(self, sig: signal.Signals, within: float = 5.0) -> int:
        """Send ``sig``; the exit code, which must come within ``within`` seconds."""
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"still running {within:g} s after {sig.name}:\n{self.stderr}"
            ) from None
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """Stop the process this object started (by its PID), whatever its state."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def assert_clean_log(self, max_retry_lines: int) -> None:
        """One line per log record, no traceback, and a bounded number of retry lines."""
        assert "Traceback" not in self.stderr, self.stderr
        stamped = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")
        strays = [line for line in self.lines if not stamped.match(line)]
        assert not strays, self.stderr
        retries = self.count("cannot connect to NATS")
        assert retries <= max_retry_lines, self.stderr
