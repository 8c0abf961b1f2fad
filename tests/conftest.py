"""Test tiers by folder: ``unit/`` (seconds), ``slow/`` (real kernels, the sandbox, kill -9),
``e2e/`` (real notebooks with real TensorFlow training). A test may name a slower tier itself
(``@pytest.mark.e2e``); it then runs only in that tier."""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "slow", "e2e")
_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        own = [t for t in TIERS if item.get_closest_marker(t)]
        if own:
            continue
        folder = Path(item.path).relative_to(_HERE).parts[0]
        if folder not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in tests/unit, tests/slow or tests/e2e")
        item.add_marker(getattr(pytest.mark, folder))
