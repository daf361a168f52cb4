"""The poller: concurrent reads, deadlines, back-off and health (drivers faked at the boundary;
the end-to-end tests use the simulated BMCs)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from collectors.drivers.base import (
    BMCAuthFailed,
    BMCEndpoint,
    PowerDriver,
    PowerReading,
)
from collectors.models import HEALTH_FIELDS, BMCType, Pod, Server
from collectors.polling import Poller, record_health, samples_from
from collectors.timing import CIRCUIT_THRESHOLD, MAX_BACKOFF_S, backoff_delay
from energylab.testing import wait_until

pytestmark = pytest.mark.django_db


class ScriptedDriver(PowerDriver):
    """Answers by host: 'ok' reads 200 W, 'hang' blocks until released, 'auth' refuses."""

    bmc_type = "ipmi"

    def __init__(self) -> None:
        self.release = threading.Event()

    def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
        if endpoint.host == "hang":
            self.release.wait(10)
        if endpoint.host == "auth":
            raise BMCAuthFailed(f"login refused for password {endpoint.password}")
        if endpoint.host == "boom":
            raise RuntimeError(f"driver bug with {endpoint.password}")
        if endpoint.host == "absurd":
            return PowerReading(watts=1e308, read_at_ns=time.time_ns(), source="dcmi")
        if endpoint.host == "negative":
            return PowerReading(watts=-5.0, read_at_ns=time.time_ns(), source="dcmi")
        if endpoint.host == "bad-counter":
            return PowerReading(
                watts=180.0, read_at_ns=time.time_ns(), source="x", energy_j=float("inf")
            )
        return PowerReading(watts=200.0, read_at_ns=time.time_ns(), source="dcmi")


@pytest.fixture
def driver() -> ScriptedDriver:
    d = ScriptedDriver()
    yield d
    d.release.set()


@pytest.fixture
def poller(driver: ScriptedDriver) -> Poller:
    p = Poller(threads=8, driver_for=lambda _type: driver)
    yield p
    p.shutdown()


def make_servers(*hosts: str) -> list[Server]:
    pod = Pod.objects.create(name="pod a", poll_interval=5)
    servers = []
    for i, host in enumerate(hosts):
        s = Server(pod=pod, name=f"s{i}-{host}", bmc_type=BMCType.IPMI, host=host)
        s.password = "pa55word!"
        s.save()
        servers.append(s)
    return servers


def test_a_hung_bmc_costs_only_its_own_deadline(poller: Poller) -> None:
    servers = make_servers("ok", "hang", "ok")
    started = time.monotonic()
    outcomes = poller.poll(servers, deadline_s=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.5
    by_host = {s.host: [] for s in servers}
    for o in outcomes:
        by_host[next(s.host for s in servers if s.pk == o.server_id)].append(o)
    assert all(o.reading and o.reading.watts == 200.0 for o in by_host["ok"])
    assert by_host["hang"][0].error == "no answer within 0.5 s"


def test_a_bmc_still_in_flight_is_skipped_not_piled_up(
    poller: Poller, driver: ScriptedDriver
) -> None:
    servers = make_servers("hang")
    poller.poll(servers, deadline_s=0.2)
    second = poller.poll(servers, deadline_s=0.2)
    assert second[0].skipped
    driver.release.set()
    wait_until(lambda: not poller._in_flight, 2, "the released read to end", every=0.01)
    driver.release.clear()
    third = poller.poll(make_servers_ok(servers[0]), deadline_s=1)
    assert not third[0].skipped


def make_servers_ok(server: Server) -> list[Server]:
    server.host = "ok"
    return [server]


def test_errors_never_carry_the_password(poller: Poller) -> None:
    outcomes = poller.poll(make_servers("auth", "boom"), deadline_s=1)
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert outcome.error
        assert "pa55word!" not in outcome.error


def test_failures_back_off_exponentially_and_open_the_circuit() -> None:
    assert backoff_delay(0, 5) == 0
    assert [backoff_delay(n, 5) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff_delay(CIRCUIT_THRESHOLD, 5) == MAX_BACKOFF_S
    assert backoff_delay(3, 200) == MAX_BACKOFF_S


def test_health_records_success_and_failure(poller: Poller) -> None:
    servers = make_servers("ok", "auth")
    by_id = {s.pk: s for s in servers}
    now = dt.datetime.now(dt.UTC)
    for _ in range(2):
        record_health(poller.poll(servers, deadline_s=1), by_id, now)
    ok, bad = (Server.objects.get(pk=s.pk) for s in servers)
    assert ok.last_reading_w == 200.0
    assert ok.consecutive_failures == 0
    assert ok.last_source == "dcmi"
    assert bad.consecutive_failures == 2
    assert "login refused" in bad.last_error
    assert "pa55word!" not in bad.last_error
    assert bad.backoff_until == now + dt.timedelta(seconds=10)


def test_a_healthy_servers_row_is_rewritten_only_once_its_health_is_refresh_s_old(
    poller: Poller,
) -> None:
    (server,) = make_servers("ok")
    by_id = {server.pk: server}
    start = dt.datetime.now(dt.UTC)
    record_health(poller.poll([server], deadline_s=1), by_id, start, refresh_s=30)
    first = Server.objects.get(pk=server.pk)
    assert first.last_success_at == start
    for seconds in (5, 10, 29):
        later = start + dt.timedelta(seconds=seconds)
        record_health(poller.poll([server], deadline_s=1), by_id, later, refresh_s=30)
        assert Server.objects.get(pk=server.pk).last_success_at == start
    later = start + dt.timedelta(seconds=30)
    record_health(poller.poll([server], deadline_s=1), by_id, later, refresh_s=30)
    row = Server.objects.get(pk=server.pk)
    assert row.last_success_at == later
    assert row.last_reading_at > first.last_reading_at


def test_failures_and_the_recovery_after_them_are_written_at_once(
    poller: Poller, driver: ScriptedDriver
) -> None:
    (server,) = make_servers("ok")
    by_id = {server.pk: server}
    start = dt.datetime.now(dt.UTC)
    record_health(poller.poll([server], deadline_s=1), by_id, start, refresh_s=30)
    server.host = "auth"  # the BMC starts refusing the password
    record_health(poller.poll([server], deadline_s=1), by_id, start + dt.timedelta(seconds=5))
    row = Server.objects.get(pk=server.pk)
    assert row.consecutive_failures == 1
    assert row.backoff_until is not None
    server.host = "ok"
    back = start + dt.timedelta(seconds=10)
    record_health(poller.poll([server], deadline_s=1), by_id, back, refresh_s=30)
    row = Server.objects.get(pk=server.pk)
    assert (row.consecutive_failures, row.backoff_until, row.last_success_at) == (0, None, back)


def test_every_health_field_is_written_by_a_success_or_a_failure() -> None:
    from collectors import polling

    fields = set(polling._SUCCESS_FIELDS) | set(polling._FAILURE_FIELDS)
    assert fields == set(HEALTH_FIELDS)


def test_readings_become_samples_of_the_pod_and_server(poller: Poller) -> None:
    servers = make_servers("ok")
    samples = samples_from(poller.poll(servers, deadline_s=1), {s.pk: s for s in servers})
    assert len(samples) == 1
    assert (samples[0].pod, samples[0].server, samples[0].watts) == ("pod a", "s0-ok", 200.0)
    assert abs(samples[0].measured_at_ns - time.time_ns()) < 5 * 10**9


def test_stalled_ipmi_reads_do_not_take_the_threads_of_redfish_reads() -> None:
    release = threading.Event()

    class Stalling(PowerDriver):
        def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
            if endpoint.host.startswith("ipmi"):
                release.wait(10)
            return PowerReading(watts=1.0, read_at_ns=time.time_ns(), source="x")

    driver = Stalling()
    poller = Poller(threads=4, driver_for=lambda _type: driver)
    pod = Pod.objects.create(name="pools", poll_interval=5)
    servers = [
        Server.objects.create(pod=pod, name=f"i{i}", bmc_type=BMCType.IPMI, host=f"ipmi{i}")
        for i in range(6)
    ] + [
        Server.objects.create(pod=pod, name=f"r{i}", bmc_type=BMCType.REDFISH, host=f"rf{i}")
        for i in range(4)
    ]
    try:
        outcomes = poller.poll(servers, deadline_s=0.5)
    finally:
        release.set()
        poller.shutdown()
    redfish = [o for o in outcomes if o.server_id in {s.pk for s in servers[6:]}]
    assert all(o.reading is not None for o in redfish)


@pytest.mark.parametrize("host", ["absurd", "negative"])
def test_a_bmc_answering_an_impossible_power_is_a_failed_read_not_a_sample(
    poller: Poller, host: str
) -> None:
    (server,) = make_servers(host)
    outcomes = poller.poll([server], deadline_s=2)
    assert outcomes[0].reading is None
    assert "impossible power reading" in (outcomes[0].error or "")
    assert samples_from(outcomes, {server.pk: server}) == []
    record_health(outcomes, {server.pk: server}, dt.datetime.now(dt.UTC))
    server.refresh_from_db()
    assert (server.consecutive_failures, server.last_reading_w) == (1, None)


def test_an_absurd_energy_counter_is_dropped_and_the_watts_kept(poller: Poller) -> None:
    (server,) = make_servers("bad-counter")
    (outcome,) = poller.poll([server], deadline_s=2)
    assert outcome.reading is not None
    assert (outcome.reading.watts, outcome.reading.energy_j) == (180.0, None)
