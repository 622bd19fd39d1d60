"""``tradewire report daily``: the fleet's day from the store, as text, JSON and HTML."""

from ._build import Runner, build_report, window
from ._model import BotReport, DailyReport
from ._render import render_html, render_json, render_text

__all__ = [
    "BotReport",
    "DailyReport",
    "Runner",
    "build_report",
    "render_html",
    "render_json",
    "render_text",
    "window",
]
