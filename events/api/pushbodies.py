"""Bodies of pushed measurements, decoded and checked without a serializer per measurement.

The push paths (legacy measurements and consumption, the native bulk ``/api/v1/measurements/``)
take up to 100,000 measurements a body. DRF built a serializer field tree per measurement: for
100 measurements that was most of a request's CPU (bench/push.py; figures in
docs/benchmarks.md). Here msgspec decodes the body straight into typed structs (types, required
fields, lengths) and one loop applies the rules msgspec cannot (names, bounds, time range),
caching what it already checked (a body names the same sensors and units again and again).

Errors are DRF's shape, naming the field and the index: ``{"measurements": {"3": {"value":
["must be a finite number"]}}}``; :func:`decode` raises DRF's ValidationError (400) with them.
The serializers of :mod:`events.api.legacy.serializers` and :mod:`events.api.serializers` stay
as the OpenAPI description of these bodies.
"""

from __future__ import annotations

import math
import re
import time
from typing import Annotated, Any, TypeVar

import msgspec
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request

from collectors import limits
from collectors.validators import validate_topology
from energylab.api.parsers import RequestTooLarge, body_limit, content_length
from energylab.timestamps import to_ns
from energylab.validators import NAME_MAX_LENGTH, validate_name
from events import timestamps
from events.ingest.buffer import Sample

MAX_MEASUREMENTS = 100_000
MAX_SENSOR_LENGTH = 100
MAX_UNIT_LENGTH = 32
Number = float | str  # old collectors send numeric strings too
Time = int | str | None


class Measurement(msgspec.Struct):
    value: Number
    sensor: str = "power"
    unit: str = "W"
    time: Time = None


class Topology(msgspec.Struct):
    dc: str | None = None
    room: str | None = None
    row: str | None = None
    rack: str | None = None


class MeasurementsBody(msgspec.Struct):
    """``POST /resources/equipments/{id}/measurements``."""

    environment: str
    measurements: Annotated[list[Measurement], msgspec.Meta(max_length=MAX_MEASUREMENTS)]
    topology: Topology | None = None


class ConsumptionBody(msgspec.Struct):
    """``POST /resources/servers/{id}/consumption``."""

    environment: str
    power: Number
    time: Time = None


class ServerMeasurement(msgspec.Struct):
    """One measurement of the native bulk body: it names its pod and server."""

    pod: str
    server: str
    value: Number
    sensor: str = "power"
    unit: str = "W"
    time: Time = None


class BulkBody(msgspec.Struct):
    """``POST /api/v1/measurements/``."""

    measurements: Annotated[list[ServerMeasurement], msgspec.Meta(max_length=MAX_MEASUREMENTS)]


