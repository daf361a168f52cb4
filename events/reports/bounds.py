"""Error bounds of a step's energy: the range the true energy lies in, given the samples.

A BMC does not report the power of the instant we ask: it refreshes (or averages) its reading
every ``refresh_s`` seconds and holds it in between, and the reading itself is only as good as
its stated accuracy. So a sample at time ``t`` tells the power at some moment in
``(t - refresh_s, t]``, within ``± accuracy``.

The model (docs/reports.md, "Error bounds"): between two consecutive refreshes of the BMC the
power stays between their two values (it may jump at any moment in between, or move in any way
inside that envelope, but it does not go past both of them unseen). For an instant ``τ`` the
refresh just before it is carried by the last poll at or before ``τ`` or by a later one, and
the refresh just after it (no later than ``τ + refresh_s``) is carried by the first poll at or
after ``τ + refresh_s`` at the latest. So the power at ``τ`` lies between the lowest and the
highest value of the polls from the last one at or before ``τ`` to the first one at or after
``τ + refresh_s``; integrated over the interval, and widened by the accuracy, that is
``[energy_j_low, energy_j_high]``. It is the worst case the samples admit under that model, and
no wider: a power curve that jumps at the right moments reaches either end.

Pure functions over :class:`events.reports.energy.Series`, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from events.reports.energy import METHOD_NONE, Figures, Series

# What a protocol's readings are worth when a server states nothing and its samples tell
# nothing: relative accuracy, and how long its BMC holds a value (seconds). DCMI states no
# accuracy and BMCs refresh it every 10-30 s; Redfish readings come from the PSUs' PMBus
# meters (about ± 2 % above a fifth of their load), refreshed as slowly as every 60 s on some
# firmware; iLO's FastPowerMeter averages 20 s. A pushing collector's readings are its own
# business: its spacing, and the accuracy of the IPMI it most often reads.
DEFAULT_ACCURACY = {"ipmi": 0.05, "redfish": 0.02, "ilo": 0.02, "push": 0.05}
DEFAULT_REFRESH_S = {"ipmi": 30.0, "redfish": 60.0, "ilo": 20.0}
FALLBACK_ACCURACY = 0.05

# A refresh period is learned from how often a BMC's value changes only when it changed at
# least this often in the samples read (a flat reading tells nothing of its refresh).
MIN_CHANGES_TO_LEARN = 5
# Changes come at multiples of the refresh period (the power need not change at each refresh):
# a low quantile of their spacing finds the period itself rather than a multiple of it.
CHANGE_SPACING_QUANTILE = 20


def learned_refresh_s(series: Series) -> float | None:
    """The BMC's refresh period, as seen in how often its value changes, or None when it did
    not change often enough to tell.

    A change seen at a poll happened at a refresh since the poll before it, so two changes
    ``s`` apart come from refreshes up to ``s`` plus one poll spacing apart: the period is
    taken as a low quantile of the spacings plus the median poll spacing (rounding up keeps
    the bound a bound; a period under the poll spacing cannot be seen anyway).
    """
    t, w = series.t, series.w
    if len(t) < 3:
        return None
    changed = np.flatnonzero(w[1:] != w[:-1]) + 1
    if len(changed) < MIN_CHANGES_TO_LEARN:
        return None
    spacing = np.diff(t[changed])
    polls = float(np.median(np.diff(t)))
    return float(np.percentile(spacing, CHANGE_SPACING_QUANTILE)) + polls


@dataclass(frozen=True)
class SourceTiming:
    """How one server's readings are taken: what its error bounds are computed with."""

    refresh_s: float
    refresh_from: str  # "configured", "learned" or "default"
    accuracy: float  # relative: 0.05 is ± 5 %
    accuracy_from: str  # "configured" or "default"


