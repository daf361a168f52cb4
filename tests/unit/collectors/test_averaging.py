"""Which reading a driver takes: the BMC's average over its window, or its current power."""

from __future__ import annotations

import pytest

from collectors.drivers.averaging import duration_s, use_average


@pytest.mark.parametrize(
    ("window_s", "poll_s", "expected"),
    [
        (1.0, 1.0, True),
        (2.0, 1.0, True),
        (10.0, 5.0, True),
        (5.0, 1.0, False),  # smears each change over five polls
        (60.0, 2.0, False),  # Redfish PowerMetrics' shortest interval, a minute
        (86_400.0, 5.0, False),  # the time since the BMC's statistics were reset
        (60.0, 30.0, True),
    ],
)
def test_an_average_is_taken_over_a_window_of_up_to_two_polls(window_s, poll_s, expected) -> None:
    assert use_average(window_s, poll_s) is expected


@pytest.mark.parametrize("window_s", [None, 0.0, -1.0, float("nan"), float("inf")])
def test_an_unknown_or_absurd_window_is_never_taken(window_s) -> None:
    assert use_average(window_s, 5.0) is False


def test_an_unknown_poll_interval_is_taken_as_a_second() -> None:
    assert use_average(2.0, None) is True
    assert use_average(3.0, 0.0) is False


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT1S", 1.0), ("PT0.5S", 0.5), ("PT1M", 60.0), ("P0DT0H1M30S", 90.0), ("pt2s", 2.0)],
)
def test_redfish_durations_read_as_seconds(text, seconds) -> None:
    assert duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "P1Y", "1S", "PT1X", None, 5])
def test_anything_else_is_no_duration(text) -> None:
    assert duration_s(text) is None


def test_readings_known_as_averages_are_the_standard_ones_and_the_vendors_averaged_meters() -> None:
    from collectors.drivers import averaged_sources

    found = averaged_sources()
    assert {"dcmi:average", "redfish:PowerMetrics", "redfish:Sensor:average"} <= found
    assert {"ilo:FastPowerMeter", "tsm:HistoryPowerMeter"} <= found
    assert not {"dcmi", "redfish:Power", "redfish:EnvironmentMetrics"} & found
