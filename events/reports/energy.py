"""Energy of one server over one interval, from its power samples: the arithmetic of reports.

Pure functions, no I/O, over one server's samples sorted by time, one per instant, as a
:class:`Series` (numpy arrays: a report of 100 servers over an hour integrates 390,000 samples).
Times here are float seconds since the epoch: arithmetic, not identity; a sample's exact time is
its integer nanoseconds (microseconds in InfluxDB), and :mod:`events.reports.report` turns them
into seconds only to integrate.

How a step's energy is estimated, and why:
- Between two samples inside the interval, the trapezoid (linear interpolation).
- At the interval's edges, from the first sample inside to the start and from the last sample
  inside to the end, the nearest inside sample's power is held. BMCs report a value they hold
  for their refresh period, and a step's work is what changes the power, so the power changes at
  the step's edge, not somewhere on a line drawn to the previous step's samples: interpolating
  across the edge smears one step's power into the next (we measured ``ΔP·T/6`` of error on
  average, and up to ``ΔP·T/2``, per edge; holding the inside value is exact when the power
  changes at the edge).
- An interval with no sample inside it (shorter than a poll interval) is interpolated linearly
  between the samples around it, and says so in its warnings.
- Where every sample inside carries the BMC's cumulative energy counter, the counter's difference
  between the first and last inside sample replaces the trapezoid there (``method: counter``),
  unless one step of the counter (:meth:`Series.counter_step`) is over 1 % of that difference.
Only time within one poll interval of a sample counts as covered; the rest of the interval is
estimated all the same, and its share is stated as ``coverage`` so nobody mistakes a guess for a
measurement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

METHOD_TRAPEZOID = "trapezoid"
METHOD_COUNTER = "counter"
METHOD_INTERPOLATED = "interpolated"
METHOD_NONE = "none"
# A counter's difference is used only when one step of the counter is at most this share of it
# (Redfish's EnergykWh comes in kWh: 0.001 kWh is 3,600 J, a few seconds of a busy server).
COUNTER_MAX_ERROR = 0.01


class Series:
    """One server's samples as arrays, sorted by time, one sample per instant: ``t`` in
    seconds, ``w`` in watts, ``e`` the energy counter in joules (NaN where a sample has none),
    or ``None`` when no sample has one. Treat the arrays as read-only."""

    __slots__ = ("_counter_step", "e", "t", "w")

    def __init__(self, t: FloatArray, w: FloatArray, e: FloatArray | None = None) -> None:
        self.t = t
        self.w = w
        self.e = e
        self._counter_step: float | None = None

    def __len__(self) -> int:
        return len(self.t)

    def counter_step(self) -> float:
        """The energy counter's resolution as its readings show it, in joules: its smallest
        rise, when it also stood still between two polls while power was drawn (it moves in
        steps that coarse, or is held that long); 0 when it never stood still (finer than the
        polls can tell)."""
        if self._counter_step is None:
            self._counter_step = 0.0
            if self.e is not None and len(self.e) >= 2:
                rise = np.diff(self.e)
                drawn = (self.w[1:] > 0) & ~np.isnan(rise)
                if (drawn & (rise == 0)).any() and (drawn & (rise > 0)).any():
                    self._counter_step = float(rise[drawn & (rise > 0)].min())
        return self._counter_step


@dataclass
class Figures:
    """Energy and power figures of one server (or a sum of servers) over one interval."""

    energy_j: float = 0.0
    duration_s: float = 0.0
    peak_w: float | None = None
    sample_count: int = 0
    covered_s: float = 0.0
    largest_gap_s: float = 0.0
    method: str = METHOD_NONE
    warnings: list[str] = field(default_factory=list)
    # The range the true energy lies in (events.reports.bounds); None: not known.
    energy_j_low: float | None = None
    energy_j_high: float | None = None

    @property
    def energy_wh(self) -> float:
        return self.energy_j / 3600.0

    @property
    def mean_w(self) -> float | None:
        return (
            self.energy_j / self.duration_s if self.duration_s > 0 and self.sample_count else None
        )

    @property
    def coverage(self) -> float:
        """Share (0..1) of the interval within one poll interval of a sample."""
        return min(1.0, self.covered_s / self.duration_s) if self.duration_s > 0 else 0.0


def _covered(times: FloatArray, start: float, end: float, reach: float) -> float:
    """Length of [start, end] within ``reach`` of any time in ``times`` (sorted).

    Each time covers [t - reach, t + reach] cut to [start, end]; as the times are sorted, the
    part not covered already by the times before it starts at the previous time's reach.
    """
    hi = np.minimum(times + reach, end)
    cursor = np.empty_like(hi)
    cursor[0] = start
    np.maximum(hi[:-1], start, out=cursor[1:])
    lo = np.maximum(times - reach, cursor)
    return float(np.maximum(hi - lo, 0.0).sum())


def _lerp(t0: float, w0: float, t1: float, w1: float, t: float) -> float:
    return w0 if t1 == t0 else w0 + (w1 - w0) * (t - t0) / (t1 - t0)


def integrate(series: Series, start: float, end: float, poll_interval: float) -> Figures:
    """Energy of one server over [start, end] from its samples (all of them, sorted by time)."""
    figures = Figures(duration_s=max(0.0, end - start))
    if end <= start:
        return figures
    t, w = series.t, series.w
    lo = int(np.searchsorted(t, start, "left"))
    hi = int(np.searchsorted(t, end, "right"))
    count = hi - lo
    figures.sample_count = count
    if not count:
        figures.largest_gap_s = figures.duration_s
        if 0 < lo < len(t) and t[hi] - t[lo - 1] <= 2 * poll_interval:
            t0, w0, t1, w1 = float(t[lo - 1]), float(w[lo - 1]), float(t[hi]), float(w[hi])
            a, b = _lerp(t0, w0, t1, w1, start), _lerp(t0, w0, t1, w1, end)
            figures.energy_j = (a + b) / 2 * figures.duration_s
            figures.peak_w = max(a, b)
            figures.method = METHOD_INTERPOLATED
            figures.covered_s = _covered(t[lo - 1 : hi + 1], start, end, poll_interval)
            figures.warnings.append(
                "no sample inside the interval: interpolated between the samples around it"
            )
        return figures

    times, watts = t[lo:hi], w[lo:hi]
    first_t, last_t = float(times[0]), float(times[-1])
    edges = float(watts[0]) * (first_t - start) + float(watts[-1]) * (end - last_t)
    steps = np.diff(times)
    if count >= 2 and series.e is not None:
        counters = series.e[lo:hi]
        if not np.isnan(counters).any():
            span = float(counters[-1]) - float(counters[0])
            step = series.counter_step()
            if span < 0:
                pass  # a counter that went back was reset: fall back to the trapezoid
            elif step > COUNTER_MAX_ERROR * span:
                # Each end of the difference is off by up to one step of the counter.
                figures.warnings.append(
                    f"energy counter too coarse here (steps of {step:.4g} J against "
                    f"{span:.4g} J): trapezoid used"
                )
            else:
                figures.energy_j = span + edges
                figures.method = METHOD_COUNTER
    if figures.method == METHOD_NONE:
        # Absurd powers (stored before inputs were bounded) may overflow to inf: the report
        # turns that into "unknown" with a warning, so numpy need not warn as well.
        with np.errstate(over="ignore"):
            trapezoid = float(np.dot(watts[:-1] + watts[1:], steps)) / 2
        figures.energy_j = trapezoid + edges
        figures.method = METHOD_TRAPEZOID
    figures.peak_w = float(watts.max())
    figures.covered_s = _covered(times, start, end, poll_interval)
    gap = max(first_t - start, end - last_t)
    figures.largest_gap_s = max(gap, float(steps.max())) if count >= 2 else gap
    return figures


def _summed_bounds(parts: Sequence[Figures]) -> tuple[float | None, float | None]:
    """Bounds of a sum: the sums of the bounds, unknown if one part's is."""
    lows = [p.energy_j_low for p in parts]
    highs = [p.energy_j_high for p in parts]
    if not parts or None in lows or None in highs:
        return None, None
    return sum(x for x in lows if x is not None), sum(x for x in highs if x is not None)


