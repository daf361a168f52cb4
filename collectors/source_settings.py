"""The per-type settings of meters that are not BMCs (``Server.source_settings``).

An SNMP PDU, a Modbus meter or a Shelly plug needs more than an address and credentials: which
OIDs or registers hold the power, how to decode them, which outlets feed the server. Those
settings are a JSON object on the server; this module turns one into a typed, validated value,
or raises :class:`SourceSettingsError` naming the key (``sensors[1].register_type: ...``), so a
bad setting is refused where it is entered (admin, API, importer) instead of failing every poll.

It imports no protocol library: models and forms validate with it cheaply; drivers read it.

The names follow the original energy recorder's ``collector-settings.yaml`` where it had them
(``sensors``, ``register_type``, ``register_order``, ``register_scaling``, ``device_unit``), so a
lab's existing settings mean the same here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

IPMI = "ipmi"
SNMP = "snmp"
MODBUS = "modbus"
SHELLY = "shelly"


class SourceSettingsError(ValueError):
    """The settings cannot be used; the message names the key."""


# -- units --------------------------------------------------------------------------------------

#: power units a sensor may be read in, and their factor to watts
POWER_UNITS = {"w": 1.0, "kw": 1000.0, "mw": 0.001}
#: energy-counter units, and their factor to joules
ENERGY_UNITS = {"wh": 3600.0, "kwh": 3_600_000.0, "j": 1.0}


def unit_factor(unit: str) -> tuple[str, float] | None:
    """``("power", factor to W)`` or ``("energy", factor to J)`` for a unit; None for others."""
    key = unit.strip().lower()
    if key in POWER_UNITS:
        return "power", POWER_UNITS[key]
    if key in ENERGY_UNITS:
        return "energy", ENERGY_UNITS[key]
    return None


# -- SNMP ---------------------------------------------------------------------------------------

#: SNMPv3 authentication protocols, by the names the original recorder's settings used
SNMP_AUTH_PROTOCOLS = {
    "NONE": "none",
    "HMAC-MD5-96": "md5",
    "MD5": "md5",
    "HMAC-SHA-96": "sha",
    "SHA": "sha",
    "SHA1": "sha",
    "SHA-1": "sha",
    "HMAC-SHA-2-128": "sha224",
    "HMAC-SHA-2-256": "sha256",
    "HMAC-SHA-2-384": "sha384",
    "HMAC-SHA-2-512": "sha512",
}
#: SNMPv3 privacy protocols, by the names the original recorder's settings used
SNMP_PRIVACY_PROTOCOLS = {
    "NONE": "none",
    "NO-PRIVACY": "none",
    "CBC-DES": "des",
    "DES": "des",
    "3DES-EDE": "3des",
    "CFB128-AES-128": "aes128",
    "AES": "aes128",
    "AES128": "aes128",
    "CFB128-AES-192": "aes192",
    "CFB128-AES-256": "aes256",
    "CFB192-AES-BLU": "aes192-blumenthal",
    "CFB256-AES-BLU": "aes256-blumenthal",
}
SNMP_VERSIONS = {"v1": "v1", "1": "v1", "v2": "v2c", "v2c": "v2c", "2": "v2c", "2c": "v2c"}
SNMP_VERSIONS |= {"v3": "v3", "3": "v3"}

#: PDU vendors whose outlet power OIDs EnergyLab knows (see collectors.drivers.snmp_presets)
PDU_VENDORS = ("apc", "raritan", "servertech", "eaton")

_OID = re.compile(r"^\.?[0-9]+(\.[0-9]+)+$")


@dataclass(frozen=True)
class Sensor:
    """One value a meter exposes: an OID (SNMP) or a register (Modbus) with its unit and scale."""

    name: str
    unit: str
    scale: float = 1.0
    oid: str = ""
    # Modbus only
    register_category: str = "holding"
    register_address: int = 0
    register_type: str = "MBU"
    register_order: str = "right"
    device_unit: int | None = None

    @property
    def kind(self) -> str | None:
        """``power``, ``energy``, or None for a value EnergyLab keeps but does not read."""
        found = unit_factor(self.unit)
        return found[0] if found else None

    @property
    def to_si(self) -> float:
        """Factor from the decoded, scaled value to watts or joules."""
        found = unit_factor(self.unit)
        return found[1] if found else 1.0


@dataclass(frozen=True)
class Outlet:
    """A PDU outlet that feeds the server, on the server's own PDU unless ``host`` says another."""

    number: int
    vendor: str
    host: str = ""
    port: int | None = None
    unit: int = 1  # PDU unit in a daisy chain (Raritan pduId, Eaton strapping, ServerTech unit)
    cord: int = 1  # ServerTech input cord

    @property
    def label(self) -> str:
        where = f"{self.host}:" if self.host else ""
        return f"{where}{self.vendor}#{self.number}"


