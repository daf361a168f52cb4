"""When a BMC's own average is a better reading than its current power.

Some BMCs answer, beside the power now, their mean power over a window they state: DCMI Get
Power Reading (its statistics period, in ms), Redfish ``PowerControl[].PowerMetrics``
(``AverageConsumedWatts`` over ``IntervalInMin``), iLO's FastPowerMeter (20 s). An average saw
all of its window, so nothing passes between two readings unseen; but dated at its window's
middle (:attr:`PowerReading.value_time_ns`) it smears each change of power over the window, and
the energy of a step is off by about a quarter of the window times each change at its edges.

Measured (synthetic steps of 30-120 s whose power changes at the edges and up to three times
inside, polls every 1-5 s, mean error of a step's energy: bench/averaging.py, docs/reports.md "The BMC's own
timing"): an average over up to twice the poll interval is as good as or better than the current
power of a BMC that refreshes every second (0.2-1.1 % against 0.5-1.2 %), and far better than one
that holds its value 20 s (8.6 %); longer windows lose (5 s 0.5 %, 10 s 1.1 %, 20 s 2.3 %, 60 s
6.6 % at a 2-s poll). So the average is used when its window is known and no longer than
:data:`AVERAGE_MAX_POLLS` poll intervals, else the current power.
"""

from __future__ import annotations

import math
import re

#: the longest window, in poll intervals, whose average is used instead of the current power
AVERAGE_MAX_POLLS = 2.0
#: the poll interval assumed when the caller does not say (the shortest a pod may have)
UNKNOWN_POLL_INTERVAL_S = 1.0


def use_average(window_s: float | None, poll_interval_s: float | None) -> bool:
    """True when a BMC's average over ``window_s`` seconds is the reading to take for a server
    polled every ``poll_interval_s`` seconds (None or 0: unknown), False for its current power.
    An unknown, zero or absurd window is never used."""
    if window_s is None or not math.isfinite(window_s) or window_s <= 0:
        return False
    interval = poll_interval_s if poll_interval_s and poll_interval_s > 0 else None
    return window_s <= AVERAGE_MAX_POLLS * (interval or UNKNOWN_POLL_INTERVAL_S)


# Redfish writes durations as ISO 8601 (``AveragingInterval``: "PT1S", "PT0.5S", "PT1M"); the
# days-hours-minutes-seconds subset it uses is one pattern, not worth a dependency.
_DURATION = re.compile(
    r"P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)


def duration_s(value: object) -> float | None:
    """Seconds of an ISO 8601 duration such as ``PT1S`` or ``P0DT0H1M``, or None for anything
    else (a year or month has no fixed length, and is never a BMC's averaging window)."""
    if not isinstance(value, str):
        return None
    match = _DURATION.fullmatch(value.strip().upper())
    if match is None or not any(match.groupdict().values()) or value.strip().upper().endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return (
        parts.get("d", 0.0) * 86_400
        + parts.get("h", 0.0) * 3_600
        + parts.get("m", 0.0) * 60
        + parts.get("s", 0.0)
    )
