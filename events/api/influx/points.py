"""Line protocol points as EnergyLab's samples, grouped by the (pod, server) they name.

A point names its pod and its server by tags (``ENERGYLAB_WRITE_POD_TAGS``, default ``pod``;
``ENERGYLAB_WRITE_SERVER_TAGS``, default ``server``: the first of the listed tags the point has)
and carries its power in watts in a field (``ENERGYLAB_WRITE_POWER_FIELDS``, default ``watts``
then ``power``). Its other numeric fields become sensors named by their key, in the unit of the
point's ``unit`` tag if it has one. String and boolean fields are not readings and are left out;
so are the listed power fields after the first the point has, and a field named ``power`` that is
not the power (EnergyLab's sensor ``power`` is the power). The measurement's name is not used.

Every point is checked here, before anything is stored: a point without its tags, a name the API
would refuse, an impossible reading or a time out of range is an error naming its line.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError

from collectors import limits
from energylab.timestamps import to_ns
from energylab.validators import NAME_MAX_LENGTH, validate_name, validate_printable
from events.api.influx.parser import FieldValue, LineError, LineProtocolError, Point
from events.ingest.buffer import Sample
from events.timestamps import EARLIEST, MAX_FUTURE

__all__ = ["PRECISIONS", "SOURCE", "samples_by_server"]

#: nanoseconds per unit of each ``precision`` InfluxDB 1.x takes (``n`` is its default)
PRECISIONS = {
    "n": 1,
    "ns": 1,
    "u": 1_000,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
SOURCE = "influx"  # the samples' source, as the BMC type is a poll's
SENSOR_MAX_LENGTH = 100  # as the legacy measurements API's
UNIT_MAX_LENGTH = 32
_EARLIEST_NS = to_ns(EARLIEST)
_MAX_FUTURE_NS = int(MAX_FUTURE.total_seconds()) * 1_000_000_000

Server = tuple[str, str]


def samples_by_server(
    points: Iterable[Point], precision: str = "n", received_ns: int | None = None
) -> dict[Server, list[Sample]]:
    """The samples of ``points`` by (pod, server), in the order the points came.

    ``received_ns`` is the time of points written without one (default: now).

    :raises LineProtocolError: a point cannot be stored; nothing is returned then.
    :raises KeyError: ``precision`` is not one of :data:`PRECISIONS`.
    """
    unit_ns = PRECISIONS[precision]
    now_ns = time.time_ns()
    received_ns = now_ns if received_ns is None else received_ns
    pod_tags, server_tags = settings.WRITE_POD_TAGS, settings.WRITE_SERVER_TAGS
    power_fields = settings.WRITE_POWER_FIELDS
    grouped: dict[Server, list[Sample]] = {}
    errors: list[LineError] = []
    for point in points:
        try:
            pod = _name_tag(point, pod_tags, "pod")
            server = _name_tag(point, server_tags, "server")
            at_ns = received_ns if point.time is None else point.time * unit_ns
            _check_time(point, at_ns, now_ns)
            samples = list(_samples(point, pod, server, at_ns, power_fields))
        except LineError as exc:
            errors.append(exc)
            continue
        if samples:
            grouped.setdefault((pod, server), []).extend(samples)
    if errors:
        raise LineProtocolError(errors)
    return grouped


def _error(point: Point, reason: str) -> LineError:
    return LineError(point.line, point.text, reason)


def _name_tag(point: Point, keys: list[str], what: str) -> str:
    for key in keys:
        if key in point.tags:
            return _checked(point, f"tag {key!r}", point.tags[key], NAME_MAX_LENGTH)
    names = " or ".join(repr(key) for key in keys)
    setting = f"ENERGYLAB_WRITE_{what.upper()}_TAGS"
    raise _error(point, f"no tag {names} names its {what} (the tags are set by {setting})")


def _checked(point: Point, what: str, value: str, max_length: int, blank: bool = False) -> str:
    problem = _name_problem(value, max_length, blank)
    if problem is not None:
        raise _error(point, f"{what} {problem}")
    return value


@functools.lru_cache(maxsize=4096)
def _name_problem(value: str, max_length: int, blank: bool) -> str | None:
    """Why ``value`` cannot be a name, or None; remembered, since a batch repeats its names
    (the check reads every character's Unicode category: a third of a point's cost)."""
    try:
        (validate_printable if blank else validate_name)(value)
    except ValidationError as exc:
        return str(exc.messages[0])
    if len(value) > max_length:
        return f"may not be longer than {max_length} characters"
    return None


def _check_time(point: Point, at_ns: int, now_ns: int) -> None:
    if at_ns < _EARLIEST_NS:
        raise _error(
            point, "its time is before 2000-01-01 (is the request's precision the right one?)"
        )
    if at_ns > now_ns + _MAX_FUTURE_NS:
        ahead = (at_ns - now_ns) / 1e9
        raise _error(
            point,
            f"its time is {ahead:.0f} s in the future (check the client's clock, and the "
            "request's precision)",
        )


def _samples(
    point: Point, pod: str, server: str, at_ns: int, power_fields: list[str]
) -> Iterable[Sample]:
    power_key = next((key for key in power_fields if key in point.fields), None)
    if power_key is not None:
        watts = _number(point, power_key, point.fields[power_key])
        error = limits.power_error(watts)
        if error is not None:
            raise _error(point, f"field {power_key!r}: {error}")
        yield Sample(pod, server, watts, at_ns, SOURCE)
    unit = point.tags.get("unit", "")
    if unit:
        _checked(point, "tag 'unit'", unit, UNIT_MAX_LENGTH, blank=True)
    for key, value in point.fields.items():
        if key in power_fields or key == "power" or isinstance(value, bool | str):
            continue
        sensor = _checked(point, f"field key {key!r}", key, SENSOR_MAX_LENGTH)
        reading = float(value)
        error = limits.reading_error(sensor, unit, reading)
        if error is not None:
            raise _error(point, f"field {key!r}: {error}")
        yield Sample(pod, server, reading, at_ns, SOURCE, sensor=sensor, unit=unit)


def _number(point: Point, key: str, value: FieldValue) -> float:
    if isinstance(value, bool | str):
        raise _error(point, f"field {key!r} is its power: a number, not {type(value).__name__}")
    return float(value)