@dataclass(frozen=True)
class SNMPSettings:
    version: str = "v2c"
    auth_protocol: str = "none"
    privacy_protocol: str = "none"
    sensors: tuple[Sensor, ...] = ()
    outlets: tuple[Outlet, ...] = ()


def parse_snmp(data: Mapping[str, Any]) -> SNMPSettings:
    """Validate an SNMP server's settings.

    Keys: ``version`` (``v2c`` default, ``v1``, ``v3``), ``auth_protocol`` and
    ``privacy_protocol`` (v3; the original's names: ``SHA``, ``HMAC-SHA-2-256``, ``AES``,
    ``CBC-DES``...), ``sensors`` (``[{name, oid, unit, scale}]``), ``pdu`` (a vendor preset) and
    ``outlets`` (numbers, or ``{outlet, host, port, pdu, unit, cord}``). At least one outlet or
    one sensor in a power unit (W, kW) is needed: that is the server's power.

    :raises SourceSettingsError: naming the key at fault.
    """
    _only(data, "", {"version", "auth_protocol", "privacy_protocol", "sensors", "pdu", "outlets"})
    version = SNMP_VERSIONS.get(str(data.get("version", "v2c")).strip().lower())
    if version is None:
        raise SourceSettingsError(f"version: {data.get('version')!r} is not v1, v2c or v3")
    auth = _protocol(data, "auth_protocol", SNMP_AUTH_PROTOCOLS)
    privacy = _protocol(data, "privacy_protocol", SNMP_PRIVACY_PROTOCOLS)
    if privacy != "none" and auth == "none":
        raise SourceSettingsError("privacy_protocol: SNMPv3 privacy needs an auth_protocol")
    sensors = tuple(
        _snmp_sensor(f"sensors[{i}]", item) for i, item in enumerate(_list(data, "sensors"))
    )
    vendor = data.get("pdu")
    if vendor is not None:
        vendor = _vendor("pdu", vendor)
    outlets = tuple(
        _outlet(f"outlets[{i}]", item, vendor) for i, item in enumerate(_list(data, "outlets"))
    )
    if not outlets and not any(s.kind == "power" for s in sensors):
        raise SourceSettingsError(
            "sensors: none is in a power unit (W or kW) and no outlets are given: "
            "nothing tells this server's power"
        )
    return SNMPSettings(version, auth, privacy, sensors, outlets)


def _protocol(data: Mapping[str, Any], key: str, names: Mapping[str, str]) -> str:
    value = data.get(key)
    if value in (None, ""):
        return "none"
    found = names.get(str(value).strip().upper())
    if found is None:
        raise SourceSettingsError(f"{key}: {value!r} is not one of {', '.join(sorted(names))}")
    return found


def _snmp_sensor(place: str, item: Any) -> Sensor:
    if not isinstance(item, Mapping):
        raise SourceSettingsError(f"{place}: must be a mapping (name, oid, unit, scale)")
    _only(item, place, {"name", "oid", "unit", "scale"})
    oid = str(item.get("oid", "")).strip()
    if not _OID.match(oid):
        raise SourceSettingsError(f"{place}.oid: {oid!r} is not a numeric OID (1.3.6.1...)")
    return Sensor(
        name=_text(item, place, "name"),
        unit=_text(item, place, "unit"),
        scale=_number(item, place, "scale", 1.0),
        oid=oid.lstrip("."),
    )


