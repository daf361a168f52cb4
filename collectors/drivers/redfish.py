"""Power readings over Redfish, through DMTF's ``redfish`` library (python-redfish-library).

One cached client per BMC (:attr:`BMCEndpoint.session_key`): a session login reused across reads,
re-login when the BMC forgets the session (401), basic auth when the service has no
SessionService, logout on :meth:`RedfishDriver.forget` and :meth:`RedfishDriver.close`. At most
one request is in flight per BMC: BMCs serve few concurrent sessions and slow down when pressed.

Where the power lives is discovered once per BMC, newest schema first, and remembered; when the
remembered resource stops holding a reading (404, field gone, null) the driver discovers again:

1. ``Chassis/{id}/EnvironmentMetrics`` ``PowerWatts.Reading`` (and ``EnergykWh.Reading``); or,
   when the Sensor it names (``PowerWatts.DataSourceUri``) states an ``AverageReading`` over an
   ``AveragingInterval`` no longer than two poll intervals, that Sensor's average, read instead
   (source ``redfish:Sensor:average``; no energy counter then);
2. ``Chassis/{id}/PowerSubsystem/PowerSupplies/*/Metrics`` ``InputPowerWatts.Reading``, summed
   over supplies whose ``Status.State`` is Enabled (a disabled or absent supply's 0 or null is not
   the server's power);
3. legacy ``Chassis/{id}/Power`` ``PowerControl[0].PowerConsumedWatts``, or its
   ``PowerMetrics.AverageConsumedWatts`` when its ``IntervalInMin`` window is no longer than two
   poll intervals (:mod:`collectors.drivers.averaging`; source ``redfish:PowerMetrics``);
4. vendor paths from :data:`OEM_POWER_PATHS`, for the vendor the service root or the chassis'
   ``Manufacturer`` names (a row marked ``preferred`` is tried first: it adds an energy
   counter to the standard reading, as Huawei's iBMC does).

Library, ``requests`` and socket exceptions become :mod:`collectors.drivers.base` errors; no
message or log record of this module or of the library carries the password (see
:class:`_SecretFilter`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redfish
import requests
from redfish.rest import v1 as rf

from collectors.drivers.averaging import duration_s, use_average
from collectors.drivers.base import (
    SOURCE_REDFISH_AVERAGE,
    SOURCE_REDFISH_SENSOR_AVERAGE,
    BMCAuthFailed,
    BMCEndpoint,
    BMCProtocolError,
    BMCUnreachable,
    DriverError,
    PowerDriver,
    PowerReading,
    PowerUnsupported,
    redact,
)
from energylab.timestamps import to_ns

logger = logging.getLogger(__name__)

Json = dict[str, Any]
Pointer = tuple[str | int, ...]

#: chassis types that hold a whole server; tried before cards, drawers and enclosures
SERVER_CHASSIS_TYPES = ("RackMount", "Blade", "Sled", "StandAlone", "Module")
#: seconds after which the list of enabled power supplies is read again
SUPPLY_LIST_TTL = 300.0


@dataclass(frozen=True)
class OemPowerPath:
    """A vendor's own power resource: data, so a new vendor is a new row, not new code.

    ``path`` may use ``{chassis}`` (the chassis' ``@odata.id``) and ``{id}`` (its ``Id``).
    ``energy_kwh`` points at an energy counter in the same resource, if the vendor keeps one.
    A ``preferred`` row is tried before the standard resources: it reads what they hold and
    more (an energy counter); the others are tried after them, where Redfish lacks a reading.
    """

    vendor: str
    path: str
    watts: Pointer
    source: str
    timestamp: Pointer | None = None
    averaging_s: float | None = None  # the reading is the mean power over this many seconds
    energy_kwh: Pointer | None = None
    preferred: bool = False


# Where each vendor's power lives, with the sources that show it. Vendors not listed keep their
# power in the standard resources only (as far as any published capture or document shows):
# - Lenovo XClarity Controller: standard Power, PowerControl[0] "Server Power Control" (then CPU
#   and memory sub-systems, which the driver never reads); its PowerControl[0].Oem.Lenovo links a
#   HistoryPowerMetric whose content no published source shows, so it is not read
#   (cholcombe973/libredfish src/model/testdata/power-lenovo.json; Lenovo's own example
#   lenovo/python-redfish-lenovo examples/get_power_metrics.py reads Power.PowerControl too);
# - Supermicro: standard Power; its service root names no Vendor, only Oem.Supermicro
#   (libredfish supermicro_service_root.json);
# - Inspur: nothing beyond standard Redfish was found.
OEM_POWER_PATHS: tuple[OemPowerPath, ...] = (
    # Huawei iBMC: standard Power whose PowerControl[0].Oem.Huawei.PowerMetricsExtended holds the
    # energy counter TotalConsumedPowerkWh (and CurrentCPUPowerWatts, CurrentMemoryPowerWatts):
    # the iBMC Redfish source's RFPROP_POWER_CONTROL_TOTAL_CONSUMED_POWER_OEM_PATH
    # "Oem/Huawei/PowerMetricsExtended/TotalConsumedPowerkWh".
    OemPowerPath(
        "Huawei",
        "{chassis}/Power",
        ("PowerControl", 0, "PowerConsumedWatts"),
        "ibmc:PowerMetricsExtended",
        energy_kwh=(
            "PowerControl",
            0,
            "Oem",
            "Huawei",
            "PowerMetricsExtended",
            "TotalConsumedPowerkWh",
        ),
        preferred=True,
    ),
    # iLO 5/6: 20-second averages, oldest first; the last entry is the latest.
    OemPowerPath(
        "HPE",
        "{chassis}/Power/FastPowerMeter",
        ("PowerDetail", -1, "Average"),
        "ilo:FastPowerMeter",
        ("PowerDetail", -1, "Time"),
        averaging_s=20.0,
    ),
    # iLO 4 (firmware 2.1+): the same meter under HPE's older REST tree.
    OemPowerPath(
        "HPE",
        "/rest/v1/Chassis/{id}/PowerMetrics/FastPowerMeter",
        ("PowerDetail", -1, "Average"),
        "ilo:FastPowerMeter",
        ("PowerDetail", -1, "Time"),
        averaging_s=20.0,
    ),
    # Dell iDRAC 9: standard Power (PowerControl[0].PowerConsumedWatts; the supplies' Oem.Dell
    # holds no watts, libredfish power-dell.json), and the board's power sensor that Dell's own
    # scripts read (dell/iDRAC-Redfish-Scripting GetSystemGpuSensorTempDetailsREDFISH.py:
    # Chassis/System.Embedded.1/Sensors/SystemBoardPwrConsumption, Reading).
    OemPowerPath(
        "Dell",
        "{chassis}/Sensors/SystemBoardPwrConsumption",
        ("Reading",),
        "idrac:SystemBoardPwrConsumption",
    ),
    # Lenovo ThinkSystem System Manager (TSM): PSU AC input power history, entries 30 s apart,
    # oldest first, avgPower as strings; their timeStamp is the BMC's local time, so not used
    # (pubs.lenovo.com/tsm/fast_accurate_power_metering).
    OemPowerPath(
        "Lenovo",
        "{chassis}/Power/Oem/Lenovo/HistoryPowerMeter/PsuAC",
        ("historyPower", -1, "avgPower"),
        "tsm:HistoryPowerMeter",
        averaging_s=30.0,
    ),
)

#: names a service root's ``Vendor``, its ``Oem`` keys or a chassis' ``Manufacturer`` give a
#: vendor (lower case, up to the first comma or period), mapped to the vendor names of the table
VENDOR_ALIASES = {
    "hpe": "HPE",
    "hp": "HPE",
    "hewlett packard enterprise": "HPE",
    "dell": "Dell",
    "dell inc": "Dell",
    "lenovo": "Lenovo",
    "huawei": "Huawei",
    "huawei technologies co": "Huawei",
    "supermicro": "Supermicro",
    "super micro computer": "Supermicro",
    "inspur": "Inspur",
}


def vendor_name(name: str) -> str:
    """The table's name for a vendor as a BMC spells it (``Dell Inc.`` is ``Dell``)."""
    key = re.split(r"[,.]", name.strip().lower(), maxsplit=1)[0].strip()
    return VENDOR_ALIASES.get(key, name.strip())


class _Missing(Exception):
    """This resource or field does not exist here."""


class _Null(Exception):
    """The field exists but holds no value."""


# -- log hygiene ------------------------------------------------------------------------------


class _SecretFilter(logging.Filter):
    """Redacts passwords and session tokens from the ``redfish`` library's DEBUG dumps.

    The library masks ``"Password"`` in request bodies with a regex that stops at the first
    escaped quote, and prints ``X-Auth-Token`` headers in full; this filter finishes the job with
    the exact secrets of the clients alive now, in raw and JSON-escaped form.
    """

    _PATTERNS = (
        re.compile(r'("Password"\s*:\s*")(?:<REDACTED>")?(?:[^"\\]|\\.)*"?'),
        re.compile(r"((?:X-Auth-Token|Authorization)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+", re.I),
    )

    def __init__(self) -> None:
        super().__init__()
        self._secrets: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._secrets.update({secret, json.dumps(secret)[1:-1]})

    def discard(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._secrets.subtract({secret, json.dumps(secret)[1:-1]})
                self._secrets += Counter()  # drops the ones no client uses any more

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = message
        for pattern in self._PATTERNS:
            clean = pattern.sub(r"\1***", clean)
        with self._lock:
            known = sorted(self._secrets, key=len, reverse=True)
        clean = redact(clean, *known)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_secret_filter = _SecretFilter()
logging.getLogger(rf.__name__).addFilter(_secret_filter)


# -- per-BMC state ----------------------------------------------------------------------------


@dataclass
class _Source:
    """Where one BMC's reading was found."""

    kind: str  # EnvironmentMetrics | PowerSubsystem | Power | oem
    path: str
    name: str
    oem: OemPowerPath | None = None
    supply_metrics: list[str] = field(default_factory=list)
    supplies_listed_at: float = -math.inf
    #: EnvironmentMetrics: the power Sensor (its ``DataSourceUri``) read instead, because it
    #: states an average over a window short enough to be the reading; "" when it does not
    #: (looked at once), None before it was looked at
    average_sensor: str | None = None


@dataclass
class _BMC:
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: Any = None  # redfish.rest.v1.HttpClient
    password: str = field(default="", repr=False)
    auth: str = rf.AuthMethod.SESSION
    vendors: frozenset[str] = frozenset()
    root: Json = field(default_factory=dict)
    source: _Source | None = None


def _stop_reading_the_environment(client: Any) -> None:
    """Have the ``requests`` session of a ``redfish`` client (``_session`` in redfish 3.x) leave
    the environment alone; a library that keeps it elsewhere only costs the CPU saved here."""
    session = getattr(client, "_session", None)
    if isinstance(session, requests.Session):
        session.trust_env = False


def _where(endpoint: BMCEndpoint) -> str:
    return f"{endpoint.host}:{endpoint.port}" if endpoint.port else endpoint.host


def _number(value: Any, what: str) -> float | None:
    """A Redfish number as it arrives: int, float, numeric string or null.

    :raises BMCProtocolError: anything else (a bool, a word, a negative or infinite power).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise BMCProtocolError(f"{what} is a boolean, not a number")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise BMCProtocolError(f"{what} is not a number: {text[:40]!r}") from None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise BMCProtocolError(f"{what} is a {type(value).__name__}, not a number")
    if math.isnan(number):
        return None
    if math.isinf(number) or number < 0:
        raise BMCProtocolError(f"{what} is out of range: {number}")
    return number


def _walk(data: Any, pointer: Pointer) -> Any:
    """Follow keys and list indexes; :class:`_Missing` when a step is not there."""
    for step in pointer:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            raise _Missing from None
    return data


def _link(resource: Json, name: str) -> str | None:
    value = resource.get(name)
    if isinstance(value, dict) and isinstance(value.get("@odata.id"), str):
        return str(value["@odata.id"]).rstrip("/")
    return None


def _timestamp_ns(value: Any) -> int | None:
    """Nanoseconds of an ISO 8601 time a BMC gives (UTC when it names no offset), or None."""
    if not isinstance(value, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return to_ns(stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC))


def _power_metrics_average(power: Json, endpoint: BMCEndpoint) -> tuple[float, int] | None:
    """``(watts, window in ns)`` of the legacy Power resource's ``PowerControl[0].PowerMetrics``
    (``AverageConsumedWatts`` over the last ``IntervalInMin`` minutes) when that window is
    short enough to be the reading (drivers.averaging: at least a minute, so only for servers
    polled every 30 s or slower), else None: the current ``PowerConsumedWatts`` is."""
    try:
        metrics = _walk(power, ("PowerControl", 0, "PowerMetrics"))
        minutes = _number(_walk(metrics, ("IntervalInMin",)), "IntervalInMin")
        watts = _number(_walk(metrics, ("AverageConsumedWatts",)), "AverageConsumedWatts")
    except (_Missing, BMCProtocolError):
        return None  # the average is a bonus; its absence or garbage leaves the current power
    if minutes is None or watts is None or not use_average(minutes * 60, endpoint.poll_interval):
        return None
    return watts, round(minutes * 60e9)


def _sensor_average(sensor: Json, endpoint: BMCEndpoint) -> tuple[float, int] | None:
    """``(watts, window in ns)`` of a power Sensor's ``AverageReading`` over its
    ``AveragingInterval`` when the BMC achieved that window and it is short enough to be the
    reading (drivers.averaging), else None."""
    if sensor.get("AveragingIntervalAchieved") is False:
        return None  # the BMC has not yet averaged over a whole window
    window = duration_s(sensor.get("AveragingInterval"))
    try:
        watts = _number(sensor.get("AverageReading"), "AverageReading")
    except BMCProtocolError:
        return None
    if window is None or watts is None or not use_average(window, endpoint.poll_interval):
        return None
    return watts, round(window * 1e9)


class RedfishDriver(PowerDriver):
    """Reads power from DMTF Redfish services (and their OEM extensions)."""

    bmc_type = "redfish"
    default_scheme = "https"
    #: vendors whose OEM paths are tried even when the service root does not name a vendor
    assumed_vendors: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._bmcs: dict[tuple[str, int | None, str, str | None], _BMC] = {}
        self._bmcs_lock = threading.Lock()

    # -- the contract ---------------------------------------------------------------------------

    def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
        """Read the server's power now (see :meth:`PowerDriver.read_power` for the errors).

        Waits at most ``3 * endpoint.timeout`` for another read of the same BMC to finish.
        """
        with self._bmcs_lock:
            bmc = self._bmcs.setdefault(endpoint.session_key, _BMC())
        if not bmc.lock.acquire(timeout=max(3 * endpoint.timeout, 0.1)):
            raise BMCUnreachable(f"{_where(endpoint)}: another read of this BMC is still running")
        try:
            return self._read(bmc, endpoint)
        except DriverError as exc:
            raise type(exc)(redact(str(exc), endpoint.password)) from None
        except Exception as exc:  # any library surprise becomes one of ours
            raise self._translate(exc, endpoint) from None
        finally:
            bmc.lock.release()

    def forget(self, endpoint: BMCEndpoint) -> None:
        with self._bmcs_lock:
            bmc = self._bmcs.pop(endpoint.session_key, None)
        if bmc is not None and bmc.lock.acquire(timeout=max(3 * endpoint.timeout, 0.1)):
            try:
                self._logout(bmc)
            finally:
                bmc.lock.release()

    def close(self) -> None:
        with self._bmcs_lock:
            bmcs = list(self._bmcs.values())
            self._bmcs.clear()
        for bmc in bmcs:
            with bmc.lock:
                self._logout(bmc)

    # -- sessions -------------------------------------------------------------------------------

    def _base_url(self, endpoint: BMCEndpoint) -> str:
        scheme = endpoint.scheme or self.default_scheme
        host = endpoint.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 literal
        return f"{scheme}://{host}:{endpoint.port}" if endpoint.port else f"{scheme}://{host}"

    def _connect(self, bmc: _BMC, endpoint: BMCEndpoint) -> None:
        """Create the client (one GET of the service root) and log in."""
        self._logout(bmc)
        cafile = None
        if endpoint.verify_tls:  # the library verifies only when given a CA file
            cafile = os.environ.get("REQUESTS_CA_BUNDLE") or requests.utils.DEFAULT_CA_BUNDLE_PATH
        _secret_filter.add(endpoint.password)
        bmc.password = endpoint.password
        base_url = self._base_url(endpoint)
        # max_retry=0: the library sleeps 1 s before each retry and retries timeouts too;
        # _call retries a dropped keep-alive connection once, at once, and nothing else.
        bmc.client = self._call(
            endpoint,
            redfish.redfish_client,
            base_url=base_url,
            username=endpoint.username,
            password=endpoint.password,
            timeout=endpoint.timeout,
            max_retry=0,
            cafile=cafile,
            # The environment's proxies for this BMC (NO_PROXY honoured), read once here...
            proxies=requests.utils.get_environ_proxies(base_url) or None,
        )
        # ...and not again before each request: requests then also looks for ~/.netrc (whose
        # entry for the host would replace the library's Authorization header) and merges the
        # environment's settings, 23 % of a read's CPU in the polling process (measured). The
        # TLS check does not change: the library passes its own ``verify`` on every request.
        _stop_reading_the_environment(bmc.client)
        bmc.root = dict(bmc.client.root or {})
        bmc.vendors = self.assumed_vendors | self._vendors(bmc.root)
        has_sessions = bool(bmc.root.get("SessionService")) or bool(
            (bmc.root.get("Links") or {}).get("Sessions")
        )
        bmc.auth = rf.AuthMethod.SESSION if has_sessions or not bmc.root else rf.AuthMethod.BASIC
        self._login(bmc, endpoint)

    def _login(self, bmc: _BMC, endpoint: BMCEndpoint) -> None:
        try:
            self._call(endpoint, bmc.client.login, auth=bmc.auth)
        except BMCProtocolError as exc:
            if bmc.auth == rf.AuthMethod.SESSION and re.search(r"HTTP (404|405|501)\b", str(exc)):
                bmc.auth = rf.AuthMethod.BASIC  # a SessionService that does not take sessions
                self._call(endpoint, bmc.client.login, auth=bmc.auth)
            else:
                raise
        token = bmc.client.get_session_key()
        if token:
            _secret_filter.add(token)
        logger.debug("logged in to %s (%s auth)", _where(endpoint), bmc.auth)

    def _logout(self, bmc: _BMC) -> None:
        client, bmc.client, bmc.source = bmc.client, None, None
        if client is None:
            return
        token = client.get_session_key()
        try:
            client.logout()
        except Exception as exc:  # best effort: the session times out on the BMC anyway
            logger.debug("logout failed: %s", type(exc).__name__)
        _secret_filter.discard(token or "")
        _secret_filter.discard(bmc.password)

    @staticmethod
    def _vendors(root: Json) -> frozenset[str]:
        names = [str(root.get("Vendor") or "")]
        oem = root.get("Oem")
        if isinstance(oem, dict):
            names.extend(oem)
        return frozenset(vendor_name(n) for n in names if n.strip())

    def _call(self, endpoint: BMCEndpoint, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a library call; retry once at once if a kept-alive connection had been dropped."""
        for attempt in (1, 2):
            try:
                return fn(*args, **kwargs)
            except rf.RetriesExhaustedError as exc:
                cause = exc.__cause__
                stale = isinstance(cause, requests.ConnectionError) and not isinstance(
                    cause, requests.Timeout | requests.exceptions.SSLError
                )
                if attempt == 1 and stale:
                    continue
                raise self._translate(cause or exc, endpoint) from None
            except DriverError:
                raise
            except Exception as exc:
                raise self._translate(exc, endpoint) from None
        raise AssertionError("unreachable")

    def _translate(self, exc: BaseException, endpoint: BMCEndpoint) -> DriverError:
        """The project error for a library, ``requests`` or socket exception (password-free)."""
        where = _where(endpoint)
        if isinstance(exc, DriverError):
            error: DriverError = exc
        elif isinstance(exc, rf.InvalidCredentialsError):
            error = BMCAuthFailed(f"{where}: the BMC refused the credentials")
        elif isinstance(exc, redfish.messages.RedfishPasswordChangeRequiredError):
            error = BMCAuthFailed(f"{where}: the BMC requires a password change")
        elif isinstance(exc, requests.exceptions.SSLError):
            error = BMCProtocolError(f"{where}: TLS failed ({_reason(exc)})")
        elif isinstance(exc, requests.Timeout | TimeoutError):
            error = BMCUnreachable(f"{where}: no answer within {endpoint.timeout:g} s")
        elif isinstance(exc, requests.ConnectionError | OSError):
            error = BMCUnreachable(f"{where}: cannot connect ({_reason(exc)})")
        elif isinstance(exc, rf.ServerDownOrUnreachableError):
            status = getattr(exc.response, "status", None)
            error = (
                BMCProtocolError(f"{where}: HTTP {status} for the service root")
                if status
                else BMCUnreachable(f"{where}: the Redfish service does not answer")
            )
        elif isinstance(exc, rf.SessionCreationError):
            error = BMCProtocolError(f"{where}: session login failed: {str(exc)[:200]}")
        elif isinstance(exc, rf.JsonDecodingError | ValueError):
            error = BMCProtocolError(f"{where}: the BMC answered something that is not JSON")
        elif isinstance(exc, rf.RetriesExhaustedError):
            error = BMCUnreachable(f"{where}: no answer")
        else:
            error = BMCProtocolError(f"{where}: unexpected {type(exc).__name__} from the client")
        return type(error)(redact(str(error), endpoint.password))

    # -- reading --------------------------------------------------------------------------------

    def _get(self, bmc: _BMC, endpoint: BMCEndpoint, path: str) -> Json:
        """GET a resource as a dict; log in again once when the BMC forgot the session.

        :raises _Missing: 404 (or 405/501: the BMC has no such resource).
        """
        if bmc.client is None or bmc.password != endpoint.password:
            self._connect(bmc, endpoint)
        response = self._call(endpoint, bmc.client.get, path)
        if response.status == 401:
            logger.debug("%s: session no longer valid; logging in again", _where(endpoint))
            self._login(bmc, endpoint)
            response = self._call(endpoint, bmc.client.get, path)
            if response.status == 401:
                raise BMCAuthFailed(f"{_where(endpoint)}: the BMC refused the credentials")
        if response.status in (404, 405, 501):
            raise _Missing(path)
        if response.status >= 400:
            raise BMCProtocolError(f"{_where(endpoint)}: HTTP {response.status} for {path}")
        try:
            body = json.loads(response.text or "{}")
        except ValueError:
            raise BMCProtocolError(f"{_where(endpoint)}: {path} is not JSON") from None
        if not isinstance(body, dict):
            raise BMCProtocolError(f"{_where(endpoint)}: {path} is not a JSON object")
        return body

    def _read(self, bmc: _BMC, endpoint: BMCEndpoint) -> PowerReading:
        if bmc.client is None or bmc.password != endpoint.password:
            self._connect(bmc, endpoint)
        if bmc.source is not None:
            try:
                return self._read_source(bmc, endpoint, bmc.source)
            except (_Missing, _Null):
                logger.info(
                    "%s: %s stopped giving a reading; looking again",
                    _where(endpoint),
                    bmc.source.name,
                )
                bmc.source = None
        return self._discover(bmc, endpoint)

    def _discover(self, bmc: _BMC, endpoint: BMCEndpoint) -> PowerReading:
        where = _where(endpoint)
        collection = _link(bmc.root, "Chassis") or "/redfish/v1/Chassis"
        try:
            members = self._get(bmc, endpoint, collection).get("Members") or []
        except _Missing:
            raise PowerUnsupported(f"{where}: the service has no Chassis collection") from None
        chassis_list: list[Json] = []
        for member in members:
            path = _link({"m": member}, "m")
            if path:
                try:
                    chassis_list.append(self._get(bmc, endpoint, path))
                except _Missing:
                    continue
        chassis_list.sort(key=lambda c: c.get("ChassisType") not in SERVER_CHASSIS_TYPES)
        saw_null = False
        for chassis in chassis_list:
            for source in self._candidates(bmc, chassis):
                try:
                    reading = self._read_source(bmc, endpoint, source)
                except _Missing:
                    continue
                except _Null:
                    saw_null = True
                    continue
                logger.info("%s: reading power from %s (%s)", where, source.name, source.path)
                bmc.source = source
                return reading
        if saw_null:
            raise BMCProtocolError(f"{where}: the BMC reports its power as null")
        raise PowerUnsupported(
            f"{where}: no power reading in EnvironmentMetrics, PowerSubsystem, Power"
            + (f" or the {'/'.join(sorted(bmc.vendors))} OEM paths" if bmc.vendors else "")
        )

    def _candidates(self, bmc: _BMC, chassis: Json) -> list[_Source]:
        """Where this chassis' power may be: preferred OEM rows, the standard resources newest
        first, then the other OEM rows, for the vendors the service root or the chassis'
        ``Manufacturer`` names (some services, e.g. Supermicro's, name none in the root)."""
        standard = [
            _Source(kind, path, f"redfish:{kind}")
            for kind in ("EnvironmentMetrics", "PowerSubsystem", "Power")
            if (path := _link(chassis, kind))
        ]
        vendors = set(bmc.vendors)
        if isinstance(chassis.get("Manufacturer"), str) and chassis["Manufacturer"].strip():
            vendors.add(vendor_name(chassis["Manufacturer"]))
        preferred: list[_Source] = []
        fallback: list[_Source] = []
        chassis_path = str(chassis.get("@odata.id") or "").rstrip("/")
        for oem in OEM_POWER_PATHS:
            if oem.vendor in vendors and chassis_path:
                path = oem.path.format(chassis=chassis_path, id=chassis.get("Id", ""))
                source = _Source("oem", path, oem.source, oem)
                (preferred if oem.preferred else fallback).append(source)
        return preferred + standard + fallback

    def _read_source(self, bmc: _BMC, endpoint: BMCEndpoint, source: _Source) -> PowerReading:
        """One reading from a known place. :raises _Missing, _Null: the place has none."""
        energy_j = None
        stamp = None
        averaged_over_ns = None
        watts: float | None
        asked_at_ns = time.time_ns()  # the value's time: when we asked, not when it was parsed
        if source.average_sensor:  # one GET, of the Sensor, instead of EnvironmentMetrics
            reading = self._read_sensor_average(bmc, endpoint, source, asked_at_ns)
            if reading is not None:
                return reading
        if source.kind == "PowerSubsystem":
            watts = self._read_supplies(bmc, endpoint, source)
        else:
            data = self._get(bmc, endpoint, source.path)
            if source.kind == "EnvironmentMetrics":
                if source.average_sensor is None:  # once: does its Sensor average? (see above)
                    source.average_sensor = self._averaging_sensor(bmc, endpoint, data)
                    if source.average_sensor:
                        return self._read_source(bmc, endpoint, source)
                raw = _walk(data, ("PowerWatts", "Reading"))
                try:
                    kwh = _number(_walk(data, ("EnergykWh", "Reading")), "EnergykWh")
                except (_Missing, BMCProtocolError):
                    kwh = None  # the counter is a bonus; its absence does not spoil the watts
                energy_j = None if kwh is None else kwh * 3.6e6
            elif source.kind == "Power":
                average = _power_metrics_average(data, endpoint)
                if average is not None:
                    return PowerReading(
                        watts=average[0],
                        read_at_ns=asked_at_ns,
                        source=SOURCE_REDFISH_AVERAGE,
                        averaged_over_ns=average[1],
                    )
                raw = _walk(data, ("PowerControl", 0, "PowerConsumedWatts"))
            else:
                assert source.oem is not None
                raw = _walk(data, source.oem.watts)
                if source.oem.energy_kwh:
                    try:
                        kwh = _number(_walk(data, source.oem.energy_kwh), "energy counter")
                    except (_Missing, BMCProtocolError):
                        kwh = None  # the counter is a bonus; its absence does not spoil the watts
                    energy_j = None if kwh is None else kwh * 3.6e6
                if source.oem.averaging_s:
                    averaged_over_ns = int(source.oem.averaging_s * 1e9)
                if source.oem.timestamp:
                    try:
                        stamp = _timestamp_ns(_walk(data, source.oem.timestamp))
                    except _Missing:
                        stamp = None
            watts = _number(raw, f"{source.path} reading")
        if watts is None:
            raise _Null
        return PowerReading(
            watts=watts,
            read_at_ns=asked_at_ns,
            source=source.name,
            bmc_timestamp_ns=stamp,
            energy_j=energy_j,
            averaged_over_ns=averaged_over_ns,
        )

    def _averaging_sensor(self, bmc: _BMC, endpoint: BMCEndpoint, environment: Json) -> str:
        """The path of the Sensor behind ``PowerWatts`` when it states an average over a window
        short enough to be the reading (drivers.averaging), else ""."""
        try:
            path = _walk(environment, ("PowerWatts", "DataSourceUri"))
            if not isinstance(path, str) or not path:
                return ""
            sensor = self._get(bmc, endpoint, path)
        except (_Missing, BMCProtocolError):
            return ""  # a broken link to the Sensor must not spoil EnvironmentMetrics' reading
        return path if _sensor_average(sensor, endpoint) is not None else ""

    def _read_sensor_average(
        self, bmc: _BMC, endpoint: BMCEndpoint, source: _Source, asked_at_ns: int
    ) -> PowerReading | None:
        """The remembered Sensor's average, or None (and the Sensor forgotten) when it stopped
        stating one that qualifies: then EnvironmentMetrics' current power is the reading."""
        assert source.average_sensor
        try:
            average = _sensor_average(self._get(bmc, endpoint, source.average_sensor), endpoint)
        except (_Missing, BMCProtocolError):
            average = None
        if average is None:
            source.average_sensor = ""
            return None
        # The time is when we asked for the Sensor: a second GET is about a millisecond later.
        return PowerReading(
            watts=average[0],
            read_at_ns=asked_at_ns,
            source=SOURCE_REDFISH_SENSOR_AVERAGE,
            averaged_over_ns=average[1],
        )

    def _read_supplies(self, bmc: _BMC, endpoint: BMCEndpoint, source: _Source) -> float:
        """Sum of the enabled supplies' input power; the supply list is re-read now and then."""
        now = time.monotonic()
        if now - source.supplies_listed_at > SUPPLY_LIST_TTL:
            subsystem = self._get(bmc, endpoint, source.path)
            collection = _link(subsystem, "PowerSupplies")
            if not collection:
                raise _Missing
            metrics: list[str] = []
            for member in self._get(bmc, endpoint, collection).get("Members") or []:
                path = _link({"m": member}, "m")
                if not path:
                    continue
                supply = self._get(bmc, endpoint, path)
                state = (supply.get("Status") or {}).get("State")
                if state not in (None, "Enabled"):
                    continue  # Disabled, Absent, StandbyOffline...: not drawing the server's power
                link = _link(supply, "Metrics")
                if link:
                    metrics.append(link)
            if not metrics:
                raise _Missing
            source.supply_metrics, source.supplies_listed_at = metrics, now
        total = 0.0
        for path in source.supply_metrics:
            value = _walk(self._get(bmc, endpoint, path), ("InputPowerWatts", "Reading"))
            watts = _number(value, f"{path} InputPowerWatts")
            if watts is None:
                raise _Null  # a partial sum would under-report
            total += watts
        return total


def _reason(exc: BaseException) -> str:
    """A short cause for a connection error: ``[Errno 111] Connection refused`` and the like."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\][^'\")]*", text) or re.search(r"\[SSL[^\]]*\][^'\")]*", text)
    return match.group(0).strip() if match else type(exc).__name__
