"""Times between their three shapes: integer nanoseconds, aware datetimes, RFC 3339 text.

A sample's time is integer nanoseconds since the epoch (UTC) from the driver's clock to the line
protocol; the database keeps aware datetimes with microseconds (PostgreSQL's resolution); the APIs
and reports answer RFC 3339. Conversions never pass through a float: float seconds since the epoch
hold only about a quarter of a microsecond, and lose the last digits of a nanosecond time.

Parsing the times clients send is :mod:`events.timestamps`'s job.
"""

from __future__ import annotations

import datetime as dt

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)  # naive on purpose: UTC, for rfc3339_ns


def to_ns(value: dt.datetime) -> int:
    """Integer nanoseconds since the epoch of an aware datetime (exact)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def from_ns(ns: int) -> dt.datetime:
    """UTC datetime of integer nanoseconds since the epoch, truncated (never rounded) to
    microseconds, so that ``to_ns(from_ns(ns))`` never lands after ``ns``."""
    return _EPOCH + dt.timedelta(microseconds=ns // 1000)


def rfc3339(value: dt.datetime) -> str:
    """RFC 3339 in UTC, always with microseconds (``2026-11-25T10:00:00.000000Z``): how every
    answer of the APIs and reports spells a time (REST_FRAMEWORK's ``DATETIME_FORMAT`` too)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_ns(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds (``2026-11-25T10:00:00.123456789Z``) of integer
    nanoseconds since the epoch: raw samples keep every digit InfluxDB stored."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    # isoformat of a naive whole second: a third of strftime's time (an export formats millions).
    return f"{(_NAIVE_EPOCH + dt.timedelta(seconds=seconds)).isoformat()}.{fraction:09d}Z"
