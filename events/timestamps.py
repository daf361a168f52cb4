"""Event times as clients send them: RFC 3339 with an offset, or integer nanoseconds.

Everything is stored as UTC datetimes with microseconds (PostgreSQL's resolution): nanoseconds
are truncated, never rounded, so that ``to_ns(parse(ns))`` never lands after ``ns``. The
conversions between integer nanoseconds, datetimes and RFC 3339 live in
:mod:`energylab.timestamps`, shared with collectors/.
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone

from energylab.timestamps import from_ns

__all__ = [
    "EARLIEST",
    "MAX_FUTURE",
    "TimestampError",
    "check_range",
    "parse",
    "parse_any",
    "parse_rfc3339",
]

# The most digits of integer nanoseconds a datetime holds (year 9999 is 2.5e20 ns): a longer digit
# string is refused before int() reads it, which raises its own ValueError past 4300 digits
# (Python's int-conversion limit) and takes quadratic time before that.
MAX_NS_DIGITS = 21

# Clients stamp events with their own clocks; a little skew is normal, a lot means a broken clock
# whose events would land in the future and never correlate with measurements.
MAX_FUTURE = dt.timedelta(minutes=5)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?"
)


class TimestampError(ValueError):
    """The value is not a time EnergyLab accepts; the message says why (without the field)."""


def parse_rfc3339(text: str) -> dt.datetime:
    """An RFC 3339 time with its UTC offset, as an aware UTC datetime.

    :raises TimestampError: malformed, or without an offset (a naive time is ambiguous).
    """
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise TimestampError(
            "is neither an RFC 3339 time (2026-11-25T10:00:00.123456Z) nor integer nanoseconds"
        )
    if match["offset"] is None:
        raise TimestampError("needs a UTC offset (Z or +hh:mm): a time without one is ambiguous")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    offset = "+00:00" if match["offset"] in {"Z", "z"} else match["offset"]
    try:
        value = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{offset}")
    except ValueError as exc:  # 2026-02-30, 25:00:00, +24:00 ...
        raise TimestampError(f"is not a valid time ({exc})") from None
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is in year 0 in UTC, 9999-12-31T23:59:59-01:00 in year
        # 10000: valid RFC 3339 that no datetime holds (and far outside what parse() accepts).
        raise TimestampError("is out of range (before year 1 or after 9999 in UTC)") from None


def parse(value: object, now: dt.datetime | None = None) -> dt.datetime:
    """A client's event time: an ``int`` or digit string of nanoseconds, or RFC 3339 text.

    :raises TimestampError: not one of those, before 2000-01-01, or more than five minutes
        ahead of ``now`` (default: this server's clock).
    """
    result = parse_any(value)
    check_range(result, now)
    return result


def parse_any(value: object) -> dt.datetime:
    """Like :func:`parse`, without its range check: for times that query, not record (filters).

    :raises TimestampError: neither integer nanoseconds nor RFC 3339 with an offset.
    """
    if isinstance(value, bool):  # bool is an int in Python, never a time in JSON
        raise TimestampError("must be integer nanoseconds or an RFC 3339 string, not a boolean")
    if isinstance(value, int):
        return _from_ns_checked(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return _from_digits(text)
        return parse_rfc3339(text)
    raise TimestampError(
        f"must be integer nanoseconds or an RFC 3339 string, not {type(value).__name__}"
    )


def check_range(value: dt.datetime, now: dt.datetime | None = None) -> None:
    """:raises TimestampError: ``value`` is before 2000 or more than five minutes ahead."""
    if value < EARLIEST:
        raise TimestampError(
            f"is {value:%Y-%m-%d}, before 2000-01-01 (integer times are nanoseconds, not seconds)"
        )
    now = now or timezone.now()
    if value > now + MAX_FUTURE:
        ahead = (value - now).total_seconds()
        raise TimestampError(f"is {ahead:.0f} s in the future; check the client's clock")


def _from_digits(text: str) -> dt.datetime:
    significant = text.lstrip("0") or "0"
    if len(significant) > MAX_NS_DIGITS:
        raise TimestampError(
            f"has {len(significant)} digits: out of range (nanoseconds since 1970-01-01 expected, "
            f"at most {MAX_NS_DIGITS} digits)"
        )
    return _from_ns_checked(int(significant))


def _from_ns_checked(ns: int) -> dt.datetime:
    # A datetime stops at year 9999: anything bigger is a broken client, not an overflow error.
    if not 0 <= ns < 253_402_300_800 * 1_000_000_000:
        # str() of an int past 4300 digits raises ValueError: a huge one is not spelled out.
        shown = f"{ns} ns" if abs(ns) < 10**30 else f"an integer of {ns.bit_length()} bits"
        raise TimestampError(f"{shown} is out of range (nanoseconds since 1970-01-01 expected)")
    return from_ns(ns)
