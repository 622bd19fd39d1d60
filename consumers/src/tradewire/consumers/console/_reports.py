"""The daily reports directory, served read-only: a listing and the files in it.

Only plain file names are served, never a path: a name must be letters, digits, ``.``,
``_`` or ``-``, start with a letter or digit, and end in ``.html``, ``.txt`` or
``.json`` (what ``tradewire report daily`` writes); the file must be a regular file
whose real path (symlinks resolved) is directly in the directory. Anything else is
"not found", whatever the percent-escapes in the URL said.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MAX_REPORT_BYTES", "ReportFile", "Reports"]

MAX_REPORT_BYTES = 64 << 20  # a larger file is not served
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.(html|txt|json)")
_TYPES = {
    "html": "text/html; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
}


@dataclass(frozen=True)
class ReportFile:
    name: str
    size: int
    mtime: float


class Reports:
    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def _path(self, name: str) -> Path | None:
        """The file ``name`` stands for, if it may be served."""
        if not _NAME.fullmatch(name):
            return None
        try:
            root = self.directory.resolve(strict=True)
            real = (root / name).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            return None
        if real.parent != root or not real.is_file():
            return None
        return real

    def files(self) -> list[ReportFile]:
        """The reports there are, newest first."""
        try:
            names = [p.name for p in self.directory.iterdir()]
        except OSError:
            return []
        out = []
        for name in names:
            path = self._path(name)
            if path is not None:
                st = path.stat()
                out.append(ReportFile(name, st.st_size, st.st_mtime))
        return sorted(out, key=lambda f: (-f.mtime, f.name))

    def read(self, quoted: str) -> tuple[int, str, bytes]:
        """(code, content type, body) for the URL path segment ``quoted``."""
        name = urllib.parse.unquote(quoted)
        path = self._path(name)
        if path is None:
            return 404, "text/plain; charset=utf-8", b"no such report\n"
        if path.stat().st_size > MAX_REPORT_BYTES:
            return 413, "text/plain; charset=utf-8", b"report too large to serve\n"
        return 200, _TYPES[name.rsplit(".", 1)[1]], path.read_bytes()

    def index_html(self) -> bytes:
        """A page listing the reports, linked, newest first."""
        rows = "".join(
            f'<tr><td><a href="/reports/{urllib.parse.quote(f.name)}">'
            f"{html.escape(f.name)}</a></td><td>{f.size:,}</td><td>"
            f"{dt.datetime.fromtimestamp(f.mtime, dt.UTC):%Y-%m-%d %H:%M:%S} UTC</td></tr>"
            for f in self.files()
        )
        body = (
            f"<table><tr><th>report</th><th>bytes</th><th>written</th></tr>{rows}</table>"
            if rows
            else "<p>No reports yet. <code>tradewire report daily --output-dir "
            f"{html.escape(str(self.directory))}</code> writes them here.</p>"
        )
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<title>tradewire daily reports</title><link rel='icon' href='data:,'>"
            '<link rel="stylesheet" href="/console/console.css"></head>'
            '<body class="reports"><header><a href="/">&larr; fleet console</a>'
            "<h1>Daily reports</h1></header><main>"
            f"{body}</main></body></html>\n"
        ).encode()
