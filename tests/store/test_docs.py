"""docs/store-tables.md documents every table and column, and matches the code."""

from __future__ import annotations

from pathlib import Path

from tradewire.consumers.store import TABLES
from tradewire.consumers.store._docs import COLUMN_DOCS, tables_markdown

PAGE = Path(__file__).parents[2] / "docs" / "store-tables.md"


def test_every_column_has_a_meaning() -> None:
    missing = {c.name for t in TABLES.values() for c in t.columns} - set(COLUMN_DOCS)
    assert not missing


def test_committed_page_is_current() -> None:
    assert PAGE.read_text() == tables_markdown(), (
        'docs drifted: uv run python -c "from tradewire.consumers.store._docs import '
        "tables_markdown; open('docs/store-tables.md','w').write(tables_markdown())\""
    )
