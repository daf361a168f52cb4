"""RedfishDriver against the simulated Redfish BMC over real HTTP(S) on loopback."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from collectors.drivers import get_driver
from collectors.drivers.base import (
    BMCAuthFailed,
    BMCProtocolError,
    BMCUnreachable,
    DriverError,
    PowerUnsupported,
)
from collectors.drivers.redfish import RedfishDriver
from collectors.simulators.faults import Fault
from collectors.simulators.profile import PowerProfile
from tests.unit.collectors.helpers import redfish_endpoint as endpoint


@pytest.fixture
def driver() -> Iterator[RedfishDriver]:
    drv = RedfishDriver()
    yield drv
    drv.close()


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize(
    ("flavour", "source"),
    [
        ("environment-metrics", "redfish:EnvironmentMetrics"),
        ("power-subsystem", "redfish:PowerSubsystem"),
        ("legacy-power", "redfish:Power"),
    ],
)
def test_it_reads_each_flavour_as_the_profile_says(make_sim, driver, flavour, source, tls):
    sim = make_sim(PowerProfile.constant(312.5, refresh=0), flavour=flavour, tls=tls)
    reading = driver.read_power(endpoint(sim))
    assert reading.watts == pytest.approx(312.5)
    assert reading.source == source
    assert abs(reading.read_at_ns - time.time_ns()) < 5 * 10**9


def test_power_metrics_average_is_the_reading_only_when_its_window_is_about_a_poll(
    make_sim, driver
):
    # 100 W and 300 W by turns, a second each: a minute's average is 200 W, the current power
    # 100 or 300. A 1-minute PowerMetrics window is two polls of 30 s, but 30 polls of 2 s.
    profile = PowerProfile([(1.0, 100.0), (1.0, 300.0)], refresh=0.0, epoch=time.time())
    sim = make_sim(profile, flavour="legacy-power", metrics_interval_min=1)
    slow = driver.read_power(dataclasses.replace(endpoint(sim), poll_interval=30.0))
    fast = driver.read_power(dataclasses.replace(endpoint(sim), poll_interval=2.0))
    assert (slow.source, slow.watts) == ("redfish:PowerMetrics", pytest.approx(200.0))
    assert slow.value_time_ns == slow.read_at_ns - 30 * 10**9  # the window's middle
    assert (fast.source, fast.averaged_over_ns) == ("redfish:Power", None)
    assert fast.watts in (100.0, 300.0)


def test_an_environment_sensors_average_is_the_reading_when_its_window_is_about_a_poll(
    make_sim, driver
):
    # 100 W and 300 W by turns, a second each: the Sensor's 2-s average is 200 W, read in place
    # of EnvironmentMetrics once found; a 10-s average is five polls of 2 s: the current power.
    profile = PowerProfile([(1.0, 100.0), (1.0, 300.0)], refresh=0.0, epoch=time.time())
    sim = make_sim(profile, sensor_averaging_s=2)
    polled = dataclasses.replace(endpoint(sim), poll_interval=2.0)
    first = driver.read_power(polled)
    requests = sim.requests
    second = driver.read_power(polled)
    assert sim.requests == requests + 1  # the Sensor alone, not EnvironmentMetrics as well
    for reading in (first, second):
        assert (reading.source, reading.watts) == ("redfish:Sensor:average", pytest.approx(200))
        assert reading.averaged_over_ns == 2 * 10**9
    sim.sensor_averaging_s = 10
    assert driver.read_power(polled).source == "redfish:EnvironmentMetrics"


def test_the_registry_hands_out_the_redfish_driver():
    assert isinstance(get_driver("redfish"), RedfishDriver)
    assert get_driver("redfish").bmc_type == "redfish"


def test_it_reads_the_energy_counter_from_environment_metrics(make_sim, driver):
    profile = PowerProfile.constant(360, refresh=0, epoch=time.time() - 100)
    sim = make_sim(profile)
    first = driver.read_power(endpoint(sim))
    time.sleep(0.2)
    second = driver.read_power(endpoint(sim))
    assert first.energy_j == pytest.approx(360 * 100, rel=0.01)
    assert second.energy_j is not None
    assert first.energy_j is not None
    assert second.energy_j - first.energy_j == pytest.approx(
        360 * (second.read_at_ns - first.read_at_ns) / 1e9, abs=15
    )


def test_disabled_and_absent_supplies_are_not_counted(make_sim, driver):
    sim = make_sim(PowerProfile.constant(300, refresh=0), flavour="power-subsystem")
    # the disabled supply reports standby power and the absent one null: neither is the server's
    sim.supplies = (
        ("1", "Enabled", 0.6),
        ("2", "Enabled", 0.4),
        ("3", "Disabled", 0.1),
        ("4", "Absent", None),
    )
    assert driver.read_power(endpoint(sim)).watts == pytest.approx(300)


@pytest.mark.parametrize("numbers", ["int", "float", "string", "mixed"])
def test_numbers_parse_whether_ints_floats_or_strings(make_sim, driver, numbers):
    for flavour in ("environment-metrics", "power-subsystem", "legacy-power"):
        sim = make_sim(PowerProfile.constant(250, refresh=0), flavour=flavour, numbers=numbers)
        # abs=1: a BMC that writes ints rounds each supply's share on its own
        assert driver.read_power(endpoint(sim)).watts == pytest.approx(250, abs=1)


@pytest.mark.parametrize("flavour", ["environment-metrics", "power-subsystem", "legacy-power"])
def test_a_null_reading_is_a_protocol_error(make_sim, driver, flavour):
    sim = make_sim(300, flavour=flavour, numbers="null")
    with pytest.raises(BMCProtocolError, match="null"):
        driver.read_power(endpoint(sim))


def test_the_null_reading_fault_is_a_protocol_error_after_good_reads(make_sim, driver):
    sim = make_sim(300, flavour="legacy-power")
    driver.read_power(endpoint(sim))
    sim.fault = Fault.NULL_READING
    with pytest.raises(BMCProtocolError):
        driver.read_power(endpoint(sim))
    sim.fault = Fault.NONE
    assert driver.read_power(endpoint(sim)).watts == 300


def test_a_bmc_without_power_resources_is_unsupported(make_sim, driver):
    sim = make_sim(300, flavour="no-power")
    with pytest.raises(PowerUnsupported):
        driver.read_power(endpoint(sim))


def test_it_prefers_the_server_chassis_to_a_card_with_its_own_power(make_sim, driver):
    sim = make_sim(300, decoy_chassis=True)  # a 25 W riser card is listed first
    assert driver.read_power(endpoint(sim)).watts == 300


def test_one_session_serves_many_reads(make_sim, driver):
    sim = make_sim(300)
    for _ in range(20):
        driver.read_power(endpoint(sim))
    assert sim.logins == 1
    assert sim.requests < 20 + 10  # discovery once, then one GET a read


def test_it_logs_in_again_when_the_bmc_expires_the_session(make_sim, driver):
    sim = make_sim(300, session_timeout=0.2)
    driver.read_power(endpoint(sim))
    sim.expire_sessions()
    assert driver.read_power(endpoint(sim)).watts == 300
    time.sleep(0.3)  # and after the idle timeout
    assert driver.read_power(endpoint(sim)).watts == 300
    assert sim.logins == 3


def test_forget_and_close_log_out(make_sim, driver):
    first, second = make_sim(300), make_sim(200)
    driver.read_power(endpoint(first))
    driver.read_power(endpoint(second))
    driver.forget(endpoint(first))
    assert (first.logouts, first.active_sessions) == (1, 0)
    driver.close()
    assert (second.logouts, second.active_sessions) == (1, 0)


def test_a_basic_auth_only_service_works(make_sim, driver):
    sim = make_sim(300, sessions=False, flavour="legacy-power")
    for _ in range(3):
        assert driver.read_power(endpoint(sim)).watts == 300
    assert sim.logins == 0
    with pytest.raises(BMCAuthFailed):
        driver.read_power(endpoint(sim, username="nobody"))


def test_it_remembers_the_source_and_looks_again_when_it_stops_answering(make_sim, driver):
    sim = make_sim(300, flavour="power-subsystem")
    assert driver.read_power(endpoint(sim)).source == "redfish:PowerSubsystem"
    sim.flavour = "legacy-power"  # a firmware update moved the reading
    assert driver.read_power(endpoint(sim)).source == "redfish:Power"
    sim.flavour = "environment-metrics"
    reading = driver.read_power(endpoint(sim))
    assert (reading.source, reading.watts) == ("redfish:EnvironmentMetrics", 300)


def test_wrong_credentials_fail_authentication(make_sim, driver):
    sim = make_sim(300)
    with pytest.raises(BMCAuthFailed):
        driver.read_power(endpoint(sim, password="not-it"))


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.WRONG_PASSWORD, BMCAuthFailed),
        (Fault.ERROR, BMCProtocolError),
        (Fault.SLOW, BMCUnreachable),
        (Fault.HANG, BMCUnreachable),
        (Fault.NULL_READING, BMCProtocolError),
    ],
)
@pytest.mark.parametrize("when", ["first-read", "after-a-good-read"])
def test_each_fault_gives_its_error_within_a_bounded_time(make_sim, driver, fault, error, when):
    sim = make_sim(300, slow_seconds=2.0)
    ep = endpoint(sim, timeout=0.5)
    if when == "after-a-good-read":
        driver.read_power(ep)
    sim.fault = fault
    started = time.monotonic()
    with pytest.raises(error):
        driver.read_power(ep)
    assert time.monotonic() - started < 1.5  # one 0.5 s timeout (one retry at most), no 1 s sleeps


def test_the_error_fault_on_the_service_root_is_a_protocol_error(make_sim, driver):
    sim = make_sim(300, fault=Fault.ERROR, error_status=503)
    with pytest.raises(BMCProtocolError, match="503"):
        driver.read_power(endpoint(sim))


def test_a_closed_port_is_unreachable_at_once(make_sim, driver):
    sim = make_sim(300)
    ep = endpoint(sim)
    sim.stop()
    started = time.monotonic()
    with pytest.raises(BMCUnreachable, match="refused"):
        driver.read_power(ep)
    assert time.monotonic() - started < 1.0


def test_it_verifies_tls_only_when_asked_and_against_the_configured_bundle(
    make_sim, driver, monkeypatch
):
    sim = make_sim(300, tls=True)
    with pytest.raises(BMCProtocolError, match="TLS"):
        driver.read_power(endpoint(sim, verify_tls=True))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.cert_path)
    assert driver.read_power(endpoint(sim, verify_tls=True)).watts == 300
    assert driver.read_power(endpoint(sim, verify_tls=False)).watts == 300


def test_only_one_request_is_in_flight_per_bmc(make_sim, driver):
    sim = make_sim(300, fault=Fault.SLOW, slow_seconds=0.05)
    ep = endpoint(sim)
    with ThreadPoolExecutor(4) as pool:
        readings = list(pool.map(lambda _: driver.read_power(ep), range(8)))
    assert all(r.watts == 300 for r in readings)
    assert sim.peak_in_flight == 1


def test_the_password_never_appears_in_errors_or_logs(make_sim, caplog):
    password = 'pa"ss\\w0rd, "x": {secret}'
    sim = make_sim(300, password=password, session_timeout=0.1)
    drv = RedfishDriver()
    caplog.set_level(logging.DEBUG)  # root: every logger
    for name in ("redfish", "urllib3"):  # and the chatty ones a deployment may have quietened
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []
    ep = endpoint(sim, timeout=0.3)
    drv.read_power(ep)
    sim.expire_sessions()
    drv.read_power(ep)  # a re-login
    for fault in (Fault.WRONG_PASSWORD, Fault.ERROR, Fault.HANG, Fault.NULL_READING):
        sim.fault = fault
        drv.forget(ep)
        with pytest.raises(DriverError) as caught:
            drv.read_power(ep)
        texts += [str(caught.value), repr(caught.value)]
    sim.fault = Fault.NONE
    with pytest.raises(BMCAuthFailed) as caught:
        drv.read_power(endpoint(sim, password=password + "!"))
    texts.append(str(caught.value))
    drv.close()
    texts += [record.getMessage() for record in caplog.records]
    assert any("Password" in text for text in texts)  # the library's dump of the login was seen
    for secret in (password, json.dumps(password)[1:-1], "ss\\w0rd", "{secret}"):
        assert not [text for text in texts if secret in text], secret


def test_many_simulators_in_one_process_all_read_correctly(make_sim, driver):
    flavours = ("environment-metrics", "power-subsystem", "legacy-power")
    sims = [
        make_sim(PowerProfile.constant(100 + i, refresh=0), flavour=flavours[i % 3])
        for i in range(50)
    ]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(2):
            readings = list(pool.map(lambda s: driver.read_power(endpoint(s)), sims))
            assert [r.watts for r in readings] == pytest.approx([100 + i for i in range(50)])
    assert all(sim.logins == 1 for sim in sims)


def test_a_read_waits_boundedly_for_another_read_of_the_same_bmc(make_sim, driver):
    sim = make_sim(300, fault=Fault.HANG)
    ep = endpoint(sim, timeout=0.3)
    errors: list[Exception] = []

    def read() -> None:
        try:
            driver.read_power(ep)
        except DriverError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(errors) == 2
    assert all(isinstance(e, BMCUnreachable) for e in errors)
    assert time.monotonic() - started < 1.5


def test_the_environment_is_read_once_per_connection_not_per_request(make_sim, driver):
    sim = make_sim(300)
    driver.read_power(endpoint(sim))
    (bmc,) = driver._bmcs.values()
    assert bmc.client._session.trust_env is False  # no ~/.netrc or proxy lookup per request


def test_proxies_in_the_environment_still_apply_and_no_proxy_is_honoured(
    make_sim, driver, monkeypatch
):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a proxy that is not there
    monkeypatch.setenv("NO_PROXY", "")
    sim = make_sim(300)
    with pytest.raises(BMCUnreachable):
        driver.read_power(endpoint(sim))
    driver.close()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert driver.read_power(endpoint(sim)).watts == 300


def test_a_netrc_entry_for_the_bmc_does_not_replace_its_credentials(
    make_sim, driver, monkeypatch, tmp_path
):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login nobody password wrong\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    sim = make_sim(300, sessions=False, flavour="legacy-power")  # basic auth on every request
    for _ in range(3):
        assert driver.read_power(endpoint(sim)).watts == 300
