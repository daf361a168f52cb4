"""ShellyDriver against simulated Gen1 and Gen2 plugs over real HTTP on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from collectors.drivers import get_driver
from collectors.drivers.base import BMCAuthFailed, BMCEndpoint, BMCProtocolError, PowerUnsupported
from collectors.drivers.shelly import ShellyDriver
from collectors.simulators.profile import PowerProfile
from collectors.simulators.shelly import ShellySimulator


@pytest.fixture(scope="module", params=[1, 2])
def plug(request: pytest.FixtureRequest) -> Iterator[ShellySimulator]:
    profile = PowerProfile([(1e10, 42.3)], epoch=time.time() - 86_400)  # counted for a day
    with ShellySimulator(
        profile, generation=request.param, username="lab", password="s3cret"
    ) as sim:
        yield sim


def endpoint(plug: ShellySimulator, password: str = "s3cret", **options: object) -> BMCEndpoint:
    return BMCEndpoint(
        "127.0.0.1", plug.port, "lab", password, scheme="http", timeout=2, options=options
    )


def test_the_driver_registry_serves_shelly() -> None:
    assert isinstance(get_driver("shelly"), ShellyDriver)


def test_it_reads_the_plugs_power_finding_its_generation(plug) -> None:
    reading = ShellyDriver().read_power(endpoint(plug))
    assert reading.watts == pytest.approx(42.3)
    assert reading.source == f"shelly:gen{plug.generation}"


def test_no_plug_counter_is_used_being_coarser_than_a_step(plug) -> None:
    reading = ShellyDriver().read_power(endpoint(plug, generation=plug.generation))
    assert reading.energy_j is None


def test_a_wrong_password_is_an_auth_failure(plug) -> None:
    with pytest.raises(BMCAuthFailed):
        ShellyDriver().read_power(endpoint(plug, password="nope", generation=plug.generation))


def test_a_channel_the_plug_lacks_is_refused(plug) -> None:
    with pytest.raises((PowerUnsupported, BMCProtocolError)):
        ShellyDriver().read_power(endpoint(plug, generation=plug.generation, channel=1))
