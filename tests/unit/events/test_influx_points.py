"""Line protocol points become samples of the pod and server their tags name."""

from __future__ import annotations

import time

import pytest

from events.api.influx.parser import LineProtocolError, parse
from events.api.influx.points import samples_by_server
from events.ingest.buffer import Sample

NOW = time.time_ns()
# A fixed time in the past (2025-12-05), so that test ids are the same in every pytest-xdist
# worker; "{FUTURE}" in a parametrized line stands for ten minutes from now.
T = 1_764_900_000_123_456_789


def samples(body: str, precision: str = "n") -> dict[tuple[str, str], list[Sample]]:
    return samples_by_server(parse(body), precision, received_ns=NOW)


def refusal(body: str) -> str:
    with pytest.raises(LineProtocolError) as refused:
        samples(body)
    return str(refused.value)


def test_power_and_other_numeric_fields_become_samples_of_the_tagged_server() -> None:
    body = f'pdu,pod=lab\\ 1,server=n1,unit=C watts=250.5,temp=38i,name="outlet 3",on=t {T}'
    assert samples(body) == {
        ("lab 1", "n1"): [
            Sample("lab 1", "n1", 250.5, T, "influx"),
            Sample("lab 1", "n1", 38.0, T, "influx", sensor="temp", unit="C"),
        ]
    }


def test_points_are_grouped_by_pod_and_server_in_their_order() -> None:
    body = "\n".join(
        [
            f"m,pod=a,server=s1 power=1 {T}",
            f"m,pod=a,server=s2 power=2 {T}",
            f"m,pod=a,server=s1 power=3 {T + 1}",
        ]
    )
    grouped = samples(body)
    assert list(grouped) == [("a", "s1"), ("a", "s2")]
    assert [s.watts for s in grouped[("a", "s1")]] == [1.0, 3.0]


def test_watts_is_the_power_before_power_and_the_other_is_not_a_sensor() -> None:
    [sample] = samples(f"m,pod=a,server=s watts=10,power=20 {T}")[("a", "s")]
    assert (sample.sensor, sample.watts) == ("power", 10.0)


@pytest.mark.parametrize(
    ("precision", "stamp", "ns"),
    [
        ("n", T, T),
        ("u", T // 1000, T // 1000 * 1000),
        ("ms", T // 10**6, T // 10**6 * 10**6),
        ("s", T // 10**9, T // 10**9 * 10**9),
        ("m", T // (60 * 10**9), T // (60 * 10**9) * 60 * 10**9),
        ("h", T // (3600 * 10**9), T // (3600 * 10**9) * 3600 * 10**9),
    ],
)
def test_timestamps_are_read_in_the_requests_precision(precision: str, stamp: int, ns: int) -> None:
    [sample] = samples(f"m,pod=a,server=s watts=1 {stamp}", precision)[("a", "s")]
    assert sample.measured_at_ns == ns


def test_nanoseconds_are_kept_whole() -> None:
    body = "\n".join(f"m,pod=a,server=s watts={i} {T + i}" for i in range(3))
    assert [s.measured_at_ns for s in samples(body)[("a", "s")]] == [T, T + 1, T + 2]


def test_a_point_without_a_time_is_stamped_when_received() -> None:
    [sample] = samples("m,pod=a,server=s watts=1")[("a", "s")]
    assert sample.measured_at_ns == NOW


def test_the_tags_and_power_fields_are_settings(settings) -> None:
    settings.WRITE_POD_TAGS = ["site", "pod"]
    settings.WRITE_SERVER_TAGS = ["server", "host"]
    settings.WRITE_POWER_FIELDS = ["value"]
    [sample] = samples(f"ipmi_sensor,site=lab,host=n1 value=99 {T}")[("lab", "n1")]
    assert (sample.sensor, sample.watts) == ("power", 99.0)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            f"m,server=s watts=1 {T}",
            "no tag 'pod' names its pod (the tags are set by ENERGYLAB_WRITE_POD_TAGS)",
        ),
        (f"m,pod=a watts=1 {T}", "no tag 'server' names its server"),
        (f"m,pod=a,server=s watts=-1 {T}", "field 'watts': a power may not be negative"),
        (f"m,pod=a,server=s watts=1e400 {T}", "field 'watts': must be a finite number"),
        (f"m,pod=a,server=s temp=1e12 {T}", "field 'temp': 1e+12 is beyond"),
        (f'm,pod=a,server=s watts="high" {T}', "field 'watts' is its power: a number, not str"),
        (f"m,pod=a,server={'x' * 201} watts=1 {T}", "tag 'server' may not be longer than 200"),
        (f"m,pod=a\\,b\u0007,server=s watts=1 {T}", "tag 'pod' may not contain control characters"),
        ("m,pod=a,server=s watts=1 1700000000", "before 2000-01-01"),
        ("m,pod=a,server=s watts=1 {FUTURE}", "in the future"),
    ],
)
def test_a_point_that_cannot_be_stored_refuses_the_batch_naming_its_line(
    line: str, reason: str
) -> None:
    line = line.replace("{FUTURE}", str(time.time_ns() + 600 * 10**9))
    message = refusal(f"m,pod=a,server=s watts=1 {T}\n{line}")
    assert message.startswith(f"unable to parse line 2 {line[:20]!r}"[:-1])  # long lines shortened
    assert reason in message
