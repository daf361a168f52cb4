"""Import the original energy recorder's collector settings (``collector-settings.yaml``).

The original collector read::

    PODS:
    - environment: <pod name>
      polling_interval: <seconds>
      active: <bool>
      servers:                        # or, in later releases, syncgroup: [{name, servers: [...]}]
      - {host, id, type, user, pass, active, ...}
    RECORDER_API_SERVER: {base_url, user, pass, verify_cert, timeout}

:func:`parse_settings` turns such a text into an :class:`ImportPlan` (or raises
:class:`LegacySettingsError` when the file as a whole is unusable: not YAML, no ``PODS`` list),
and :func:`apply_plan` creates or updates pods and servers from it in one transaction, reporting
per pod and per server what was created, updated, left unchanged, not imported (a type EnergyLab
has no driver for, named with what to do instead) or skipped (a pod or server whose settings are
wrong, with the reason naming the place, e.g. ``PODS[1].servers[0]: missing 'id'``). One bad
server never stops the others: a lab's file is imported as far as it can be. Passwords go
through :attr:`Server.password` (encrypted) and never into a report.

``snmp``, ``modbus`` and ``shelly`` servers import with their sensors as the original wrote them
(:mod:`collectors.source_settings`); an IPMI host written ``address:0x82`` (the original's
bridging to a target controller) becomes the address and the ``bridge_address`` setting.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from collectors import source_settings
from collectors.models import BMCType, Pod, Server
from energylab.validators import NAME_MAX_LENGTH, validate_name

#: legacy server type -> EnergyLab BMC type (iLO web scraping of Gen8 becomes the iLO driver,
#: which reads the same BMC through its REST/Redfish interface)
TYPE_MAP: dict[str, str] = {
    "ipmi": BMCType.IPMI,
    "redfish": BMCType.REDFISH,
    "ilo": BMCType.ILO,
    "ilo-gui": BMCType.ILO,
    "snmp": BMCType.SNMP,
    "modbus": BMCType.MODBUS,
    "shelly": BMCType.SHELLY,
}

#: legacy types EnergyLab does not poll, with what to do instead
UNSUPPORTED_ADVICE: dict[str, str] = {
    "idrac8-gui": "web-page scraping of iDRAC 8; use type redfish if its firmware has Redfish",
    "intel-gui": "web-page scraping of Intel BMCs; use type redfish or ipmi if the BMC offers it",
    "ibmc-gui": "web-page scraping of Huawei iBMC; use type redfish if its firmware has Redfish",
}
_PUSH_ADVICE = (
    "no EnergyLab driver; push its measurements instead: the old collector can keep posting "
    "them to EnergyLab's /resources, or an agent (Telegraf...) to EnergyLab's /write, and "
    "either registers the server as a push server"
)
for _legacy_type in ("csvftp", "rpimon"):
    UNSUPPORTED_ADVICE[_legacy_type] = _PUSH_ADVICE

#: types reached over HTTP(S), and the scheme a host without one gets (the old collector tried
#: HTTPS first for BMCs; Shelly plugs serve plain HTTP out of the box)
HTTP_TYPES: dict[str, str] = {
    BMCType.REDFISH: "https",
    BMCType.ILO: "https",
    BMCType.SHELLY: "http",
}

#: the original's IPMI bridging: ``host: address:0x82`` (a target controller's IPMB address)
_IPMI_BRIDGE = re.compile(r"^(?P<host>.+):(?P<address>0[xX][0-9a-fA-F]{1,2})$")

DEFAULT_POLL_INTERVAL = 10


class LegacySettingsError(ValueError):
    """The file is not YAML, or not the collector's settings; the message names the place."""


@dataclass(frozen=True)
class LegacyServer:
    place: str
    name: str
    legacy_type: str
    bmc_type: str | None  # None: not supported, or skipped (see skip_reason)
    host: str = ""
    port: int | None = None
    username: str = ""
    password: str = field(default="", repr=False)
    active: bool = True
    source_settings: dict[str, Any] = field(default_factory=dict)
    privacy_password: str = field(default="", repr=False)
    skip_reason: str | None = None  # the settings are wrong: not imported, for this reason


@dataclass(frozen=True)
class LegacyPod:
    place: str
    name: str
    poll_interval: int
    active: bool
    servers: list[LegacyServer]
    skip_reason: str | None = None  # the pod's settings are wrong: neither it nor its servers


@dataclass(frozen=True)
class ImportPlan:
    pods: list[LegacyPod]
    notes: list[str]  # what was read and deliberately not imported (RECORDER_API_SERVER, ...)


