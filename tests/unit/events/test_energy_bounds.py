"""Error bounds of a step's energy over sample-and-hold BMCs (events.reports.bounds).

The simulated BMCs here are closer to real ones than the simulators' profiles: the true power
changes at any moment (at step edges and inside steps), and the BMC reports the power of its
last refresh, taken every ``refresh`` seconds at a phase of its own, so a reading is up to a
refresh period old and a change can go unseen until the next refresh.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

import numpy as np
import pytest

from collectors.simulators.profile import PowerProfile
from events.reports import bounds, energy


@dataclass
class Truth:
    """A piecewise-constant true power: ``watts[i]`` from ``changes[i]`` on."""

    changes: list[float]
    watts: list[float]

    def at(self, t: float) -> float:
        return self.watts[max(0, bisect.bisect_right(self.changes, t) - 1)]

    def energy(self, start: float, end: float) -> float:
        edges = [start, *(c for c in self.changes if start < c < end), end]
        return sum(self.at(a) * (b - a) for a, b in itertools.pairwise(edges))


def lab(
    rng: random.Random, steps: int, shortest: float = 5.0
) -> tuple[Truth, list[tuple[float, float]]]:
    """Steps of 30-120 s, the power changing at each edge and up to three times inside, each
    level lasting at least ``shortest`` seconds."""
    changes, watts, spans = [0.0], [rng.uniform(150, 250)], []
    t = 60.0  # a minute of idle first
    for _ in range(steps):
        length = rng.uniform(30, 120)
        spans.append((t, t + length))
        moments = [t]
        for _ in range(rng.randint(1, 3)):
            moment = moments[-1] + shortest + rng.uniform(0, 30)
            if moment < t + length - shortest:
                moments.append(moment)
        for moment in moments:
            changes.append(moment)
            watts.append(rng.uniform(150, 600))
        t += length
    changes.append(t)
    watts.append(200.0)
    return Truth(changes, watts), spans


def bounds_of(
    series: energy.Series, start: float, end: float, refresh: float, accuracy: float
) -> tuple[float, float]:
    found = bounds.energy_bounds(series, start, end, refresh, accuracy)
    assert found is not None
    return found


def range_of(fig: energy.Figures) -> tuple[float, float]:
    assert fig.energy_j_low is not None
    assert fig.energy_j_high is not None
    return fig.energy_j_low, fig.energy_j_high


def within(low: float, value: float, high: float) -> bool:
    # A step at one level throughout has its truth exactly at a bound: float rounding aside.
    return low * (1 - 1e-9) <= value <= high * (1 + 1e-9)


def polled(truth: Truth, end: float, refresh: float, every: float, rng: random.Random):
    """What a poller sees of a BMC that takes the power every ``refresh`` seconds and holds it."""
    phase = rng.uniform(0, refresh)
    t, times, values = rng.uniform(0, every), [], []
    while t <= end:
        last_refresh = phase + refresh * ((t - phase) // refresh)
        times.append(t)
        values.append(truth.at(last_refresh))
        t += every * rng.uniform(0.97, 1.03)  # a poller's timing is not exact
    return energy.Series(np.array(times), np.array(values))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_truth_lies_within_the_bounds_in_95_percent_of_steps_at_20_s_refresh(seed) -> None:
    # As a report computes them: the refresh period learned from the readings, IPMI's accuracy.
    rng = random.Random(seed)
    truth, spans = lab(rng, 50)
    series = polled(truth, spans[-1][1] + 120, refresh=20, every=2, rng=rng)
    timing = bounds.source_timing(series, "ipmi", cadence=2.0)
    assert timing.refresh_from == "learned"
    inside = 0
    for a, b in spans:
        low, high = bounds_of(series, a, b, timing.refresh_s, timing.accuracy)
        inside += within(low, truth.energy(a, b), high)
    assert inside >= 0.95 * len(spans)


def test_exact_readings_bound_every_step_whose_levels_last_a_refresh_period() -> None:
    # The model's own promise: no level goes unseen, no reading is off, no step outside.
    rng = random.Random(5)
    truth, spans = lab(rng, 50, shortest=20)
    series = polled(truth, spans[-1][1] + 120, refresh=20, every=2, rng=rng)
    timing = bounds.source_timing(series, "ipmi", cadence=2.0)
    for a, b in spans:
        low, high = bounds_of(series, a, b, timing.refresh_s, accuracy=0.0)
        assert within(low, truth.energy(a, b), high)


def test_at_1_s_refresh_the_estimate_stays_within_1_percent_and_inside_its_bounds() -> None:
    # Today's setting (the simulators' profiles): the power changes at the step edges, with
    # noise at each 1-s refresh, polled every second at a phase of the poller's own.
    rng = random.Random(7)
    lengths = [float(rng.randint(30, 120)) for _ in range(50)]
    profile = PowerProfile(
        [(60, 200), *((length, rng.uniform(150, 600)) for length in lengths)],
        refresh=1,
        noise=5,
        epoch=0,
    )
    edges = list(itertools.accumulate(lengths, initial=60.0))
    times = np.arange(0.37, edges[-1] + 60, 1.0)
    series = energy.Series(times, np.array([profile.watts_at(t) for t in times]))
    timing = bounds.source_timing(series, "ipmi", cadence=1.0)
    for a, b in itertools.pairwise(edges):
        envelope = bounds.Envelope(series, timing.refresh_s)
        fig = bounds.attach(energy.integrate(series, a, b, 1.0), envelope, a, b, 0.0)
        true = profile.energy_j(a, b)
        low, high = range_of(fig)
        assert fig.energy_j == pytest.approx(true, rel=0.01)
        assert within(low, true, high)
        assert low <= fig.energy_j <= high


def test_a_single_jump_gives_exactly_the_extremes_the_samples_admit() -> None:
    # Polls every 2 s see 100 W up to t=40 and 300 W from t=42; the BMC refreshes every 10 s.
    # The refresh that first showed 300 W was in (40, 42], and the power jumped at most one
    # refresh period before it: at the earliest just after 30 s, at the latest at 42 s.
    times = np.arange(0.0, 101.0, 2.0)
    series = energy.Series(times, np.where(times <= 40, 100.0, 300.0))
    low, high = bounds_of(series, 20.0, 80.0, refresh=10.0, accuracy=0.0)
    assert low == pytest.approx(100 * (42 - 20) + 300 * (80 - 42))
    assert high == pytest.approx(100 * (30 - 20) + 300 * (80 - 30))


def test_the_bounds_are_the_integral_of_the_envelope_by_definition() -> None:
    # The vectorised pieces against the model computed instant by instant on a fine grid.
    rng = random.Random(11)
    truth, spans = lab(rng, 4)
    series = polled(truth, spans[-1][1] + 60, refresh=15, every=3, rng=rng)
    t, w = series.t.tolist(), series.w.tolist()
    for a, b in spans:
        dt = 0.01
        low = high = 0.0
        for k in range(round((b - a) / dt)):
            tau = a + (k + 0.5) * dt
            first = max(0, bisect.bisect_right(t, tau) - 1)
            last = max(first, min(len(t) - 1, bisect.bisect_left(t, tau + 15)))
            low += min(w[first : last + 1]) * dt
            high += max(w[first : last + 1]) * dt
        found = bounds_of(series, a, b, 15, accuracy=0.0)
        assert found == pytest.approx((low, high), rel=1e-3)


def test_accuracy_widens_the_bounds_by_its_share() -> None:
    series = energy.Series(np.arange(0.0, 100.0), np.full(100, 200.0))
    assert bounds_of(series, 10, 20, 5, accuracy=0.05) == pytest.approx((1900, 2100))


def test_a_counter_outside_the_polls_envelope_widens_the_bounds_to_include_it() -> None:
    times = np.arange(0.0, 50.0)
    series = energy.Series(times, np.full(50, 100.0), times * 150.0)  # the counter saw 150 W
    fig = energy.integrate(series, 10, 20, 1.0)
    bounds.attach(fig, bounds.Envelope(series, 1.0), 10, 20, 0.0)
    assert fig.method == energy.METHOD_COUNTER
    assert range_of(fig) == pytest.approx((1000, 1500))


def test_the_refresh_period_is_learned_from_how_often_the_value_changes() -> None:
    rng = random.Random(3)
    truth = Truth([float(k) for k in range(600)], [rng.uniform(100, 200) for _ in range(600)])
    series = polled(truth, 600, refresh=20, every=2, rng=rng)
    learned = bounds.learned_refresh_s(series)
    assert learned is not None
    assert 20 <= learned <= 24


def test_a_stated_refresh_and_accuracy_win_and_a_flat_reading_takes_the_protocols() -> None:
    flat = energy.Series(np.arange(0.0, 100.0), np.full(100, 200.0))
    stated = bounds.source_timing(flat, "ipmi", 1.0, refresh_s=12, accuracy_pct=1.5)
    assert (stated.refresh_s, stated.accuracy) == (12, 0.015)
    assert (stated.refresh_from, stated.accuracy_from) == ("configured", "configured")
    default = bounds.source_timing(flat, "redfish", 1.0)
    assert (default.refresh_from, default.accuracy_from) == ("default", "default")
    assert default.refresh_s == bounds.DEFAULT_REFRESH_S["redfish"]


def test_bounds_of_steps_add_up_to_the_bounds_of_their_total() -> None:
    series = energy.Series(np.arange(0.0, 100.0), np.linspace(100, 300, 100))
    pieces = [
        bounds.attach(energy.integrate(series, a, b, 1.0), bounds.Envelope(series, 5.0), a, b, 0.02)
        for a, b in [(10, 30), (30, 55)]
    ]
    whole = energy.combine(pieces, 45)
    low, high = range_of(whole)
    assert low == pytest.approx(sum(range_of(p)[0] for p in pieces))
    assert high == pytest.approx(sum(range_of(p)[1] for p in pieces))
    assert range_of(energy.total([whole, whole], 45)) == pytest.approx((2 * low, 2 * high))