def _vendor(place: str, value: Any) -> str:
    vendor = str(value).strip().lower()
    if vendor not in PDU_VENDORS:
        raise SourceSettingsError(f"{place}: {value!r} is not one of {', '.join(PDU_VENDORS)}")
    return vendor


def _outlet(place: str, item: Any, default_vendor: str | None) -> Outlet:
    if not isinstance(item, Mapping):
        item = {"outlet": item}
    _only(item, place, {"outlet", "host", "port", "pdu", "unit", "cord"})
    vendor = _vendor(f"{place}.pdu", item["pdu"]) if "pdu" in item else default_vendor
    if vendor is None:
        raise SourceSettingsError(f"{place}: no 'pdu' vendor for this outlet (nor a default)")
    port = item.get("port")
    return Outlet(
        number=_integer(item, place, "outlet", None, 1, 10_000),
        vendor=vendor,
        host=str(item.get("host") or "").strip(),
        port=None if port is None else _integer(item, place, "port", None, 1, 65_535),
        unit=_integer(item, place, "unit", 1, 1, 10_000),
        cord=_integer(item, place, "cord", 1, 1, 10_000),
    )


# -- Modbus -------------------------------------------------------------------------------------

#: the original's register types and how many 16-bit registers each takes
MODBUS_TYPES = {"MBI": 1, "MBU": 1, "MBL": 2, "MBUL": 2, "MBF": 2}
MODBUS_CATEGORIES = ("holding", "input")
MODBUS_ORDERS = ("right", "left")


@dataclass(frozen=True)
class ModbusSettings:
    sensors: tuple[Sensor, ...] = ()
    device_unit: int = 1


def parse_modbus(data: Mapping[str, Any]) -> ModbusSettings:
    """Validate a Modbus TCP meter's settings.

    Keys: ``sensors`` (``[{name, unit, register_category: holding|input, register_address,
    register_type: MBI|MBU|MBL|MBUL|MBF, register_order: right|left, register_scaling,
    device_unit}]``) and ``device_unit`` (the default unit id, 1). ``framer`` (the original's
    RTU-over-TCP option) is refused: EnergyLab speaks Modbus TCP.

    :raises SourceSettingsError: naming the key at fault.
    """
    _only(data, "", {"sensors", "device_unit", "framer"})
    framer = str(data.get("framer") or "SOCKET").strip().upper()
    if framer != "SOCKET":
        raise SourceSettingsError(f"framer: {framer!r} is not supported; only Modbus TCP (SOCKET)")
    default_unit = _integer(data, "", "device_unit", 1, 0, 255)
    sensors = tuple(
        _modbus_sensor(f"sensors[{i}]", item, default_unit)
        for i, item in enumerate(_list(data, "sensors"))
    )
    if not any(s.kind == "power" for s in sensors):
        raise SourceSettingsError(
            "sensors: none is in a power unit (W or kW): nothing tells this server's power"
        )
    return ModbusSettings(sensors, default_unit)


def _modbus_sensor(place: str, item: Any, default_unit: int) -> Sensor:
    if not isinstance(item, Mapping):
        raise SourceSettingsError(f"{place}: must be a mapping (name, unit, register_address...)")
    _only(
        item,
        place,
        {
            "name",
            "unit",
            "register_category",
            "register_address",
            "register_type",
            "register_order",
            "register_scaling",
            "device_unit",
        },
    )
    category = str(item.get("register_category") or "holding").strip().lower()
    if category not in MODBUS_CATEGORIES:
        raise SourceSettingsError(
            f"{place}.register_category: {category!r} is not holding or input"
        )
    register_type = str(item.get("register_type") or "MBU").strip().upper()
    if register_type not in MODBUS_TYPES:
        raise SourceSettingsError(
            f"{place}.register_type: {register_type!r} is not one of {', '.join(MODBUS_TYPES)}"
        )
    order = str(item.get("register_order") or "right").strip().lower()
    if order not in MODBUS_ORDERS:
        raise SourceSettingsError(f"{place}.register_order: {order!r} is not right or left")
    return Sensor(
        name=_text(item, place, "name"),
        unit=_text(item, place, "unit"),
        scale=_number(item, place, "register_scaling", 1.0),
        register_category=category,
        register_address=_integer(item, place, "register_address", None, 0, 65_535),
        register_type=register_type,
        register_order=order,
        device_unit=_integer(item, place, "device_unit", default_unit, 0, 255),
    )