@dataclass
class Change:
    """What happened (or, in a dry run, would happen) to one pod or server."""

    kind: str  # "pod" or "server"
    name: str
    action: str  # created, updated, unchanged, not imported, skipped
    detail: str = ""
    fields: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def count(self, kind: str, action: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind and c.action == action)

    @property
    def unsupported(self) -> list[Change]:
        return [c for c in self.changes if c.action == "not imported"]

    @property
    def skipped(self) -> list[Change]:
        return [c for c in self.changes if c.action == "skipped"]


# -- parsing ------------------------------------------------------------------------------------


def parse_settings(text: str) -> ImportPlan:
    """Read the collector's YAML settings.

    A pod or server whose own settings are wrong is kept in the plan with its ``skip_reason``
    (naming the place: ``PODS[1].servers[0]: missing 'id'``), so the rest can be imported.

    :raises LegacySettingsError: not YAML, or a structure other than the collector's (no
        ``PODS`` list): nothing in it can be imported.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise LegacySettingsError(f"not valid YAML{where}: {problem}") from None
    if not isinstance(data, Mapping):
        raise LegacySettingsError("the file must be a mapping with a PODS list at its top")
    if "PODS" not in data:
        raise LegacySettingsError("missing 'PODS' at the top of the file")
    pods_data = data["PODS"]
    if not isinstance(pods_data, list):
        raise LegacySettingsError("PODS: must be a list of pods")

    notes = _notes(data)
    pods: list[LegacyPod] = []
    pod_places: dict[str, str] = {}
    server_places: dict[str, str] = {}
    for i, pod_data in enumerate(pods_data):
        place = f"PODS[{i}]"
        try:
            pod = _pod(place, pod_data)
        except LegacySettingsError as exc:
            pods.append(
                LegacyPod(place, _label(pod_data, "environment", place), 0, False, [], str(exc))
            )
            continue
        if pod.name in pod_places:
            reason = f"{pod.place}: environment {pod.name!r} also at {pod_places[pod.name]}"
            pods.append(LegacyPod(place, pod.name, 0, False, [], reason))
            continue
        pod_places[pod.name] = pod.place
        servers = []
        for server in pod.servers:
            if server.name in server_places:
                reason = f"{server.place}: id {server.name!r} also at {server_places[server.name]}"
                server = _skipped(server.place, server.name, server.legacy_type, reason)
            elif server.skip_reason is None:
                server_places[server.name] = server.place
            servers.append(server)
        pods.append(LegacyPod(pod.place, pod.name, pod.poll_interval, pod.active, servers))
    return ImportPlan(pods, notes)


def _label(data: Any, key: str, place: str) -> str:
    """What to call a pod or server in the report when its settings are wrong."""
    if isinstance(data, Mapping) and data.get(key) not in (None, ""):
        return str(data[key]).strip()[:NAME_MAX_LENGTH]
    return place


def _skipped(place: str, name: str, legacy_type: str, reason: str) -> LegacyServer:
    return LegacyServer(place, name, legacy_type, None, skip_reason=reason)


def _notes(data: Mapping[Any, Any]) -> list[str]:
    notes = []
    api = data.get("RECORDER_API_SERVER")
    if api is not None:
        base_url = api.get("base_url") if isinstance(api, Mapping) else None
        notes.append(
            f"RECORDER_API_SERVER (base_url {base_url!r}) ignored: EnergyLab is the recording "
            "API now; point old collectors and CI at http://<energylab>:8000/resources"
        )
    for key in data:
        if key not in {"PODS", "RECORDER_API_SERVER"}:
            notes.append(f"{key!s}: unknown setting, ignored")
    return notes


def _pod(place: str, data: Any) -> LegacyPod:
    if not isinstance(data, Mapping):
        raise LegacySettingsError(f"{place}: must be a mapping (environment, servers, ...)")
    name = _name(place, data, "environment")
    interval = data.get("polling_interval", DEFAULT_POLL_INTERVAL)
    if interval is None:
        interval = DEFAULT_POLL_INTERVAL
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise LegacySettingsError(f"{place}.polling_interval: {interval!r} is not a number")
    if not 1 <= interval <= 86_400:
        raise LegacySettingsError(
            f"{place}.polling_interval: {interval} must be between 1 and 86400 seconds"
        )
    active = _boolean(f"{place}.active", data.get("active", True))

    servers: list[LegacyServer] = []
    if "servers" in data:
        servers += _servers(f"{place}.servers", data["servers"])
    if "syncgroup" in data:  # later releases group servers for synchronised polling
        groups = data["syncgroup"]
        if not isinstance(groups, list):
            raise LegacySettingsError(f"{place}.syncgroup: must be a list of groups")
        for j, group in enumerate(groups):
            group_place = f"{place}.syncgroup[{j}]"
            if not isinstance(group, Mapping):
                raise LegacySettingsError(f"{group_place}: must be a mapping (name, servers)")
            if "servers" not in group:
                raise LegacySettingsError(f"{group_place}: missing 'servers'")
            servers += _servers(f"{group_place}.servers", group["servers"])
    if "servers" not in data and "syncgroup" not in data:
        raise LegacySettingsError(f"{place}: missing 'servers'")
    return LegacyPod(place, name, round(interval), active, servers)


def _servers(place: str, data: Any) -> list[LegacyServer]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise LegacySettingsError(f"{place}: must be a list of servers")
    servers = []
    for k, item in enumerate(data):
        try:
            servers.append(_server(f"{place}[{k}]", item))
        except LegacySettingsError as exc:
            kind = str(item.get("type") or "").strip().lower() if isinstance(item, Mapping) else ""
            servers.append(
                _skipped(f"{place}[{k}]", _label(item, "id", f"{place}[{k}]"), kind, str(exc))
            )
    return servers


def _server(place: str, data: Any) -> LegacyServer:
    if not isinstance(data, Mapping):
        raise LegacySettingsError(f"{place}: must be a mapping (host, id, type, user, pass, ...)")
    name = _name(place, data, "id")
    if "type" not in data or data["type"] in (None, ""):
        raise LegacySettingsError(f"{place}: missing 'type'")
    legacy_type = str(data["type"]).strip().lower()
    active = _boolean(f"{place}.active", data.get("active", True))
    bmc_type = TYPE_MAP.get(legacy_type)
    if bmc_type is None:
        # Not imported: its address may be anything (an FTP URL, a Modbus unit), so do not judge it.
        return LegacyServer(place, name, legacy_type, None, active=active)
    raw_host = data.get("host")
    if raw_host in (None, ""):
        raise LegacySettingsError(f"{place}: missing 'host'")
    host_text = str(raw_host).strip()
    settings: dict[str, Any] = {}
    if bmc_type == BMCType.IPMI:
        bridged = _IPMI_BRIDGE.match(host_text)
        if bridged:
            host_text = bridged["host"]
            settings["bridge_address"] = int(bridged["address"], 16)
        if data.get("bridge_address") is not None:
            settings["bridge_address"] = data["bridge_address"]
    host, port = split_host(f"{place}.host", host_text, bmc_type)
    server = LegacyServer(
        place,
        name,
        legacy_type,
        bmc_type,
        host=host,
        port=port,
        username=_text(f"{place}.user", data.get("user")),
        password=_text(f"{place}.pass", data.get("pass")),
        active=active,
        source_settings=settings,
    )
    if bmc_type == BMCType.SNMP:
        server = _snmp(place, data, server)
    elif bmc_type == BMCType.MODBUS:
        server = _modbus(place, data, server)
    try:
        source_settings.validate(bmc_type, server.source_settings)
    except source_settings.SourceSettingsError as exc:
        raise LegacySettingsError(f"{place}: {exc}") from None
    return server


def _snmp(place: str, data: Mapping[str, Any], server: LegacyServer) -> LegacyServer:
    """The original's snmp keys: ``port``, ``version``, ``community`` (v1/v2), ``username``,
    ``auth_protocole``/``auth_secret``, ``privacy_protocole``/``privacy_secret`` (v3), and
    ``sensors`` ``[{name, oid, unit}]``. Secrets become the password and privacy password."""
    port = server.port
    if data.get("port") not in (None, ""):
        port_text = str(data["port"]).strip()
        port = _port(f"{place}.port", port_text, port_text)
    version = str(data.get("version") or "v2c").strip().lower()
    settings: dict[str, Any] = {"version": version}
    if version in {"v3", "3"}:
        username = _text(f"{place}.username", data.get("username", data.get("user")))
        password = _text(f"{place}.auth_secret", data.get("auth_secret"))
        privacy = _text(f"{place}.privacy_secret", data.get("privacy_secret"))
        for ours, theirs in (
            ("auth_protocol", "auth_protocole"),
            ("privacy_protocol", "privacy_protocole"),
        ):
            value = data.get(theirs, data.get(ours))
            if value not in (None, ""):
                settings[ours] = _text(f"{place}.{theirs}", value)
    else:
        username, privacy = "", ""
        password = _text(f"{place}.community", data.get("community", data.get("pass")))
    for key in ("sensors", "pdu", "outlets"):
        if data.get(key) is not None:
            settings[key] = data[key]
    return replace(
        server,
        port=port,
        username=username,
        password=password,
        source_settings=settings,
        privacy_password=privacy,
    )


def _modbus(place: str, data: Mapping[str, Any], server: LegacyServer) -> LegacyServer:
    """The original's modbus keys: ``sensors`` as written, ``framer`` (only SOCKET is spoken)."""
    settings = {key: data[key] for key in ("sensors", "framer", "device_unit") if key in data}
    # A Modbus TCP meter takes no credentials: the original's user/pass keys are not kept.
    return replace(server, username="", password="", source_settings=settings)


