"""The simulated Redfish BMC speaks real HTTP: checked here with plain ``requests``."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from collectors.simulators.faults import Fault
from collectors.simulators.profile import PowerProfile
from collectors.simulators.redfish import RedfishSimulator

CHASSIS = "/redfish/v1/Chassis/1"
SUPPLIES = f"{CHASSIS}/PowerSubsystem/PowerSupplies"


def get(sim: RedfishSimulator, path: str, **kwargs: object) -> requests.Response:
    kwargs.setdefault("auth", (sim.username, sim.password))
    kwargs.setdefault("timeout", 2)
    return requests.get(sim.base_url + path, **kwargs)  # type: ignore[arg-type]


def test_it_serves_the_service_root_without_credentials_and_nothing_else(make_sim):
    sim = make_sim(300)
    assert get(sim, "/redfish/v1/", auth=None).json()["Chassis"]["@odata.id"]
    assert get(sim, CHASSIS, auth=None).status_code == 401
    assert get(sim, CHASSIS, auth=("admin", "wrong")).status_code == 401
    assert get(sim, CHASSIS).json()["ChassisType"] == "RackMount"


def test_a_session_login_gives_a_token_and_a_location_that_logs_out(make_sim):
    sim = make_sim(300)
    body = {"UserName": sim.username, "Password": sim.password}
    login = requests.post(
        sim.base_url + "/redfish/v1/SessionService/Sessions", json=body, timeout=2
    )
    assert login.status_code == 201
    token, location = login.headers["X-Auth-Token"], login.headers["Location"]
    headers = {"X-Auth-Token": token}
    assert get(sim, CHASSIS, auth=None, headers=headers).status_code == 200
    assert requests.delete(sim.base_url + location, headers=headers, timeout=2).status_code == 204
    assert get(sim, CHASSIS, auth=None, headers=headers).status_code == 401
    assert (sim.logins, sim.logouts) == (1, 1)


def test_a_session_expires_after_its_idle_time(make_sim):
    sim = make_sim(300, session_timeout=0.2)
    body = {"UserName": sim.username, "Password": sim.password}
    token = requests.post(
        sim.base_url + "/redfish/v1/SessionService/Sessions", json=body, timeout=2
    ).headers["X-Auth-Token"]
    assert get(sim, CHASSIS, auth=None, headers={"X-Auth-Token": token}).status_code == 200
    time.sleep(0.3)
    assert get(sim, CHASSIS, auth=None, headers={"X-Auth-Token": token}).status_code == 401


def test_the_wrong_password_fault_refuses_every_login(make_sim):
    sim = make_sim(300, fault=Fault.WRONG_PASSWORD)
    body = {"UserName": sim.username, "Password": sim.password}
    url = sim.base_url + "/redfish/v1/SessionService/Sessions"
    assert requests.post(url, json=body, timeout=2).status_code == 401
    assert get(sim, CHASSIS).status_code == 401


def test_a_basic_auth_only_service_offers_no_sessions(make_sim):
    sim = make_sim(300, sessions=False)
    root = get(sim, "/redfish/v1/", auth=None).json()
    assert "SessionService" not in root
    assert "Links" not in root
    body = {"UserName": sim.username, "Password": sim.password}
    url = sim.base_url + "/redfish/v1/SessionService/Sessions"
    assert requests.post(
        url, json=body, auth=(sim.username, sim.password), timeout=2
    ).status_code in (
        404,
        405,
    )
    assert get(sim, CHASSIS).status_code == 200


def test_power_is_split_over_two_enabled_supplies_and_the_others_report_nothing(make_sim):
    sim = make_sim(300, flavour="power-subsystem")
    readings = {}
    for bay in ("1", "2", "3", "4"):
        state = get(sim, f"{SUPPLIES}/{bay}").json()["Status"]["State"]
        readings[bay] = (
            state,
            get(sim, f"{SUPPLIES}/{bay}/Metrics").json()["InputPowerWatts"]["Reading"],
        )
    assert readings["1"][0] == readings["2"][0] == "Enabled"
    assert readings["1"][1] + readings["2"][1] == pytest.approx(300)
    assert readings["3"] == ("Disabled", 0)
    assert readings["4"] == ("Absent", None)


@pytest.mark.parametrize(
    ("numbers", "expected"), [("int", 300), ("float", 300.0), ("string", "300.00"), ("null", None)]
)
def test_numbers_are_written_in_the_chosen_style(make_sim, numbers, expected):
    sim = make_sim(300, flavour="legacy-power", numbers=numbers)
    value = get(sim, f"{CHASSIS}/Power").json()["PowerControl"][0]["PowerConsumedWatts"]
    assert value == expected
    assert type(value) is type(expected)


def test_environment_metrics_counts_energy_as_the_profile_says(make_sim):
    profile = PowerProfile.constant(360, refresh=0, epoch=time.time() - 10)
    sim = make_sim(profile)
    before = time.time()
    data = get(sim, f"{CHASSIS}/EnvironmentMetrics").json()
    assert data["PowerWatts"]["Reading"] == 360
    assert data["EnergykWh"]["Reading"] * 3.6e6 == pytest.approx(profile.counter_j(before), abs=50)


def test_the_ilo4_fast_power_meter_ends_with_the_latest_average(make_sim):
    sim = make_sim(
        PowerProfile([(1000, 200), (1000, 400)], epoch=time.time() - 1500), flavour="ilo4"
    )
    detail = get(sim, "/rest/v1/Chassis/1/PowerMetrics/FastPowerMeter").json()["PowerDetail"]
    assert float(detail[-1]["Average"]) == 400
    assert float(detail[0]["Average"]) == 200  # twenty minutes ago
    assert detail[0]["Time"] < detail[-1]["Time"]
    assert "Hp" in get(sim, f"{CHASSIS}/Power").json()["Oem"]


def test_the_error_fault_answers_a_server_error(make_sim):
    sim = make_sim(300, fault=Fault.ERROR, error_status=503)
    assert get(sim, CHASSIS).status_code == 503


def test_the_hang_fault_reads_the_request_and_never_answers(make_sim):
    sim = make_sim(300, fault=Fault.HANG)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        get(sim, CHASSIS, timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert sim.requests == 1


def test_a_slow_bmc_delays_only_its_own_answers(make_sim):
    slow = make_sim(300, fault=Fault.SLOW, slow_seconds=0.5)
    fast = make_sim(300)
    result: list[float] = []
    thread = threading.Thread(
        target=lambda: result.append(get(slow, CHASSIS).elapsed.total_seconds())
    )
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    for _ in range(10):
        assert get(fast, CHASSIS).status_code == 200
    assert time.monotonic() - started < 0.4
    thread.join(3)
    assert result
    assert result[0] >= 0.5


def test_https_uses_a_self_signed_certificate_for_127_0_0_1(make_sim):
    sim = make_sim(300, tls=True)
    assert sim.base_url.startswith("https://")
    assert sim.cert_path
    assert get(sim, CHASSIS, verify=sim.cert_path).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        get(sim, CHASSIS, verify=True)


def test_a_keep_alive_connection_serves_many_requests(make_sim):
    sim = make_sim(300)
    with requests.Session() as session:
        session.auth = (sim.username, sim.password)
        for _ in range(20):
            assert session.get(sim.base_url + CHASSIS, timeout=2).status_code == 200
        assert len(sim.connections) == 1


def test_stop_frees_the_port_and_closes_hung_connections(make_sim):
    sim = make_sim(300, fault=Fault.HANG)
    with pytest.raises(requests.ReadTimeout):
        get(sim, CHASSIS, timeout=0.2)
    sim.stop()
    assert not sim.hung
    with pytest.raises(requests.ConnectionError):
        get(sim, CHASSIS, timeout=1)


def test_one_process_hosts_hundreds_of_simulators(make_sim):
    sims = [make_sim(100 + i, flavour="legacy-power") for i in range(300)]
    assert len({sim.port for sim in sims}) == 300
    for i, sim in enumerate(sims):
        power = get(sim, f"{CHASSIS}/Power").json()["PowerControl"][0]["PowerConsumedWatts"]
        assert power == 100 + i
