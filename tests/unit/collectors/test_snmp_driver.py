"""SNMPDriver against the simulated PDU agent on loopback, and snmpget reading that agent."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from collectors.drivers import get_driver
from collectors.drivers.base import (
    BMCAuthFailed,
    BMCEndpoint,
    BMCSettingsError,
    BMCUnreachable,
    PowerUnsupported,
)
from collectors.drivers.snmp import SNMPDriver
from collectors.simulators.profile import PowerProfile
from collectors.simulators.snmp import SNMPSimulator, V3User

SNMPGET = shutil.which("snmpget")
needs_snmpget = pytest.mark.skipif(SNMPGET is None, reason="snmpget (Debian's snmp) is not on PATH")

USERS = [
    V3User("sha-aes", "sha", "auth-secret-1", "aes128", "priv-secret-1"),
    V3User("sha256-des", "sha256", "auth-secret-1", "des", "priv-secret-1"),
    V3User("md5-only", "md5", "auth-secret-1", "none", ""),
]
SENSOR_OID = "1.3.6.1.4.1.99999.1.0"


@pytest.fixture(scope="module")
def pdu() -> Iterator[SNMPSimulator]:
    outlets = [PowerProfile.constant(w) for w in (120.0, 135.4, 0.0, 80.0)]
    sensors = {SENSOR_OID: lambda: 2504.0, "1.3.6.1.4.1.99999.2.0": lambda: 21.5}
    with SNMPSimulator(outlets, users=USERS, sensors=sensors) as sim:
        yield sim


@pytest.fixture(scope="module")
def second_pdu() -> Iterator[SNMPSimulator]:
    with SNMPSimulator([PowerProfile.constant(60.0), PowerProfile.constant(99.0)]) as sim:
        yield sim


@pytest.fixture(scope="module")
def driver() -> Iterator[SNMPDriver]:
    drv = SNMPDriver()
    yield drv
    drv.close()


def endpoint(sim: SNMPSimulator, options: dict[str, Any], **kwargs: Any) -> BMCEndpoint:
    kwargs.setdefault("password", "public")
    kwargs.setdefault("timeout", 2.0)
    return BMCEndpoint("127.0.0.1", sim.port, options=options, **kwargs)


def test_the_driver_registry_serves_snmp() -> None:
    assert isinstance(get_driver("snmp"), SNMPDriver)


@pytest.mark.parametrize("vendor", ["apc", "raritan", "servertech", "eaton"])
def test_it_sums_a_servers_outlets_through_each_vendor_preset(driver, pdu, vendor) -> None:
    reading = driver.read_power(endpoint(pdu, {"pdu": vendor, "outlets": [1, 2]}))
    assert reading.watts == 120 + 135  # PDUs report whole watts
    assert reading.parts == ((f"{vendor}#1", 120.0), (f"{vendor}#2", 135.0))
    assert reading.source == f"snmp:{vendor}#1+{vendor}#2"


def test_a_server_on_two_pdus_gets_both_outlets_with_their_shares(driver, pdu, second_pdu) -> None:
    options = {
        "pdu": "apc",
        "outlets": [1, {"outlet": 2, "host": "127.0.0.1", "port": second_pdu.port, "pdu": "eaton"}],
    }
    reading = driver.read_power(endpoint(pdu, options))
    assert reading.watts == 120 + 99
    assert reading.parts == (("apc#1", 120.0), ("127.0.0.1:eaton#2", 99.0))


def test_any_oid_is_a_sensor_with_its_unit_and_scale(driver, pdu) -> None:
    options = {
        "sensors": [
            {"name": "input", "oid": SENSOR_OID, "unit": "W", "scale": 0.1},
            {"name": "inlet temperature", "oid": "1.3.6.1.4.1.99999.2.0", "unit": "deg C"},
        ]
    }
    reading = driver.read_power(endpoint(pdu, options))
    assert reading.watts == pytest.approx(250.4)
    assert reading.source == "snmp:input"


@pytest.mark.parametrize(
    ("user", "auth", "privacy"),
    [
        ("sha-aes", "SHA", "AES"),
        ("sha256-des", "HMAC-SHA-2-256", "CBC-DES"),
        ("md5-only", "HMAC-MD5-96", None),
    ],
)
def test_it_reads_snmpv3_with_the_original_protocol_names(driver, pdu, user, auth, privacy) -> None:
    options = {"version": "v3", "auth_protocol": auth, "privacy_protocol": privacy}
    options |= {"pdu": "servertech", "outlets": [4]}
    reading = driver.read_power(
        endpoint(
            pdu, options, username=user, password="auth-secret-1", privacy_password="priv-secret-1"
        )
    )
    assert reading.watts == 80


def test_a_wrong_v3_pass_phrase_is_an_auth_failure_that_never_shows_it(driver, pdu) -> None:
    options = {"version": "v3", "auth_protocol": "SHA", "privacy_protocol": "AES"}
    options |= {"pdu": "apc", "outlets": [1]}
    with pytest.raises(BMCAuthFailed) as caught:
        driver.read_power(
            endpoint(
                pdu,
                options,
                username="sha-aes",
                password="wrong-secret-9",
                privacy_password="priv-secret-1",
            )
        )
    assert "wrong-secret-9" not in str(caught.value)


def test_a_wrong_community_gets_no_answer(driver, pdu) -> None:
    with pytest.raises(BMCUnreachable, match="no SNMP answer"):
        driver.read_power(
            endpoint(pdu, {"pdu": "apc", "outlets": [1]}, password="private", timeout=0.3)
        )


def test_an_outlet_the_pdu_lacks_is_unsupported_naming_its_oid(driver, pdu) -> None:
    with pytest.raises(
        PowerUnsupported, match=r"1\.3\.6\.1\.4\.1\.318\.1\.1\.26\.9\.4\.3\.1\.7\.9"
    ):
        driver.read_power(endpoint(pdu, {"pdu": "apc", "outlets": [9]}))


def test_bad_settings_are_a_settings_error(driver, pdu) -> None:
    with pytest.raises(BMCSettingsError, match="source settings: pdu"):
        driver.read_power(endpoint(pdu, {"pdu": "acme", "outlets": [1]}))


@needs_snmpget
def test_snmpget_reads_each_vendors_outlet_power_from_the_simulator(pdu) -> None:
    oids = [
        "1.3.6.1.4.1.318.1.1.26.9.4.3.1.7.2",  # APC rPDU2OutletMeteredStatusPower.2
        "1.3.6.1.4.1.13742.6.5.4.3.1.4.1.2.5",  # Raritan measurementsOutletSensorValue.1.2.activePower
        "1.3.6.1.4.1.1718.4.1.8.3.1.7.1.1.2",  # ServerTech st4OutletActivePower.1.1.2
        "1.3.6.1.4.1.534.6.6.7.6.5.1.3.0.2",  # Eaton outletWatts.0.2
    ]
    result = subprocess.run(
        [SNMPGET or "snmpget", "-v2c", "-c", "public", "-Oqv", f"127.0.0.1:{pdu.port}", *oids],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["135"] * 4


@needs_snmpget
def test_snmpget_reads_the_simulator_over_snmpv3_auth_priv(pdu) -> None:
    result = subprocess.run(
        [SNMPGET or "snmpget", "-v3", "-l", "authPriv", "-u", "sha-aes", "-a", "SHA", "-A", "auth-secret-1",
         "-x", "AES", "-X", "priv-secret-1", "-Oqv", f"127.0.0.1:{pdu.port}", "1.3.6.1.4.1.318.1.1.26.9.4.3.1.7.1"],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "120"


def test_a_changed_v3_pass_phrase_takes_effect_on_the_same_engine(driver, pdu) -> None:
    options = {"version": "v3", "auth_protocol": "SHA", "privacy_protocol": "AES"}
    options |= {"pdu": "apc", "outlets": [1]}
    good = endpoint(
        pdu, options, username="sha-aes", password="auth-secret-1", privacy_password="priv-secret-1"
    )
    bad = endpoint(
        pdu,
        options,
        username="sha-aes",
        password="wrong-secret-8",
        privacy_password="priv-secret-1",
    )
    assert driver.read_power(good).watts == 120
    with pytest.raises(BMCAuthFailed):
        driver.read_power(bad)
    assert driver.read_power(good).watts == 120


def test_a_reading_is_dated_when_its_get_left_not_before(driver, pdu) -> None:
    before = time.time_ns()
    reading = driver.read_power(endpoint(pdu, {"pdu": "apc", "outlets": [1]}))
    assert before <= reading.read_at_ns <= time.time_ns()
