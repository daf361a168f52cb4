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

Unseen excursions: a BMC that samples and holds (not one that averages) misses a power level
shorter than its refresh period that falls between two refreshes; if that level was beyond both
of its neighbours, the envelope above would not hold it. Where the polls that bracket an instant
differ by more than their accuracy (the power moved there), such a level may have come and gone,
so the envelope there is the server's limits: its lowest and highest reading (widened by the
accuracy as the rest is). Where the readings agree, the power is taken to have held (a level that leaves and
comes back to the very same reading between two refreshes is not seen, and not bounded).

Arithmetic over :class:`events.reports.energy.Series`, no I/O: :func:`source_timing` says what
a server's bounds are computed with, an :class:`Envelope` per server gives them for any interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from events.reports.energy import METHOD_NONE, Figures, FloatArray, Series

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
    #: the BMC samples and holds, so a short level can pass unseen between two refreshes (see
    #: the module's docstring); False for a reading that is the BMC's average over its window
    unseen_excursions: bool = True


def source_timing(
    series: Series,
    bmc_type: str | None,
    cadence: float,
    refresh_s: float | None = None,
    accuracy_pct: float | None = None,
    averaged: bool = False,
) -> SourceTiming:
    """A server's timing: what it states (its ``refresh_s``, ``accuracy_pct``), else what its
    samples show, else its protocol's default. ``cadence`` is the spacing its samples are
    expected at (a refresh period shorter than it cannot be told apart from it); ``averaged``
    says its readings are the BMC's averages over a window (nothing passes between them
    unseen)."""
    if accuracy_pct is not None:
        accuracy, accuracy_from = accuracy_pct / 100, "configured"
    else:
        accuracy = DEFAULT_ACCURACY.get(bmc_type or "", FALLBACK_ACCURACY)
        accuracy_from = "default"
    held = not averaged
    if refresh_s is not None:
        return SourceTiming(refresh_s, "configured", accuracy, accuracy_from, held)
    learned = learned_refresh_s(series)
    if learned is not None:
        return SourceTiming(max(learned, cadence), "learned", accuracy, accuracy_from, held)
    default = DEFAULT_REFRESH_S.get(bmc_type or "", cadence)
    return SourceTiming(max(default, cadence), "default", accuracy, accuracy_from, held)


class Envelope:
    """The lowest and highest power the samples of one server admit at every instant (the
    model of the module's docstring), integrated once, so that the bounds of any interval are
    a difference of two running sums: a report's steps, servers and total cost one pass over
    each server's samples, whatever the refresh period.

    The polls that bracket an instant change only at a poll time (a new "last poll at or
    before") and at a poll time minus the refresh period (a new "first poll at or after
    τ + refresh"): between those cuts the bracket, hence the envelope, is constant.
    """

    __slots__ = ("cuts", "high_sum", "low_sum", "lower", "upper")

    def __init__(
        self,
        series: Series,
        refresh_s: float,
        unseen_excursions: bool = False,
        accuracy: float = 0.0,
    ) -> None:
        """:param unseen_excursions: the BMC samples and holds: where the bracketing polls
        differ by more than their ``accuracy`` (relative), an unseen level may have come
        and gone, and the envelope there is the server's limits, its lowest and highest
        reading (the accuracy widens them with the rest in :meth:`bounds`). False: the
        readings are averages, or the model without unseen levels.
        """
        t, w = series.t, series.w
        n = len(t)
        if n == 0:
            raise ValueError("an envelope needs at least one sample")
        refresh = max(0.0, refresh_s)
        # (Sorted, not made unique: a repeated cut is a piece of no width, which adds nothing.)
        cuts = np.sort(np.concatenate((t, t - refresh)), kind="stable")  # two sorted runs: a merge
        middles = (cuts[:-1] + cuts[1:]) / 2
        first = np.clip(np.searchsorted(t, middles, "right") - 1, 0, n - 1)
        last = np.maximum(np.clip(np.searchsorted(t, middles + refresh, "left"), 0, n - 1), first)
        self.lower, self.upper = _range_min_max(w, first, last)
        if unseen_excursions:
            # Readings whose accuracy ranges do not overlap: the power moved in between.
            moved = self.upper - self.lower > accuracy * (self.upper + self.lower)
            self.lower = np.where(moved, w.min(), self.lower)
            self.upper = np.where(moved, w.max(), self.upper)
        widths = np.diff(cuts)
        with np.errstate(over="ignore", invalid="ignore"):  # absurd stored powers: "unknown"
            self.low_sum = np.concatenate(([0.0], np.cumsum(self.lower * widths)))
            self.high_sum = np.concatenate(([0.0], np.cumsum(self.upper * widths)))
        # Before the first cut the envelope is the first reading; after the last, the last one.
        self.lower = np.concatenate(([w[0]], self.lower, [w[-1]]))
        self.upper = np.concatenate(([w[0]], self.upper, [w[-1]]))
        self.cuts = cuts

    def _integral(self, x: float, envelope: FloatArray, sums: FloatArray) -> float:
        """∫ envelope from the first cut to x (negative before it)."""
        cuts = self.cuts
        j = int(np.searchsorted(cuts, x, "right"))  # x is in piece j (0: before the first cut)
        if j == 0:
            return float(envelope[0]) * (x - float(cuts[0]))
        return float(sums[j - 1]) + float(envelope[j]) * (x - float(cuts[j - 1]))

    def bounds(self, start: float, end: float, accuracy: float) -> tuple[float, float]:
        """``(low, high)`` joules over [start, end], widened by the relative ``accuracy``."""
        low = self._integral(end, self.lower, self.low_sum) - self._integral(
            start, self.lower, self.low_sum
        )
        high = self._integral(end, self.upper, self.high_sum) - self._integral(
            start, self.upper, self.high_sum
        )
        return max(0.0, low * (1.0 - accuracy)), high * (1.0 + accuracy)


