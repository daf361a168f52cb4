"""Reading InfluxDB 1.x line protocol: escaping, values, timestamps, and errors that name the line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb.line_protocol import make_lines

from events.api.influx.parser import LineProtocolError, parse, parse_line

NASTY = [
    "a, b",
    "k=v",
    'say "hi"',
    "it's",
    "back\\slash",
    "ends\\",
    "\\",
    "é ⚡ 日本",
    "a\\,b",
    " ",
]


def test_it_reads_a_point_with_tags_fields_and_a_timestamp() -> None:
    point = parse_line("power,pod=lab\\ 1,server=n1 watts=251.5,fan=1200i,ok=t 1700000000123456789")
    assert point.measurement == "power"
    assert point.tags == {"pod": "lab 1", "server": "n1"}
    assert point.fields == {"watts": 251.5, "fan": 1200, "ok": True}
    assert point.time == 1_700_000_000_123_456_789


def test_a_point_without_a_timestamp_has_none() -> None:
    assert parse_line("power watts=1").time is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("-1.5", -1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("12i", 12),
        ("-12i", -12),
        ("12u", 12),
        ("T", True),
        ("false", False),
        ('"a \\"quoted\\" \\\\ string"', 'a "quoted" \\ string'),
        ('"a, b=c d"', "a, b=c d"),
    ],
)
def test_it_reads_every_kind_of_field_value(text: str, value: object) -> None:
    read = parse_line(f"m f={text}").fields["f"]
    assert (read, type(read)) == (value, type(value))


@pytest.mark.parametrize(
    ("escaped", "name"),
    [
        ("a\\,b", "a,b"),
        ("a\\=b", "a=b"),
        ("a\\ b", "a b"),
        ("a\\\\b", "a\\b"),  # two backslashes are one
        ("a\\b", "a\\b"),  # before another character, a backslash is itself
        ("ends\\\\", "ends\\"),
        ("日本\\ ⚡", "日本 ⚡"),
    ],
)
def test_names_are_unescaped_as_the_line_protocol_reference_says(escaped: str, name: str) -> None:
    point = parse_line(f"{escaped},{escaped}={escaped} {escaped}=1")
    assert point.measurement == name
    assert point.tags == {name: name}
    assert point.fields == {name: 1.0}


def test_blank_lines_comments_and_crlf_are_skipped() -> None:
    body = "# a comment\n\nm f=1 1\r\n  m f=2 2\n"
    assert [(p.fields["f"], p.time, p.line) for p in parse(body)] == [(1.0, 1, 3), (2.0, 2, 4)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("power,pod=p", "missing fields"),
        ("power,pod=p watts=", "missing field value"),
        ("power,pod watts=1", "bad tag"),
        ("power watts=1 soon", "a timestamp expected"),
        ("power watts=NaN", "invalid field value 'NaN'"),
        ("power watts=inf", "invalid field value"),
        ('power s="open', "unterminated string"),
        ("power f=99999999999999999999i", "out of range"),
        ("power f=-1u", "out of range"),
        ("power watts=1 1" + "0" * 30, "timestamp out of range"),
        (",pod=p watts=1", "missing measurement"),
    ],
)
def test_a_malformed_line_is_refused_with_its_number_and_reason(line: str, reason: str) -> None:
    with pytest.raises(LineProtocolError) as refused:
        parse(f"power watts=1 1\n{line}\npower watts=2 2")
    message = str(refused.value)
    assert message.startswith(f"unable to parse line 2 {line!r}: ")
    assert reason in message


def test_every_bad_line_is_named_up_to_ten() -> None:
    with pytest.raises(LineProtocolError) as refused:
        parse("\n".join(["bad"] * 12 + ["m f=1"]))
    lines = str(refused.value).splitlines()
    assert len(lines) == 11
    assert lines[0].startswith("unable to parse line 1 'bad'")
    assert lines[-1] == "(and 2 more bad lines)"


def test_a_long_bad_line_is_quoted_shortened() -> None:
    with pytest.raises(LineProtocolError) as refused:
        parse("m f=" + "x" * 10_000)
    assert len(str(refused.value)) < 400


names = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20),
)
field_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(
    # A line starting with "#" is a comment to InfluxDB too (the client does not escape it).
    measurement=names.filter(lambda name: not name.startswith("#")),
    tags=st.dictionaries(names, names, max_size=4),
    fields=st.dictionaries(names, field_values, min_size=1, max_size=4),
    time=st.one_of(st.none(), st.integers(min_value=0, max_value=2**62)),
)
def test_what_the_influxdb_client_writes_reads_back_the_same(
    measurement: str, tags: dict[str, str], fields: dict[str, object], time: int | None
) -> None:
    point: dict[str, object] = {"measurement": measurement, "tags": tags, "fields": fields}
    if time is not None:
        point["time"] = time
    text = make_lines({"points": [point]}, precision="n")
    [read] = parse(text)
    assert read.measurement == measurement
    assert read.tags == tags
    assert read.time == time
    assert read.fields.keys() == fields.keys()
    for key, value in fields.items():
        got = read.fields[key]
        assert (got, type(got)) == (value, type(value))  # floats too: make_lines writes repr()
