from __future__ import annotations

from pathlib import Path

from tradewire.consumers.metrics._docs import metrics_markdown

PAGE = Path(__file__).parents[2] / "docs" / "metrics.md"


def test_metric_catalog_page_is_current() -> None:
    assert PAGE.read_text() == metrics_markdown(), (
        'docs/metrics.md drifted: uv run python -c "from tradewire.consumers.metrics._docs '
        "import metrics_markdown; open('docs/metrics.md','w').write(metrics_markdown())\""
    )
