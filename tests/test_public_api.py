"""Each package's ``__all__`` is sorted, complete and importable."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = [
    "tradewire.schemas",
    "tradewire.publisher",
    "tradewire.consumers.simulate",
    "tradewire.consumers.console",
    "tradewire.consumers.embedded",
    "tradewire.consumers.tail",
    "tradewire.consumers.cli",
    "tradewire.consumers.stack",
    "tradewire.consumers.stack_cli",
    "tradewire.consumers.auth",
    "tradewire.consumers.runtime",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=lambda s: (not s.isupper(), s)) or exported == sorted(
        exported
    )
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr} in __all__ but missing"


@pytest.mark.parametrize("name", ["tradewire.schemas", "tradewire.publisher"])
def test_all_is_complete(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"
    }
    assert public == set(module.__all__)
