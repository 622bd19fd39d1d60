"""The console's page, script and style sheet ship in the wheel (package data)."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from uv import find_uv_bin

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
STATIC = ROOT / "consumers/src/tradewire/consumers/console/static"


def test_the_wheel_carries_the_console_files(tmp_path: Path) -> None:
    uv = shutil.which("uv") or find_uv_bin()
    subprocess.run(
        [uv, "build", "-q", "--wheel", "--package", "tradewire", "-o", str(tmp_path)],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("tradewire-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"tradewire/consumers/console/static/{p.name}" for p in STATIC.iterdir()}
    assert shipped >= {
        "tradewire/consumers/console/static/index.html",
        "tradewire/consumers/console/static/console.js",
        "tradewire/consumers/console/static/console.css",
    }
    assert shipped <= names, shipped - names
