"""Energy of one server over one interval, from its power samples: the arithmetic of reports.

Pure functions over sorted ``(t_seconds, watts, counter_j | None)`` samples, no I/O.

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
  between the first and last inside sample replaces the trapezoid there (``method: counter``).
Only time within one poll interval of a sample counts as covered; the rest of the interval is
estimated all the same, and its share is stated as ``coverage`` so nobody mistakes a guess for a
measurement.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

Sample = tuple[float, float, float | None]  # (t seconds, watts, counter joules or None)

METHOD_TRAPEZOID = "trapezoid"
METHOD_COUNTER = "counter"
METHOD_INTERPOLATED = "interpolated"
METHOD_NONE = "none"


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


def _covered(times: Sequence[float], start: float, end: float, reach: float) -> float:
    """Length of [start, end] within ``reach`` of any time in ``times`` (sorted)."""
    covered = 0.0
    cursor = start
    for t in times:
        lo, hi = max(cursor, t - reach), min(end, t + reach)
        if hi > lo:
            covered += hi - lo
            cursor = hi
    return covered


def _value_at(samples: Sequence[Sample], t: float) -> float | None:
    """Linear interpolation of watts at t between the samples around it."""
    times = [s[0] for s in samples]
    i = bisect.bisect_left(times, t)
    if i == 0 or i == len(samples):
        return None
    (t0, w0, _), (t1, w1, _) = samples[i - 1], samples[i]
    return w0 if t1 == t0 else w0 + (w1 - w0) * (t - t0) / (t1 - t0)


def integrate(samples: Sequence[Sample], start: float, end: float, poll_interval: float) -> Figures:
    """Energy of one server over [start, end] from its samples (all of them, sorted by time)."""
    figures = Figures(duration_s=max(0.0, end - start))
    if end <= start:
        return figures
    times = [s[0] for s in samples]
    lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
    inside = samples[lo:hi]
    figures.sample_count = len(inside)
    if not inside:
        figures.largest_gap_s = figures.duration_s
        before = samples[lo - 1] if lo > 0 else None
        after = samples[hi] if hi < len(samples) else None
        if before and after and after[0] - before[0] <= 2 * poll_interval:
            a, b = _value_at(samples, start), _value_at(samples, end)
            assert a is not None
            assert b is not None
            figures.energy_j = (a + b) / 2 * figures.duration_s
            figures.peak_w = max(a, b)
            figures.method = METHOD_INTERPOLATED
            figures.covered_s = _covered([before[0], after[0]], start, end, poll_interval)
            figures.warnings.append(
                "no sample inside the interval: interpolated between the samples around it"
            )
        return figures

    first, last = inside[0], inside[-1]
    edges = first[1] * (first[0] - start) + last[1] * (end - last[0])
    counters = [s[2] for s in inside]
    if len(inside) >= 2 and all(c is not None for c in counters):
        span = float(counters[-1]) - float(counters[0])  # type: ignore[arg-type]
        if span >= 0:  # a counter that went back was reset: fall back to the trapezoid
            figures.energy_j = span + edges
            figures.method = METHOD_COUNTER
    if figures.method == METHOD_NONE:
        trapezoid = sum(
            (w0 + w1) / 2 * (t1 - t0) for (t0, w0, _), (t1, w1, _) in itertools.pairwise(inside)
        )
        figures.energy_j = trapezoid + edges
        figures.method = METHOD_TRAPEZOID
    figures.peak_w = max(s[1] for s in inside)
    figures.covered_s = _covered([s[0] for s in inside], start, end, poll_interval)
    gaps = [first[0] - start, end - last[0]]
    gaps += [t1 - t0 for t0, t1 in zip(times[lo:hi], times[lo + 1 : hi], strict=False)]
    figures.largest_gap_s = max(gaps)
    return figures


def integrate_pieces(
    samples: Sequence[Sample], edges: Sequence[float], poll_interval: float
) -> Figures:
    """Energy over [edges[0], edges[-1]] as the sum of its pieces between consecutive edges.

    A run's total is the sum of its steps (and of the time between them), each piece
    integrated as a step is, so that the total always equals the sum of the parts.
    """
    pieces = [integrate(samples, a, b, poll_interval) for a, b in itertools.pairwise(edges)]
    figures = Figures(duration_s=max(0.0, edges[-1] - edges[0]) if edges else 0.0)
    measured = [p for p in pieces if p.method != METHOD_NONE]
    if not measured:
        figures.largest_gap_s = figures.duration_s
        return figures
    figures.energy_j = sum(p.energy_j for p in measured)
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
    bound; :func:`peak_of_sum` gives the real one when samples are at hand)."""
    figures = Figures(duration_s=duration_s)
    if not per_server:
        return figures
    figures.energy_j = sum(f.energy_j for f in per_server)
    figures.sample_count = sum(f.sample_count for f in per_server)
    # Coverage of a sum is as good as its worst part.
    figures.covered_s = min(f.covered_s for f in per_server)
    figures.largest_gap_s = max(f.largest_gap_s for f in per_server)
    methods = {f.method for f in per_server if f.method != METHOD_NONE}
    figures.method = methods.pop() if len(methods) == 1 else ("mixed" if methods else METHOD_NONE)
    return figures


def peak_of_sum(series: Sequence[Sequence[Sample]], start: float, end: float) -> float | None:
    """Highest total power at any sample time in [start, end], each server holding its last
    value between its own samples."""
    events: list[tuple[float, int, float]] = []
    for index, samples in enumerate(series):
        events.extend((t, index, w) for t, w, _ in samples if start <= t <= end)
    if not events:
        return None
    events.sort()
    current: dict[int, float] = {}
    running = 0.0
    peak = -math.inf
    for _t, index, watts in events:
        running += watts - current.get(index, 0.0)
        current[index] = watts
        peak = max(peak, running)
    return peak


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