def split_host(place: str, value: str, bmc_type: str) -> tuple[str, int | None]:
    """``name[:port]`` or ``http(s)://name[:port][/...]`` as :class:`Server`'s host and port.

    Redfish, iLO and Shelly hosts keep (or get, when they have none: https, or http for a
    Shelly plug) a scheme, since :meth:`Server.endpoint` reads it from the host; IPMI, SNMP and
    Modbus hosts are a bare name or address.

    :raises LegacySettingsError: an unusable address, naming ``place``.
    """
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            raise LegacySettingsError(
                f"{place}: {value!r} must be name[:port] or an http:// or https:// URL"
            )
        if bmc_type not in HTTP_TYPES:
            raise LegacySettingsError(
                f"{place}: {value!r}: an {bmc_type} server has no URL, give name[:port]"
            )
        try:
            port = parts.port
        except ValueError:
            raise LegacySettingsError(f"{place}: {value!r} has an invalid port") from None
        return f"{parts.scheme.lower()}://{_bracketed(parts.hostname)}", port

    name, port = _name_and_port(place, value)
    if not name or any(c in name for c in "/?#@ "):
        raise LegacySettingsError(f"{place}: {value!r} is not a host name or address")
    if bmc_type in HTTP_TYPES:
        return f"{HTTP_TYPES[bmc_type]}://{_bracketed(name)}", port
    return name, port


