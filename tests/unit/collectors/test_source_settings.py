"""Validation of SNMP, Modbus and Shelly servers' settings (collectors.source_settings)."""

from __future__ import annotations

import pytest

from collectors.source_settings import (
    SourceSettingsError,
    parse_modbus,
    parse_shelly,
    parse_snmp,
    validate,
)


def test_snmp_takes_the_original_protocol_names() -> None:
    settings = parse_snmp(
        {
            "version": "v3",
            "auth_protocol": "HMAC-SHA-2-256",
            "privacy_protocol": "CFB128-AES-256",
            "sensors": [{"name": "in", "oid": ".1.3.6.1.4.1.1.0", "unit": "W", "scale": 0.1}],
        }
    )
    assert (settings.version, settings.auth_protocol, settings.privacy_protocol) == (
        "v3",
        "sha256",
        "aes256",
    )
    assert settings.sensors[0].oid == "1.3.6.1.4.1.1.0"
    assert settings.sensors[0].scale == 0.1


def test_snmp_v2_of_the_original_means_v2c() -> None:
    assert parse_snmp({"version": "v2", "pdu": "apc", "outlets": [1]}).version == "v2c"


def test_snmp_outlets_take_the_default_vendor_or_their_own_pdu() -> None:
    settings = parse_snmp(
        {"pdu": "apc", "outlets": [3, {"outlet": 7, "host": "pdu-b", "pdu": "eaton", "unit": 2}]}
    )
    first, second = settings.outlets
    assert (first.number, first.vendor, first.host) == (3, "apc", "")
    assert (second.number, second.vendor, second.host, second.unit) == (7, "eaton", "pdu-b", 2)
    assert second.label == "pdu-b:eaton#7"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"version": "v4", "pdu": "apc", "outlets": [1]}, "version"),
        ({"auth_protocol": "ROT13", "pdu": "apc", "outlets": [1]}, "auth_protocol"),
        ({"privacy_protocol": "AES", "pdu": "apc", "outlets": [1]}, "needs an auth_protocol"),
        ({"pdu": "acme", "outlets": [1]}, "pdu"),
        ({"outlets": [1]}, "outlets[0]: no 'pdu' vendor"),
        ({"pdu": "apc", "outlets": [0]}, "outlets[0].outlet"),
        ({"sensors": [{"name": "t", "oid": "1.3.6.1.2", "unit": "deg C"}]}, "no outlets"),
        ({"sensors": [{"name": "p", "oid": "sysUpTime", "unit": "W"}]}, "sensors[0].oid"),
        ({"sensors": [{"name": "p", "oid": "1.3.6", "unit": "W", "scale": "x"}]}, "scale"),
        ({"pdu": "apc", "outlets": [1], "communty": "x"}, "communty: unknown key"),
    ],
)
def test_snmp_refuses_bad_settings_naming_the_key(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(SourceSettingsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_snmp(settings)


def test_modbus_defaults_follow_the_original() -> None:
    sensor = parse_modbus(
        {"sensors": [{"name": "power", "unit": "W", "register_address": "0x10"}]}
    ).sensors[0]
    assert (sensor.register_category, sensor.register_type, sensor.register_order) == (
        "holding",
        "MBU",
        "right",
    )
    assert (sensor.register_address, sensor.scale, sensor.device_unit) == (16, 1.0, 1)


@pytest.mark.parametrize(
    ("sensor", "message"),
    [
        ({"register_type": "MBX"}, "register_type"),
        ({"register_category": "coil"}, "register_category"),
        ({"register_order": "middle"}, "register_order"),
        ({"register_address": 70000}, "register_address"),
        ({"device_unit": 300}, "device_unit"),
        ({"register_scaling": "nan"}, "register_scaling"),
    ],
)
def test_modbus_refuses_bad_sensors_naming_the_key(sensor: dict[str, object], message: str) -> None:
    base = {"name": "power", "unit": "W", "register_address": 0}
    with pytest.raises(SourceSettingsError, match=rf"sensors\[0\]\.{message}"):
        parse_modbus({"sensors": [base | sensor]})


def test_modbus_refuses_rtu_framing_over_tcp() -> None:
    with pytest.raises(SourceSettingsError, match="framer"):
        parse_modbus(
            {"framer": "RTU", "sensors": [{"name": "p", "unit": "W", "register_address": 0}]}
        )


def test_modbus_needs_a_power_sensor() -> None:
    with pytest.raises(SourceSettingsError, match="power unit"):
        parse_modbus({"sensors": [{"name": "v", "unit": "V", "register_address": 0}]})


def test_shelly_generation_is_optional() -> None:
    assert parse_shelly({}).generation is None
    assert parse_shelly({"generation": 2, "channel": 1}).channel == 1
    with pytest.raises(SourceSettingsError, match="generation"):
        parse_shelly({"generation": 9})


def test_bmcs_take_no_source_settings() -> None:
    validate("ipmi", {})
    with pytest.raises(SourceSettingsError, match="takes no source settings"):
        validate("redfish", {"pdu": "apc"})
