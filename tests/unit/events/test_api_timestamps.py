"""Event times: RFC 3339 with an offset or integer nanoseconds, stored to the microsecond."""

from __future__ import annotations

import datetime as dt

import pytest

from energylab.timestamps import from_ns, rfc3339_ns, to_ns
from events import timestamps

NOW = dt.datetime(2026, 11, 25, 10, 0, 0, tzinfo=dt.UTC)
EXPECTED = dt.datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=dt.UTC)
NS = 1_795_597_200_123_456_789  # 2026-11-25T09:00:00.123456789Z


@pytest.mark.parametrize(
    "value",
    [
        NS,
        str(NS),
        "2026-11-25T09:00:00.123456789Z",
        "2026-11-25T09:00:00.123456Z",
        "2026-11-25t09:00:00.1234565z",
        "2026-11-25T10:00:00.123456+01:00",
        "2026-11-25T04:30:00.123456-04:30",
        "2026-11-25 09:00:00.123456+00:00",
    ],
)
def test_ns_and_rfc3339_parse_to_the_same_utc_microsecond(value: object) -> None:
    parsed = timestamps.parse(value, now=NOW)
    assert parsed == EXPECTED
    assert parsed.tzinfo == dt.UTC


def test_whole_seconds_keep_zero_microseconds() -> None:
    assert timestamps.parse("2026-11-25T09:00:00Z", now=NOW) == EXPECTED.replace(microsecond=0)


def test_to_ns_is_exact() -> None:
    assert to_ns(EXPECTED) == NS - 789
    assert from_ns(NS) == EXPECTED


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-11-25T09:00:00", "needs a UTC offset"),
        ("2026-11-25T09:00:00.5", "needs a UTC offset"),
        ("yesterday", "neither an RFC 3339"),
        ("2026-02-30T09:00:00Z", "not a valid time"),
        ("2026-11-25T09:00:60Z", "not a valid time"),
        (1_700_000_000, "before 2000-01-01"),
        (-1, "out of range"),
        (10**30, "out of range"),
        (True, "not a boolean"),
        (1.7e18, "not float"),
        (None, "not NoneType"),
        ("1999-12-31T23:59:59Z", "before 2000-01-01"),
        ("2026-11-25T10:06:00Z", "is 360 s in the future; check the client's clock"),
        # Valid RFC 3339 whose UTC time is in year 0 or 10000: no datetime holds it.
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9999-12-31T23:59:59-01:00", "out of range"),
    ],
)
def test_refused_times_say_why(value: object, message: str) -> None:
    with pytest.raises(timestamps.TimestampError, match=message.replace("(", r"\(")):
        timestamps.parse(value, now=NOW)


def test_a_little_clock_skew_is_accepted() -> None:
    assert timestamps.parse("2026-11-25T10:04:59Z", now=NOW) > NOW


@pytest.mark.parametrize("digits", [22, 4300, 4301, 5000, 100_000])
def test_a_digit_string_too_long_for_nanoseconds_is_refused_before_int_reads_it(
    digits: int,
) -> None:
    # int() of more than 4300 digits raises Python's own ValueError (a 500 in the views).
    with pytest.raises(timestamps.TimestampError, match=f"has {digits} digits: out of range"):
        timestamps.parse_any("9" * digits)


def test_leading_zeros_do_not_count_as_digits() -> None:
    assert timestamps.parse("0" * 5000 + str(NS), now=NOW) == EXPECTED


def test_an_int_too_large_to_print_is_refused_without_printing_it() -> None:
    with pytest.raises(timestamps.TimestampError, match="an integer of 16610 bits is out of range"):
        timestamps.parse_any(10**5000)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "1970-01-01T00:00:00.000000000Z"),
        (1_795_000_000_123_456_789, "2026-11-18T11:06:40.123456789Z"),
        (946_684_799_999_999_999, "1999-12-31T23:59:59.999999999Z"),
    ],
)
def test_rfc3339_ns_keeps_every_nanosecond(ns: int, text: str) -> None:
    assert rfc3339_ns(ns) == text
    assert to_ns(dt.datetime.fromisoformat(text[:-4] + "+00:00")) == ns // 1000 * 1000