def combine(pieces: Sequence[Figures], duration_s: float) -> Figures:
    """The figures of consecutive intervals (pieces of ``duration_s``) taken as one."""
    figures = Figures(duration_s=max(0.0, duration_s))
    measured = [p for p in pieces if p.method != METHOD_NONE]
    if not measured:
        figures.largest_gap_s = figures.duration_s
        return figures
    figures.energy_j = sum(p.energy_j for p in measured)
    figures.energy_j_low, figures.energy_j_high = _summed_bounds(pieces)
    figures.sample_count = sum(p.sample_count for p in pieces)
    figures.covered_s = sum(p.covered_s for p in pieces)
    figures.peak_w = max(p.peak_w for p in measured if p.peak_w is not None)
    figures.largest_gap_s = max(p.largest_gap_s for p in pieces)
    methods = {p.method for p in measured}
    figures.method = methods.pop() if len(methods) == 1 else "mixed"
    figures.warnings = sorted({w for p in pieces for w in p.warnings})
    return figures


def total(per_server: Sequence[Figures], duration_s: float) -> Figures:
    """The sum over servers of one interval (peak: the sum of the servers' peaks is an upper
    bound; :class:`PowerSum` gives the real one when samples are at hand)."""
    figures = Figures(duration_s=duration_s)
    if not per_server:
        return figures
    figures.energy_j = sum(f.energy_j for f in per_server)
    figures.energy_j_low, figures.energy_j_high = _summed_bounds(per_server)
    figures.sample_count = sum(f.sample_count for f in per_server)
    # Coverage of a sum is as good as its worst part.
    figures.covered_s = min(f.covered_s for f in per_server)
    figures.largest_gap_s = max(f.largest_gap_s for f in per_server)
    methods = {f.method for f in per_server if f.method != METHOD_NONE}
    figures.method = methods.pop() if len(methods) == 1 else ("mixed" if methods else METHOD_NONE)
    return figures


