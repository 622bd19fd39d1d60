"""The one error type every tradewire decoder and validator raises."""

from __future__ import annotations

from typing import Literal

__all__ = ["EventError", "Reason"]

# Short, stable codes: consumers use them as quarantine reasons and metric labels.
Reason = Literal[
    "malformed",
    "invalid",
    "too_large",
    "unsupported_version",
    "unstamped",
    "bot_mismatch",
    "kind_mismatch",
    "bad_subject",
    "clock_skew",
]


class EventError(ValueError):
    """An event that cannot be accepted, with a reason code and the field at fault.

    ``field`` is a JSON path such as ``$.price`` when one field is to blame,
    else ``None``.
    """

    def __init__(self, reason: Reason, message: str, field: str | None = None) -> None:
        self.reason: Reason = reason
        self.field = field
        super().__init__(f"{reason}: {message}")
