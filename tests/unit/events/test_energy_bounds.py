"""Error bounds of a step's energy over sample-and-hold BMCs (events.reports.bounds).

The simulated BMCs here (collectors.simulators.stepped) are closer to real ones than the
simulators' profiles: the true power changes at any moment (at step edges and inside steps), and
the BMC reports the power of its last refresh, taken every ``refresh`` seconds at a phase of its
own, so a reading is up to a refresh period old and a change can go unseen until the next
refresh.
"""

from __future__ import annotations

import bisect
import itertools
import random

import numpy as np
import pytest

from collectors.simulators.profile import PowerProfile
from collectors.simulators.stepped import Truth, held_polls, stepped_lab
from events.reports import bounds, energy


def bounds_of(
    series: energy.Series,
    start: float,
    end: float,
    refresh: float,
    accuracy: float,
    unseen_excursions: bool = True,
) -> tuple[float, float]:
    found = bounds.energy_bounds(series, start, end, refresh, accuracy, unseen_excursions)
    assert found is not None
    return found


def range_of(fig: energy.Figures) -> tuple[float, float]:
    assert fig.energy_j_low is not None
    assert fig.energy_j_high is not None
    return fig.energy_j_low, fig.energy_j_high


def within(low: float, value: float, high: float) -> bool:
    # A step at one level throughout has its truth exactly at a bound: float rounding aside.
    return low * (1 - 1e-9) <= value <= high * (1 + 1e-9)


def test_the_truth_lies_within_the_bounds_in_95_percent_of_steps_on_every_seed() -> None:
    # As a report computes them: the refresh period learned from the readings, IPMI's accuracy,
    # a BMC that samples and holds. Every seed, not their mean: levels shorter than the refresh
    # period that pass unseen between two refreshes made some seeds miss up to 6 steps of 50.
    for seed in range(1, 101):
        rng = random.Random(seed)
        truth, spans = stepped_lab(rng, 50)
        series = energy.Series(*held_polls(truth, spans[-1][1] + 120, refresh=20, every=2, rng=rng))
        timing = bounds.source_timing(series, "ipmi", cadence=2.0)
        assert timing.refresh_from == "learned"
        assert timing.unseen_excursions
        envelope = bounds.Envelope(series, timing.refresh_s, True, timing.accuracy)
        inside = 0
        for a, b in spans:
            low, high = envelope.bounds(a, b, timing.accuracy)
            inside += within(low, truth.energy(a, b), high)
        assert inside >= 0.95 * len(spans), f"seed {seed}: {inside} of {len(spans)} steps"


def test_a_short_level_between_two_refreshes_is_bounded_by_the_servers_limits() -> None:
    # 200 W, then 600 W for 10 s between the refreshes at 40 and 60 s (unseen), then 300 W:
    # polls every 2 s see 200 W up to 59 s and 300 W from 61 s. Between (39, 61) the envelope
    # reaches the highest reading seen (600 W, at another time) and the lowest (100 W).
    truth = Truth([0.0, 45.0, 55.0, 100.0, 140.0], [200.0, 600.0, 300.0, 600.0, 100.0])
    times = np.arange(1.0, 200.0, 2.0)
    series = energy.Series(times, np.array([truth.at(20 * (t // 20)) for t in times]))
    held = bounds.energy_bounds(series, 30, 78, 20, accuracy=0.0, unseen_excursions=False)
    low, high = bounds_of(series, 30, 78, 20, accuracy=0.0)
    assert held is not None
    assert held[1] < truth.energy(30, 78)
    assert within(low, truth.energy(30, 78), high)
    assert high == pytest.approx(held[1] + (600 - 300) * 22)  # the moved stretch at 600 W
    assert low == pytest.approx(held[0] - (200 - 100) * 22)  # and at 100 W


def test_averaged_readings_are_not_widened_to_the_limits() -> None:
    # An average saw all of its window: nothing passed between two of them unseen.
    levels = np.repeat([300.0, 100.0, 200.0, 300.0], 25)
    series = energy.Series(np.arange(0.0, 200.0, 2.0), levels)
    assert not bounds.source_timing(series, "ilo", 2.0, averaged=True).unseen_excursions
    averaged = bounds.energy_bounds(series, 60, 140, 20, 0.0, unseen_excursions=False)
    held = bounds.energy_bounds(series, 60, 140, 20, 0.0, unseen_excursions=True)
    assert averaged is not None
    assert held is not None
    assert held[0] < averaged[0]
    assert averaged[1] < held[1]


def test_exact_readings_bound_every_step_whose_levels_last_a_refresh_period() -> None:
    # The model's own promise: no level goes unseen, no reading is off, no step outside.
    rng = random.Random(5)
    truth, spans = stepped_lab(rng, 50, shortest=20)
    series = energy.Series(*held_polls(truth, spans[-1][1] + 120, refresh=20, every=2, rng=rng))
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
        envelope = bounds.Envelope(
            series, timing.refresh_s, timing.unseen_excursions, timing.accuracy
        )
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
    truth, spans = stepped_lab(rng, 4)
    series = energy.Series(*held_polls(truth, spans[-1][1] + 60, refresh=15, every=3, rng=rng))
    t, w = series.t.tolist(), series.w.tolist()
    for a, b in spans:
        dt = 0.01
        low = high = 0.0
        for k in range(round((b - a) / dt)):
            tau = a + (k + 0.5) * dt
            first = max(0, bisect.bisect_right(t, tau) - 1)
            last = max(first, min(len(t) - 1, bisect.bisect_left(t, tau + 15)))
            seen = w[first : last + 1]
            moved = max(seen) - min(seen) > 0.02 * (max(seen) + min(seen))
            low += (min(w) if moved else min(seen)) * dt
            high += (max(w) if moved else max(seen)) * dt
        envelope = bounds.Envelope(series, 15, unseen_excursions=True, accuracy=0.02)
        assert envelope.bounds(a, b, 0.0) == pytest.approx((low, high), rel=1e-3)


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
    series = energy.Series(*held_polls(truth, 600, refresh=20, every=2, rng=rng))
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