class PowerSum:
    """The total power of several servers, each holding its last value between its own
    samples: every sample of every server in time order (ties in the order of ``series``),
    sorted once, for the peak of any number of intervals."""

    def __init__(self, series: Sequence[Series]) -> None:
        parts = [s for s in series if len(s)]
        if not parts:
            self.t = self.w = self.prev_t = self.prev_w = np.empty(0)
            return
        t = np.concatenate([s.t for s in parts])
        w = np.concatenate([s.w for s in parts])
        # Each sample's predecessor on its own server (none before the first: -inf, 0 W).
        prev_t = np.concatenate([np.concatenate(([-math.inf], s.t[:-1])) for s in parts])
        prev_w = np.concatenate([np.concatenate(([0.0], s.w[:-1])) for s in parts])
        order = np.argsort(t, kind="stable")
        self.t, self.w, self.prev_t, self.prev_w = t[order], w[order], prev_t[order], prev_w[order]

    def peak(self, start: float, end: float) -> float | None:
        """Highest total power at any sample time in [start, end], counting only samples in
        [start, end] (a server not sampled yet in the interval adds nothing)."""
        lo = int(np.searchsorted(self.t, start, "left"))
        hi = int(np.searchsorted(self.t, end, "right"))
        if lo == hi:
            return None
        held = np.where(self.prev_t[lo:hi] >= start, self.prev_w[lo:hi], 0.0)
        # The running sum after each sample: it replaces its server's previous value.
        return float(np.cumsum(self.w[lo:hi] - held).max())
