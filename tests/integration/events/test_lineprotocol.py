"""Names round-trip through the real InfluxDB exactly (unit-level: the writer's escaping)."""

from __future__ import annotations

import pytest

from energylab.validators import control_character_in
from events.influx import make_client
from events.ingest.lineprotocol import (
    REPLACEMENT_CHARACTER,
    ZERO_WIDTH_SPACE,
    field_string,
    line,
    tag_set,
    tag_value,
)

NAMES = [
    "plain",
    "lab pod 7",
    'x, y=z "q"',
    "a\\b",
    "two\\\\b",
    "it's",
    "énergie ⚡ 電力",
    " lead and trail ",
    "=,= ,",
    "tricky\\,comma",
    "ends\\",
    "back\\ space",
]


def test_tag_value_is_the_name_unless_a_backslash_cannot_be_carried() -> None:
    assert tag_value("a\\b") == "a\\b"
    assert tag_value("ends\\") == "ends\\" + ZERO_WIDTH_SPACE
    assert tag_value("x\\,y") == "x\\" + ZERO_WIDTH_SPACE + ",y"


def test_every_name_round_trips_through_influxdb(influxdb_database: str) -> None:
    client = make_client()
    lines = [
        line(
            "power",
            tag_set({"server": name, "step": name}),
            f"watts=1.0,source={field_string(name)}",
            1_000_000 + i,
        )
        for i, name in enumerate(NAMES)
    ]
    client.write_points(lines, protocol="line", time_precision="u")
    for name in NAMES:
        points = list(
            client.query(
                "SELECT source, step FROM power WHERE server = $server",
                bind_params={"server": tag_value(name)},
            ).get_points()
        )
        assert len(points) == 1, name
        assert points[0]["source"] == name  # string fields are exact, always
        assert points[0]["step"] == tag_value(name)
    client.query("DROP MEASUREMENT power")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    from events.ingest.lineprotocol import field_float

    with pytest.raises(ValueError, match="cannot be stored"):
        field_float(bad)


@pytest.mark.parametrize("bad", ["\n", "\r", "\t", "\x00", "\x85", "\u2028", "\u2029", "\ud800"])
def test_a_character_no_name_may_hold_becomes_a_replacement_character_in_tags(bad: str) -> None:
    assert tag_value(f"dc{bad}next") == f"dc{REPLACEMENT_CHARACTER}next"
    assert "\n" not in tag_set({"dc": "dc\nnext"})


def test_tags_replace_exactly_the_characters_names_refuse() -> None:
    # The writer's fallback and the API's validation must agree: a valid name is never altered.
    for code in range(0x10000):
        char = chr(code)
        if char == "\\":
            continue  # a lone backslash gets its zero-width space
        refused = control_character_in(char) is not None
        assert (tag_value(char) != char) == refused, hex(code)
