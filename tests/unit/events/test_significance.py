"""Welch's t-test of two sets of runs: the figures a comparison shows."""

from __future__ import annotations

import pytest

from events.reports import comparison
from events.reports.significance import compare, summary

A = [100.0, 101.0, 99.0, 100.5, 99.5]


def test_a_ten_percent_step_is_significant_with_its_interval_and_effect() -> None:
    diff = compare(A, [x * 1.1 for x in A])
    assert diff.difference == pytest.approx(10.0)
    assert diff.difference_pct == pytest.approx(10.0)
    assert (diff.p_value or 1.0) < 1e-6
    assert 0 < (diff.ci_low or 0.0) < 10 < (diff.ci_high or 0.0)
    assert (diff.effect_size or 0.0) > 2


def test_welch_matches_the_textbook_degrees_of_freedom() -> None:
    # By hand: variances 3.5 (n 6) and 16 (n 3), t = 5.5 / sqrt(3.5/6 + 16/3) = 2.261 on
    # Welch-Satterthwaite's 2.45 degrees of freedom: p = 0.129 (Student's pooled test: 0.022).
    diff = compare([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [5.0, 9.0, 13.0])
    assert diff.p_value == pytest.approx(0.1286, abs=1e-3)


def test_one_run_is_tested_against_the_prediction_interval_of_the_set() -> None:
    # s = 0.7906, n = 5: t = 10 / (0.7906 * sqrt(1.2)) = 11.55 on 4 degrees of freedom.
    diff = compare(A, [110.0])
    assert diff.difference == pytest.approx(10.0)
    assert diff.p_value == pytest.approx(3.2e-4, rel=0.05)
    assert (diff.ci_low or 0.0) > 0
    assert compare(A, [100.8]).p_value == pytest.approx(0.408, abs=0.002)  # t = 0.924
    assert compare([110.0], A).difference == pytest.approx(-10.0)


def test_one_run_on_each_side_gives_a_difference_but_no_test() -> None:
    diff = compare([100.0], [110.0])
    assert diff.difference == pytest.approx(10.0)
    assert (diff.p_value, diff.ci_low, diff.effect_size) == (None, None, None)


def test_runs_without_spread_differ_for_certain() -> None:
    assert compare([5.0, 5.0], [6.0, 6.0]).p_value == 0.0
    assert compare([5.0, 5.0], [5.0, 5.0]).p_value == 1.0


def test_a_summary_has_the_sample_standard_deviation() -> None:
    assert summary([1.0, 3.0]) == {
        "runs": 2,
        "mean": 2.0,
        "stdev": pytest.approx(1.4142, 1e-4),
        "min": 1.0,
        "max": 3.0,
    }
    assert summary([])["mean"] is None


@pytest.mark.parametrize(
    "text", ["main", "branch:", "last:x", "last:101", "runs:", "runs:1,,2", "tag:x"]
)
def test_a_set_is_branch_last_or_runs(text: str) -> None:
    with pytest.raises(comparison.BadSet):
        comparison.parse_set(text)


def test_sets_read_back_as_written() -> None:
    for text in ("branch:feature/x ⚡", "last:5", "runs:3,1,2"):
        assert str(comparison.parse_set(text)) == text
