"""Fixtures for the SDK tests.

``energylab_server`` is a running fake server (``energylab_sdk.testing.FakeEnergyLab``). Tests
that use only its URLs (``root_url``, ``native_url``, ``legacy_url``) and what it received
(``events()``, ``wait_for_events()``) describe the contract; a live-server test can reuse them
by providing a fixture with the same attributes.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import energylab_sdk
import pytest
from energylab_sdk import _api, _client, _provenance
from energylab_sdk._config import ENV_VARS
from energylab_sdk.testing import FakeEnergyLab


def pytest_configure(config: pytest.Config) -> None:
    # The pytester fixture. Not `pytest_plugins = ["pytester"]`: pytest refuses that in a
    # conftest that is not loaded up front, as here under `pytest .` from the repository root.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


POD = "pod-1"


@pytest.fixture(autouse=True)
def isolated_sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No configuration from the developer's environment; no state left between tests."""
    for names in ENV_VARS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    # Nor provenance from the CI these tests may run under.
    for name in (*_provenance.ENV_VARS.values(), *_provenance.CI_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    _provenance._forget_detected()
    energylab_sdk.configure(url=None)
    _api._reset_state()
    yield
    _client.current().shutdown(0.1)  # here, not in a background thread during the next test
    energylab_sdk.configure(url=None)
    _api._reset_state()


@pytest.fixture
def energylab_server() -> Iterator[FakeEnergyLab]:
    with FakeEnergyLab() as server:
        yield server


@pytest.fixture
def energy(energylab_server: FakeEnergyLab) -> ModuleType:
    """The SDK, configured to talk to ``energylab_server`` on pod ``POD``."""
    energylab_sdk.configure(url=energylab_server.root_url, pod=POD)
    return energylab_sdk
