"""The project's fixtures live in :mod:`energylab.testing`, a pytest plugin.

Every test is marked with its tier from its folder (docs/testing.md), so that ``pytest -m unit``
runs what ``pytest tests/unit sdk/tests`` runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["energylab.testing"]

ROOT = Path(__file__).resolve().parent
TIERS = {
    ROOT / "tests" / "unit": "unit",
    ROOT / "sdk" / "tests": "unit",
    ROOT / "tests" / "integration": "integration",
    ROOT / "tests" / "e2e": "e2e",
    ROOT / "tests" / "reliability": "reliability",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        for folder, tier in TIERS.items():
            if path.is_relative_to(folder):
                item.add_marker(tier)
                break