Body = TypeVar("Body", MeasurementsBody, ConsumptionBody, BulkBody)
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def decode(request: Request, kind: type[Body]) -> Body:
    """The request's JSON body as ``kind`` (whatever its Content-Type says, as the legacy API
    always took it), types checked.

    :raises RequestTooLarge: (413) beyond ``DATA_UPLOAD_MAX_MEMORY_SIZE``.
    :raises ParseError: (400) not JSON.
    :raises ValidationError: (400) a field of the wrong type or missing, named with its index.
    """
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(_body(request))
    except msgspec.ValidationError as exc:
        raise ValidationError(_drf_errors(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None


def _body(request: Request) -> bytes:
    """The raw body, bounded as :class:`energylab.api.parsers.LimitedJSONParser` bounds it."""
    limit = body_limit()
    declared = content_length(request)
    if limit is not None and declared is not None and declared > limit:
        raise RequestTooLarge(f"the request body ({declared} bytes) exceeds the limit of {limit}")
    stream = request.stream
    if stream is None:
        return b""
    body = stream.read(limit + 1) if limit is not None else stream.read()
    if limit is not None and len(body) > limit:
        raise RequestTooLarge(f"the request body exceeds the limit of {limit} bytes")
    return bytes(body)


# "Expected `float | str`, got `bool` - at `$.measurements[1].value`"
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _drf_errors(text: str) -> dict[str, Any]:
    """msgspec's error as DRF's nested dict: fields by name, list items by index."""
    match = _AT.match(text)
    assert match is not None  # the pattern matches any text
    message, path = match["message"], match["path"] or ""
    keys = [name or index for name, index in _STEP.findall(path)]
    missing = _MISSING.match(message)
    if missing is not None:
        keys.append(missing["field"])
        message = "This field is required."
    elif not keys:
        keys = ["non_field_errors"]
    return _nested(keys, message)


def _nested(keys: list[str], message: str) -> dict[str, Any]:
    errors: Any = [message]
    for key in reversed(keys):
        errors = {key: errors}
    return dict(errors)


class Errors:
    """Errors found by the checking loop, by field and index, raised together."""

    def __init__(self) -> None:
        self.found: dict[str, Any] = {}

    def add(self, keys: tuple[str, ...], message: str) -> None:
        node = self.found
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node.setdefault(keys[-1], []).append(message)

    def raise_any(self) -> None:
        if self.found:
            raise ValidationError(self.found)


class Checker:
    """The rules msgspec cannot apply, with memory of the names already checked."""

    def __init__(self, errors: Errors) -> None:
        self.errors = errors
        self._names: set[str] = set()
        self.received_ns = time.time_ns()  # the time of an undated measurement
        self._earliest_ns = to_ns(timestamps.EARLIEST)
        self._latest_ns = self.received_ns + int(timestamps.MAX_FUTURE.total_seconds() * 1e9)
        self._undated = 0

    def name(self, keys: tuple[str, ...], value: str, max_length: int = NAME_MAX_LENGTH) -> str:
        if value in self._names:
            return value
        try:
            validate_name(value)
        except DjangoValidationError as exc:
            for message in exc.messages:
                self.errors.add(keys, message)
            return value
        if len(value) > max_length:
            self.errors.add(keys, f"Ensure this field has no more than {max_length} characters.")
            return value
        self._names.add(value)
        return value

    def value(self, keys: tuple[str, ...], value: Number, sensor: str, unit: str) -> float:
        """The reading as a float, within what ``sensor`` in ``unit`` may read
        (:func:`collectors.limits.reading_error`)."""
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                self.errors.add(keys, f"{value[:50]!r} is not a number")
                return math.nan
        else:
            number = value
        problem = limits.reading_error(sensor, unit, number)
        if problem is not None:
            self.errors.add(keys, problem)
        return number

    def time(self, keys: tuple[str, ...], value: Time) -> int:
        """Integer nanoseconds since the epoch; undated measurements get the time the body was
        received, one nanosecond apart in their order (two readings, not one sent twice)."""
        if value is None:
            self._undated += 1
            return self.received_ns + self._undated - 1
        if isinstance(value, int):
            ns = value
        elif value.isascii() and value.isdigit() and len(value) <= timestamps.MAX_NS_DIGITS:
            ns = int(value)
        else:
            self.errors.add(keys, "must be integer nanoseconds")
            return 0
        if ns < self._earliest_ns:
            self.errors.add(
                keys, "is before 2000-01-01 (integer times are nanoseconds, not seconds)"
            )
        elif ns > self._latest_ns:
            ahead = (ns - self.received_ns) / 1e9
            self.errors.add(keys, f"is {ahead:.0f} s in the future; check the client's clock")
        return ns

    def reading(
        self, index: int, m: Measurement | ServerMeasurement
    ) -> tuple[str, str, float, int]:
        """The sensor, unit, value and time of measurement ``index`` of a body."""
        at = str(index)
        sensor = self.name(("measurements", at, "sensor"), m.sensor, MAX_SENSOR_LENGTH)
        unit = self.name(("measurements", at, "unit"), m.unit, MAX_UNIT_LENGTH)
        value = self.value(("measurements", at, "value"), m.value, sensor, unit)
        return sensor, unit, value, self.time(("measurements", at, "time"), m.time)

    def topology(self, topology: Topology | None) -> dict[str, str]:
        if topology is None:
            return {}
        given: dict[str, str] = {}
        for field in ("dc", "room", "row", "rack"):
            value = getattr(topology, field)
            if value is None:
                continue
            try:
                validate_topology(value)
            except DjangoValidationError as exc:
                for message in exc.messages:
                    self.errors.add(("topology", field), message)
                continue
            if len(value) > 100:
                self.errors.add(
                    ("topology", field), "Ensure this field has no more than 100 characters."
                )
            given[field] = value
        return given


def measurements_samples(
    body: MeasurementsBody, server: str, source: str
) -> tuple[str, dict[str, str], list[Sample]]:
    """The pod, the topology given and the samples of a legacy measurements body.

    :raises ValidationError: (400) every error found, by field and index.
    """
    errors = Errors()
    check = Checker(errors)
    pod = check.name(("environment",), body.environment)
    topology = check.topology(body.topology)
    samples = []
    for index, m in enumerate(body.measurements):
        sensor, unit, value, ns = check.reading(index, m)
        samples.append(Sample(pod, server, value, ns, source, None, sensor, unit))
    errors.raise_any()
    return pod, topology, samples


def consumption_samples(body: ConsumptionBody, server: str, source: str) -> list[Sample]:
    """The one power sample of a legacy consumption body.

    :raises ValidationError: (400) every error found, by field.
    """
    errors = Errors()
    check = Checker(errors)
    pod = check.name(("environment",), body.environment)
    value = check.value(("power",), body.power, "power", "W")
    ns = check.time(("time",), body.time)
    errors.raise_any()
    return [Sample(pod, server, value, ns, source)]


def bulk_samples(body: BulkBody, source: str) -> list[Sample]:
    """The samples of a native bulk body, in its order.

    :raises ValidationError: (400) every error found, by field and index.
    """
    errors = Errors()
    check = Checker(errors)
    samples = []
    for index, m in enumerate(body.measurements):
        pod = check.name(("measurements", str(index), "pod"), m.pod)
        server = check.name(("measurements", str(index), "server"), m.server)
        sensor, unit, value, ns = check.reading(index, m)
        samples.append(Sample(pod, server, value, ns, source, None, sensor, unit))
    errors.raise_any()
    return samples