def _name_and_port(place: str, value: str) -> tuple[str, int | None]:
    if value.startswith("["):  # [IPv6]:port
        end = value.find("]")
        if end < 0:
            raise LegacySettingsError(f"{place}: {value!r} lacks its closing ']'")
        name, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            raise LegacySettingsError(f"{place}: {value!r} is not [address]:port")
        return name, _port(place, value, rest[1:]) if rest else None
    if value.count(":") > 1:  # a bare IPv6 address
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise LegacySettingsError(f"{place}: {value!r} is not a host name or address") from None
        return value, None
    if ":" in value:
        name, port_text = value.rsplit(":", 1)
        return name, _port(place, value, port_text)
    return value, None


def _port(place: str, value: str, text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65_535:
        raise LegacySettingsError(f"{place}: {value!r} has an invalid port")
    return int(text)


def _bracketed(hostname: str) -> str:
    return f"[{hostname}]" if ":" in hostname else hostname


def _name(place: str, data: Mapping[Any, Any], key: str) -> str:
    if key not in data or data[key] is None or str(data[key]).strip() == "":
        raise LegacySettingsError(f"{place}: missing {key!r}")
    name = str(data[key]).strip()
    if len(name) > NAME_MAX_LENGTH:
        raise LegacySettingsError(f"{place}.{key}: longer than {NAME_MAX_LENGTH} characters")
    try:
        validate_name(name)
    except ValidationError as exc:
        raise LegacySettingsError(f"{place}.{key}: {name!r} {exc.messages[0]}") from None
    return name


def _boolean(place: str, value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"true", "yes", "on", "1"}:
        return True
    if lowered in {"false", "no", "off", "0"}:
        return False
    raise LegacySettingsError(f"{place}: {value!r} is not true or false")


def _text(place: str, value: Any) -> str:
    """A scalar as text (YAML reads ``pass: 12345`` as a number); a list or mapping is a typo."""
    if value is None:
        return ""
    if isinstance(value, (Mapping, list)):
        raise LegacySettingsError(f"{place}: must be a string, not a {type(value).__name__}")
    return str(value)


# -- applying -----------------------------------------------------------------------------------


class _DryRunRollback(Exception):
    pass


def apply_plan(plan: ImportPlan, *, dry_run: bool = False) -> ImportReport:
    """Create or update the plan's pods and servers in one transaction.

    Pods are matched by name, servers by name (the legacy id): a second import of the same file
    changes nothing. A server found in another pod is moved to the file's pod. With ``dry_run``
    the same work is done and rolled back, so the report says exactly what a real run would do.
    """
    report = ImportReport(notes=list(plan.notes), dry_run=dry_run)
    try:
        with transaction.atomic():
            for legacy_pod in plan.pods:
                if legacy_pod.skip_reason is not None:
                    report.changes.append(
                        Change("pod", legacy_pod.name, "skipped", legacy_pod.skip_reason)
                    )
                    continue
                pod = _apply_pod(legacy_pod, report)
                for legacy_server in legacy_pod.servers:
                    try:
                        with (
                            transaction.atomic()
                        ):  # a savepoint: a refused server undoes only itself
                            _apply_server(pod, legacy_server, report)
                    except LegacySettingsError as exc:
                        report.changes.append(
                            Change("server", legacy_server.name, "skipped", str(exc))
                        )
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass
    return report


def _apply_pod(legacy: LegacyPod, report: ImportReport) -> Pod:
    pod = Pod.objects.select_for_update().filter(name=legacy.name).first()
    wanted = {"poll_interval": legacy.poll_interval, "active": legacy.active}
    if pod is None:
        pod = Pod.objects.create(name=legacy.name, **wanted)
        report.changes.append(
            Change("pod", legacy.name, "created", _pod_detail(legacy), list(wanted))
        )
        return pod
    changed = [k for k, v in wanted.items() if getattr(pod, k) != v]
    for key in changed:
        setattr(pod, key, wanted[key])
    if changed:
        pod.save(update_fields=[*changed, "updated"])
    report.changes.append(
        Change(
            "pod", legacy.name, "updated" if changed else "unchanged", _pod_detail(legacy), changed
        )
    )
    return pod


def _pod_detail(legacy: LegacyPod) -> str:
    return f"poll every {legacy.poll_interval} s, {'active' if legacy.active else 'inactive'}"


def _apply_server(pod: Pod, legacy: LegacyServer, report: ImportReport) -> None:
    if legacy.skip_reason is not None:
        raise LegacySettingsError(legacy.skip_reason)
    if legacy.bmc_type is None:
        advice = UNSUPPORTED_ADVICE.get(legacy.legacy_type, "unknown type")
        report.changes.append(
            Change(
                "server",
                legacy.name,
                "not imported",
                f"type {legacy.legacy_type!r} is not supported: {advice}",
            )
        )
        return
    wanted: dict[str, Any] = {
        "pod": pod,
        "bmc_type": legacy.bmc_type,
        "host": legacy.host,
        "port": legacy.port,
        "username": legacy.username,
        "active": legacy.active,
        "source_settings": legacy.source_settings,
    }
    detail = f"{legacy.legacy_type} -> {legacy.bmc_type} at {_address(legacy)}"
    bridge = legacy.source_settings.get("bridge_address")
    if isinstance(bridge, int):
        detail += f" bridged to {bridge:#04x}"
    server = Server.objects.select_for_update().filter(name=legacy.name).first()
    if server is None:
        server = Server(name=legacy.name, **wanted)
        server.password = legacy.password
        server.privacy_password = legacy.privacy_password
        _validate(legacy, server)
        server.save()
        report.changes.append(Change("server", legacy.name, "created", detail, list(wanted)))
        return
    changed = [k for k, v in wanted.items() if getattr(server, k) != v]
    for key in changed:
        setattr(server, key, wanted[key])
    if _stored_password(server) != legacy.password:
        server.password = legacy.password
        changed.append("password")
    if _stored_privacy_password(server) != legacy.privacy_password:
        server.privacy_password = legacy.privacy_password
        changed.append("privacy_password")
    if changed:
        _validate(legacy, server)
        fields = [f"{k}_encrypted" if k in {"password", "privacy_password"} else k for k in changed]
        server.save(update_fields=[*fields, "updated"])
    report.changes.append(
        Change("server", legacy.name, "updated" if changed else "unchanged", detail, changed)
    )


def _stored_password(server: Server) -> str | None:
    try:
        return server.password
    except Exception:  # a password no configured key can read: the file's replaces it
        return None


def _stored_privacy_password(server: Server) -> str | None:
    try:
        return server.privacy_password
    except Exception:  # as for the password
        return None


def _validate(legacy: LegacyServer, server: Server) -> None:
    try:
        # The fields' own validators too: a host with a line break inside passes split_host.
        server.clean_fields()
        server.clean()
    except ValidationError as exc:
        raise LegacySettingsError(f"{legacy.place}: {'; '.join(exc.messages)}") from None


def _address(legacy: LegacyServer) -> str:
    if not legacy.port:
        return legacy.host
    if "://" in legacy.host:  # split_host keeps a URL's scheme and (bracketed) name only
        return f"{legacy.host}:{legacy.port}"
    return f"{_bracketed(legacy.host)}:{legacy.port}"
