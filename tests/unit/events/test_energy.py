"""The arithmetic of energy: exact cases, edges, gaps, counters, coverage."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from collectors.simulators.profile import PowerProfile
from events.reports import energy


def series_of(rows: list[tuple[float, float, float | None]]) -> energy.Series:
    """A series of ``(t seconds, watts, counter joules or None)`` rows, sorted by time."""
    t = np.array([r[0] for r in rows], dtype=np.float64)
    w = np.array([r[1] for r in rows], dtype=np.float64)
    if all(r[2] is None for r in rows):
        return energy.Series(t, w)
    return energy.Series(t, w, np.array([math.nan if r[2] is None else r[2] for r in rows]))


def sampled(profile: PowerProfile, start: float, end: float, every: float, phase: float = 0.3):
    t = start + phase
    rows = []
    while t <= end:
        rows.append((t, profile.watts_at(t), None))
        t += every
    return rows


def test_constant_power_gives_power_times_duration() -> None:
    rows = [(float(t), 200.0, None) for t in range(0, 101)]
    fig = energy.integrate(series_of(rows), 10.0, 70.0, poll_interval=1)
    assert fig.energy_j == pytest.approx(200 * 60)
    assert fig.mean_w == pytest.approx(200)
    assert fig.peak_w == 200
    assert fig.coverage == 1
    assert fig.method == "trapezoid"


def test_a_step_whose_power_changes_at_its_edges_is_within_one_percent() -> None:
    # Steps of ten poll intervals, power jumping at their edges: the case reports are for.
    profile = PowerProfile([(10, 200), (10, 350), (10, 120)], refresh=1, epoch=1000.0)
    rows = sampled(profile, 990, 1040, every=1.0, phase=0.73)
    for a in (1000, 1010, 1020):
        truth = profile.energy_j(a, a + 10)
        fig = energy.integrate(series_of(rows), a, a + 10, poll_interval=1)
        assert fig.energy_j == pytest.approx(truth, rel=0.01), (a, fig.energy_j, truth)


def test_noise_and_unaligned_polls_stay_within_one_percent_over_ten_intervals() -> None:
    profile = PowerProfile([(30, 250), (30, 400)], refresh=1, noise=20, seed=3, epoch=0.0)
    rows = sampled(profile, -10, 80, every=1.0, phase=0.41)
    truth = profile.energy_j(30, 60)
    assert energy.integrate(series_of(rows), 30, 60, 1).energy_j == pytest.approx(truth, rel=0.01)


def test_a_counter_replaces_the_trapezoid_when_every_sample_has_one() -> None:
    rows = [(float(t), 100.0, 1000.0 + 150.0 * t) for t in range(0, 11)]
    fig = energy.integrate(series_of(rows), 0.0, 10.0, 1)
    assert fig.method == "counter"
    assert fig.energy_j == pytest.approx(1500.0)


def test_a_counter_that_went_back_falls_back_to_the_trapezoid() -> None:
    rows = [(0.0, 100.0, 5000.0), (1.0, 100.0, 10.0), (2.0, 100.0, 110.0)]
    assert energy.integrate(series_of(rows), 0.0, 2.0, 1).method == "trapezoid"


def test_a_gap_lowers_coverage_and_is_reported() -> None:
    rows = [(float(t), 100.0, None) for t in [0, 1, 2, 3, 10, 11, 12]]
    fig = energy.integrate(series_of(rows), 0.0, 12.0, poll_interval=1)
    assert fig.largest_gap_s == 7
    assert fig.coverage == pytest.approx(7 / 12)


def test_no_samples_means_no_energy_and_zero_coverage_not_a_division_by_zero() -> None:
    fig = energy.integrate(series_of([]), 0.0, 10.0, 1)
    assert fig.sample_count == 0
    assert fig.coverage == 0
    assert fig.mean_w is None
    assert fig.method == "none"


def test_an_interval_between_two_samples_is_interpolated_and_says_so() -> None:
    rows = [(0.0, 100.0, None), (1.0, 200.0, None)]
    fig = energy.integrate(series_of(rows), 0.25, 0.75, poll_interval=1)
    assert fig.energy_j == pytest.approx(150 * 0.5)
    assert fig.method == "interpolated"
    assert fig.warnings


def test_the_peak_of_a_sum_holds_each_server_between_its_samples() -> None:
    a = series_of([(0.0, 100.0, None), (2.0, 300.0, None)])
    b = series_of([(1.0, 50.0, None), (3.0, 10.0, None)])
    assert energy.PowerSum([a, b]).peak(0, 3) == 350.0


def _covered_loop(times, start, end, reach):
    covered, cursor = 0.0, start
    for t in times:
        lo, hi = max(cursor, t - reach), min(end, t + reach)
        if hi > lo:
            covered += hi - lo
            cursor = hi
    return covered


def _peak_of_sum_loop(series, start, end):
    events = sorted(
        (t, i, w) for i, rows in enumerate(series) for t, w, _ in rows if start <= t <= end
    )
    current, running, peak = {}, 0.0, None
    for _t, i, w in events:
        running += w - current.get(i, 0.0)
        current[i] = w
        peak = running if peak is None else max(peak, running)
    return peak


def test_the_vectorised_arithmetic_agrees_with_plain_loops() -> None:
    # Coverage, gaps, trapezoid and the peak of a sum, on random uneven series, against the
    # loops they replaced (tied times across servers, gaps, intervals cutting anywhere).
    rng = random.Random(11)
    for _ in range(300):
        series = []
        for _server in range(rng.randrange(1, 4)):
            times = sorted({round(rng.uniform(0, 50), rng.choice([0, 1, 3])) for _ in range(30)})
            series.append([(t, rng.uniform(50, 400), None) for t in times])
        rows = series[0]
        start = rng.uniform(-5, 55)
        end = start + rng.choice([rng.uniform(0, 3), rng.uniform(0, 60)])
        reach = rng.choice([0.5, 1.0, 5.0])
        fig = energy.integrate(series_of(rows), start, end, reach)
        inside = [r for r in rows if start <= r[0] <= end]
        if inside:
            times = [t for t, _w, _c in inside]
            trapezoid = sum(
                (w0 + w1) / 2 * (t1 - t0) for (t0, w0, _), (t1, w1, _) in itertools.pairwise(inside)
            )
            edges = inside[0][1] * (times[0] - start) + inside[-1][1] * (end - times[-1])
            assert fig.energy_j == pytest.approx(trapezoid + edges, rel=1e-12, abs=1e-9)
            assert fig.covered_s == pytest.approx(
                _covered_loop(times, start, end, reach), rel=1e-12, abs=1e-9
            )
            gaps = [times[0] - start, end - times[-1]]
            gaps += [b - a for a, b in itertools.pairwise(times)]
            assert fig.largest_gap_s == max(gaps)
            assert fig.peak_w == max(w for _t, w, _c in inside)
        peak = energy.PowerSum([series_of(rows) for rows in series]).peak(start, end)
        assert peak == _peak_of_sum_loop(series, start, end)


def test_a_counter_too_coarse_for_the_interval_gives_way_to_the_trapezoid() -> None:
    # EnergykWh in steps of 0.001 kWh (3,600 J) at 200 W: it stands still for 18 polls in 19.
    rows = [(float(t), 200.0, 3600.0 * ((200.0 * t) // 3600)) for t in range(0, 301)]
    fig = energy.integrate(series_of(rows), 10.0, 130.0, poll_interval=1)
    assert fig.method == energy.METHOD_TRAPEZOID
    assert fig.energy_j == pytest.approx(200 * 120)
    assert any("counter too coarse" in w for w in fig.warnings)


def test_a_counter_fine_enough_for_the_interval_is_used_though_it_moves_in_steps() -> None:
    # Steps of 10 J at 200 W, polled every second: it rises at every poll but one in 21.
    rows = [(float(t), 200.0, 10.0 * ((200.0 * t + 5) // 10)) for t in range(0, 301)]
    rows[50] = (50.0, 200.0, rows[49][2])
    fig = energy.integrate(series_of(rows), 100.0, 220.0, poll_interval=1)
    assert fig.method == energy.METHOD_COUNTER
    assert fig.energy_j == pytest.approx(200 * 120, abs=20)
