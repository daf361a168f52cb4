"""Every driver's read ends by its deadline whatever the BMC does (collectors.drivers.deadline,
PowerDriver.read_power_by), down to a Redfish BMC that drips its answer byte by byte."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from collectors.drivers.base import (
    BMCEndpoint,
    BMCUnreachable,
    PowerDriver,
    PowerReading,
    ReadDeadlinePassed,
)
from collectors.drivers.deadline import DeadlinePassed, call_within
from collectors.drivers.redfish import RedfishDriver
from collectors.simulators.faults import Fault
from tests.unit.collectors.helpers import redfish_endpoint


def spin_forever() -> None:
    while True:  # Python code that never returns: what a drip looks like from the thread
        time.sleep(0.01)


def test_a_call_that_never_returns_is_interrupted_at_its_deadline() -> None:
    with pytest.raises(DeadlinePassed):
        call_within(time.monotonic() + 0.1, spin_forever)


def test_a_call_whose_deadline_passed_before_it_started_is_not_made() -> None:
    called = []
    with pytest.raises(DeadlinePassed):
        call_within(time.monotonic() - 1, lambda: called.append(1))
    assert called == []


def test_a_call_that_swallows_the_interruption_is_still_reported_late() -> None:
    def stubborn() -> str:
        with contextlib.suppress(BaseException):  # what a careless library might do
            spin_forever()
        return "too late"

    with pytest.raises(DeadlinePassed):
        call_within(time.monotonic() + 0.1, stubborn)


def test_a_call_that_ends_in_time_returns_and_is_not_interrupted_afterwards() -> None:
    assert call_within(time.monotonic() + 0.2, lambda: 42) == 42
    # The thread goes on running Python code past the old deadline: nothing may land in it
    # (an interruption would fail this test with ReadAbandoned).
    end = time.monotonic() + 0.4
    while time.monotonic() < end:
        time.sleep(0.01)


def test_errors_of_the_call_pass_through_unchanged() -> None:
    def refuse() -> None:
        raise BMCUnreachable("no route")

    with pytest.raises(BMCUnreachable, match="no route"):
        call_within(time.monotonic() + 5, refuse)


def test_every_driver_reads_within_a_deadline_without_writing_one() -> None:
    class Forgetful(PowerDriver):  # a future driver that bounds nothing itself
        def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
            spin_forever()
            raise AssertionError("unreachable")

    endpoint = BMCEndpoint(host="bmc-1", password="s3cret")
    with pytest.raises(ReadDeadlinePassed) as caught:
        Forgetful().read_power_by(endpoint, time.monotonic() + 0.1)
    assert "bmc-1" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.fixture
def driver() -> Iterator[RedfishDriver]:
    drv = RedfishDriver()
    yield drv
    drv.close()


def test_a_redfish_bmc_dripping_its_answer_is_abandoned_at_the_deadline(make_sim, driver):
    sim = make_sim(fault=Fault.DRIP, drip_seconds=0.05)
    endpoint = redfish_endpoint(sim)  # every byte comes well within the request timeout
    with pytest.raises(ReadDeadlinePassed):
        driver.read_power_by(endpoint, time.monotonic() + 0.5)
    sim.fault = Fault.NONE  # the BMC recovers: the next read works, nothing was left locked
    assert driver.read_power_by(endpoint, time.monotonic() + 5).watts > 0


def test_the_dripping_simulator_sends_its_headers_then_the_body_a_byte_at_a_time(make_sim):
    import http.client

    sim = make_sim(fault=Fault.DRIP, drip_seconds=0.001)
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    connection.request("GET", "/redfish/v1")
    response = connection.getresponse()
    assert response.status == 200
    first = response.read(1)
    assert len(first) == 1
    body = first + response.read()
    assert body.startswith(b"{")
    assert len(body) == int(response.headers["Content-Length"])
    connection.close()