def source_timing(
    series: Series,
    bmc_type: str | None,
    cadence: float,
    refresh_s: float | None = None,
    accuracy_pct: float | None = None,
) -> SourceTiming:
    """A server's timing: what it states (its ``refresh_s``, ``accuracy_pct``), else what its
    samples show, else its protocol's default. ``cadence`` is the spacing its samples are
    expected at (a refresh period shorter than it cannot be told apart from it)."""
    if accuracy_pct is not None:
        accuracy, accuracy_from = accuracy_pct / 100, "configured"
    else:
        accuracy = DEFAULT_ACCURACY.get(bmc_type or "", FALLBACK_ACCURACY)
        accuracy_from = "default"
    if refresh_s is not None:
        return SourceTiming(refresh_s, "configured", accuracy, accuracy_from)
    learned = learned_refresh_s(series)
    if learned is not None:
        return SourceTiming(max(learned, cadence), "learned", accuracy, accuracy_from)
    default = DEFAULT_REFRESH_S.get(bmc_type or "", cadence)
    return SourceTiming(max(default, cadence), "default", accuracy, accuracy_from)


def energy_bounds(
    series: Series, start: float, end: float, refresh_s: float, accuracy: float
) -> tuple[float, float] | None:
    """``(low, high)`` joules the true energy over [start, end] lies in (see the module's
    docstring), or None when the server has no sample at all.

    :param refresh_s: how long the BMC holds (or averages) each value, in seconds (>= 0).
    :param accuracy: the reading's stated relative accuracy (0.05 for ± 5 %).
    """
    t, w = series.t, series.w
    n = len(t)
    if n == 0 or end <= start:
        return None
    refresh = max(0.0, refresh_s)
    # The polls that bracket an instant change only at a poll time (a new "last poll before")
    # and at a poll time minus the refresh period (a new "first poll after τ + refresh"):
    # between those cuts the bracket is constant, so the integral is a sum over pieces.
    inside = t[np.searchsorted(t, start, "right") : np.searchsorted(t, end, "left")]
    shifted = t[
        np.searchsorted(t, start + refresh, "right") : np.searchsorted(t, end + refresh, "left")
    ]
    # (Sorted, not made unique: a repeated cut is a piece of no width, which adds nothing.)
    cuts = np.sort(np.concatenate(([start, end], inside, shifted - refresh)))
    widths = np.diff(cuts)
    middles = (cuts[:-1] + cuts[1:]) / 2
    first = np.clip(np.searchsorted(t, middles, "right") - 1, 0, n - 1)
    last = np.clip(np.searchsorted(t, middles + refresh, "left"), 0, n - 1)
    last = np.maximum(last, first)
    lower = w[first].copy()
    upper = w[first].copy()
    # The brackets hold a few polls each (refresh / poll spacing + 2): a loop over the offset
    # is a handful of vectorised passes, not one per piece.
    for offset in range(1, int((last - first).max()) + 1):
        values = w[np.minimum(first + offset, last)]
        np.minimum(lower, values, out=lower)
        np.maximum(upper, values, out=upper)
    with np.errstate(over="ignore"):  # absurd stored powers: the report says "unknown"
        low = float(np.dot(lower, widths)) * (1.0 - accuracy)
        high = float(np.dot(upper, widths)) * (1.0 + accuracy)
    return max(0.0, low), high


def attach(
    figures: Figures, series: Series, start: float, end: float, refresh_s: float, accuracy: float
) -> Figures:
    """``figures`` (of ``series`` over [start, end]) with its ``energy_j_low``/``high`` set;
    left unknown (None) where the energy is (no sample tells anything about the interval: a
    range drawn from samples far away would only look like knowledge).

    The estimate itself always lies inside: a counter's difference (``method: counter``) saw
    what the polls missed, and a bound that excluded it would only be wrong.
    """
    if figures.method == METHOD_NONE:
        return figures
    found = energy_bounds(series, start, end, refresh_s, accuracy)
    if found is None:
        return figures
    low, high = found
    figures.energy_j_low = min(low, figures.energy_j)
    figures.energy_j_high = max(high, figures.energy_j)
    return figures
