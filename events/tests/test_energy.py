"""The arithmetic of energy: exact cases, edges, gaps, counters, coverage."""

from __future__ import annotations

import pytest

from collectors.simulators.profile import PowerProfile
from events import energy


def sampled(profile: PowerProfile, start: float, end: float, every: float, phase: float = 0.3):
    t = start + phase
    rows = []
    while t <= end:
        rows.append((t, profile.watts_at(t), None))
        t += every
    return rows


def test_constant_power_gives_power_times_duration() -> None:
    rows = [(float(t), 200.0, None) for t in range(0, 101)]
    fig = energy.integrate(rows, 10.0, 70.0, poll_interval=1)
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
        fig = energy.integrate(rows, a, a + 10, poll_interval=1)
        assert fig.energy_j == pytest.approx(truth, rel=0.01), (a, fig.energy_j, truth)


def test_noise_and_unaligned_polls_stay_within_one_percent_over_ten_intervals() -> None:
    profile = PowerProfile([(30, 250), (30, 400)], refresh=1, noise=20, seed=3, epoch=0.0)
    rows = sampled(profile, -10, 80, every=1.0, phase=0.41)
    truth = profile.energy_j(30, 60)
    assert energy.integrate(rows, 30, 60, 1).energy_j == pytest.approx(truth, rel=0.01)


def test_a_counter_replaces_the_trapezoid_when_every_sample_has_one() -> None:
    rows = [(float(t), 100.0, 1000.0 + 150.0 * t) for t in range(0, 11)]
    fig = energy.integrate(rows, 0.0, 10.0, 1)
    assert fig.method == "counter"
    assert fig.energy_j == pytest.approx(1500.0)


def test_a_counter_that_went_back_falls_back_to_the_trapezoid() -> None:
    rows = [(0.0, 100.0, 5000.0), (1.0, 100.0, 10.0), (2.0, 100.0, 110.0)]
    assert energy.integrate(rows, 0.0, 2.0, 1).method == "trapezoid"


def test_a_gap_lowers_coverage_and_is_reported() -> None:
    rows = [(float(t), 100.0, None) for t in [0, 1, 2, 3, 10, 11, 12]]
    fig = energy.integrate(rows, 0.0, 12.0, poll_interval=1)
    assert fig.largest_gap_s == 7
    assert fig.coverage == pytest.approx(7 / 12)


def test_no_samples_means_no_energy_and_zero_coverage_not_a_division_by_zero() -> None:
    fig = energy.integrate([], 0.0, 10.0, 1)
    assert fig.sample_count == 0
    assert fig.coverage == 0
    assert fig.mean_w is None
    assert fig.method == "none"


def test_an_interval_between_two_samples_is_interpolated_and_says_so() -> None:
    rows = [(0.0, 100.0, None), (1.0, 200.0, None)]
    fig = energy.integrate(rows, 0.25, 0.75, poll_interval=1)
    assert fig.energy_j == pytest.approx(150 * 0.5)
    assert fig.method == "interpolated"
    assert fig.warnings


def test_peak_of_sum_holds_each_server_between_its_samples() -> None:
    a = [(0.0, 100.0, None), (2.0, 300.0, None)]
    b = [(1.0, 50.0, None), (3.0, 10.0, None)]
    assert energy.peak_of_sum([a, b], 0, 3) == 350.0


def test_median() -> None:
    assert energy.median([3, 1, 2]) == 2
    assert energy.median([4, 1, 2, 3]) == 2.5
    assert energy.median([]) is None