def _range_min_max(
    w: FloatArray, first: npt.NDArray[np.intp], last: npt.NDArray[np.intp]
) -> tuple[FloatArray, FloatArray]:
    """Lowest and highest of ``w[first[i] : last[i] + 1]`` for every i, from a sparse table
    (each level the min/max of windows twice as long as the level before): a window of any
    length is two overlapping windows of a level, so the cost does not grow with it. The
    levels lie end to end in one flat array per side, gathered with flat indices."""
    n = len(w)
    level = np.frexp((last - first + 1).astype(np.float64))[1] - 1  # floor(log2), exactly
    levels = int(level.max(initial=0)) + 1
    mins, maxs = np.empty(levels * n), np.empty(levels * n)
    mins[:n] = maxs[:n] = w
    for j in range(1, levels):
        half = 1 << (j - 1)
        previous, current = slice((j - 1) * n, j * n), slice(j * n, (j + 1) * n)
        mins[current], maxs[current] = mins[previous], maxs[previous]
        np.minimum(
            mins[(j - 1) * n : j * n - half],
            mins[(j - 1) * n + half : j * n],
            out=mins[j * n : (j + 1) * n - half],
        )
        np.maximum(
            maxs[(j - 1) * n : j * n - half],
            maxs[(j - 1) * n + half : j * n],
            out=maxs[j * n : (j + 1) * n - half],
        )
    at_first = level * n + first
    at_other = level * n + last - (1 << level) + 1
    return (
        np.minimum(mins.take(at_first), mins.take(at_other)),
        np.maximum(maxs.take(at_first), maxs.take(at_other)),
    )


def energy_bounds(
    series: Series,
    start: float,
    end: float,
    refresh_s: float,
    accuracy: float,
    unseen_excursions: bool = True,
) -> tuple[float, float] | None:
    """``(low, high)`` joules the true energy over [start, end] lies in (see the module's
    docstring), or None when the server has no sample at all. (One interval: a report asks
    an :class:`Envelope` for many.)

    :param refresh_s: how long the BMC holds (or averages) each value, in seconds (>= 0).
    :param accuracy: the reading's stated relative accuracy (0.05 for ± 5 %).
    :param unseen_excursions: the BMC samples and holds (False: its readings are averages).
    """
    if len(series) == 0 or end <= start:
        return None
    envelope = Envelope(series, refresh_s, unseen_excursions, accuracy)
    return envelope.bounds(start, end, accuracy)


def attach(
    figures: Figures, envelope: Envelope | None, start: float, end: float, accuracy: float
) -> Figures:
    """``figures`` (of one server over [start, end]) with its ``energy_j_low``/``high`` set
    from the server's ``envelope``; left unknown (None) where the energy is (no sample tells
    anything about the interval: a range drawn from samples far away would only look like
    knowledge), or the server has no sample at all (``envelope`` None).

    The estimate itself always lies inside: a counter's difference (``method: counter``) saw
    what the polls missed, and a bound that excluded it would only be wrong.
    """
    if figures.method == METHOD_NONE or envelope is None or end <= start:
        return figures
    low, high = envelope.bounds(start, end, accuracy)
    figures.energy_j_low = min(low, figures.energy_j)
    figures.energy_j_high = max(high, figures.energy_j)
    return figures