# -- Shelly -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShellySettings:
    generation: int | None = None  # None: asked from the device's /shelly
    channel: int = 0


def parse_shelly(data: Mapping[str, Any]) -> ShellySettings:
    """Validate a Shelly plug's settings: ``generation`` (1, 2; absent: asked from the plug)
    and ``channel`` (the relay or meter index, 0).

    :raises SourceSettingsError: naming the key at fault.
    """
    _only(data, "", {"generation", "channel"})
    generation = data.get("generation")
    if generation is not None:
        generation = _integer(data, "", "generation", None, 1, 4)
    return ShellySettings(generation, _integer(data, "", "channel", 0, 0, 16))


# -- IPMI ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IPMISettings:
    bridge_address: int | None = None  # IPMB slave address of the target controller (0x82...)
    bridge_channel: int = 0


def parse_ipmi(data: Mapping[str, Any]) -> IPMISettings:
    """Validate an IPMI server's settings: ``bridge_address`` (the target controller behind the
    BMC, as the original's ``host: ip:0x82``; absent: the BMC itself) and ``bridge_channel`` (0).

    :raises SourceSettingsError: naming the key at fault.
    """
    _only(data, "", {"bridge_address", "bridge_channel"})
    address = data.get("bridge_address")
    if address is not None:
        address = _integer(data, "", "bridge_address", None, 0x01, 0xFF)
    return IPMISettings(address, _integer(data, "", "bridge_channel", 0, 0, 15))


# -- dispatch -----------------------------------------------------------------------------------

PARSERS = {IPMI: parse_ipmi, SNMP: parse_snmp, MODBUS: parse_modbus, SHELLY: parse_shelly}


def validate(bmc_type: str, data: Any) -> None:
    """Check a server's settings for its type (types without settings want an empty object).

    :raises SourceSettingsError: naming the key at fault.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise SourceSettingsError("must be a JSON object")
    parser = PARSERS.get(bmc_type)
    if parser is None:
        if data:
            raise SourceSettingsError(f"a {bmc_type} server takes no source settings")
        return
    parser(data)


# -- helpers ------------------------------------------------------------------------------------


def _where(place: str, key: str) -> str:
    return f"{place}.{key}" if place else key


def _only(data: Mapping[str, Any], place: str, keys: set[str]) -> None:
    unknown = sorted(str(k) for k in data if k not in keys)
    if unknown:
        raise SourceSettingsError(
            f"{_where(place, unknown[0])}: unknown key; known: {', '.join(sorted(keys))}"
        )


def _list(data: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SourceSettingsError(f"{key}: must be a list")
    return value


def _text(item: Mapping[str, Any], place: str, key: str) -> str:
    value = item.get(key)
    if value is None or str(value).strip() == "" or isinstance(value, (Mapping, list)):
        raise SourceSettingsError(f"{_where(place, key)}: missing")
    return str(value).strip()


def _number(item: Mapping[str, Any], place: str, key: str, default: float) -> float:
    value = item.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool):
        raise SourceSettingsError(f"{_where(place, key)}: {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SourceSettingsError(f"{_where(place, key)}: {value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SourceSettingsError(f"{_where(place, key)}: {value!r} is not a finite number")
    return number


def _integer(
    item: Mapping[str, Any], place: str, key: str, default: int | None, low: int, high: int
) -> int:
    value = item.get(key, default)
    if value is None:
        raise SourceSettingsError(f"{_where(place, key)}: missing")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SourceSettingsError(f"{_where(place, key)}: {value!r} is not an integer")
    try:
        number = int(str(value).strip(), 0)  # 0: accepts 4096 and 0x1000
    except ValueError:
        raise SourceSettingsError(f"{_where(place, key)}: {value!r} is not an integer") from None
    if not low <= number <= high:
        raise SourceSettingsError(f"{_where(place, key)}: {number} is not in {low}..{high}")
    return number
