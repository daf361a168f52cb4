"""Fixtures shared by the collectors' tests (simulated Redfish BMCs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from collectors.simulators.redfish import RedfishSimulator


@pytest.fixture
def make_sim() -> Iterator[Callable[..., RedfishSimulator]]:
    """Start Redfish simulators on demand; every one is stopped after the test."""
    started: list[RedfishSimulator] = []

    def make(*args: object, **kwargs: object) -> RedfishSimulator:
        sim = RedfishSimulator(*args, **kwargs).start()  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
