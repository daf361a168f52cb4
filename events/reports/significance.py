"""Two sets of runs compared: is the difference of their means real, and how large is it?

CI runs of one scenario are few (3 to 10) and noisy, and two sets rarely have the same spread
(a change can make a step steadier as well as costlier), so the test is Welch's t-test, which
does not assume equal variances: ``scipy.stats.ttest_ind(equal_var=False)``, two-sided, with
its confidence interval of the difference. The effect size is Hedges' g (Cohen's d on the
pooled standard deviation, corrected for small samples), so that "significant" can be told
apart from "large".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

DEFAULT_THRESHOLD_PCT = 5.0  # a regression is significant AND this much costlier
DEFAULT_ALPHA = 0.05
TEST_NAME = "Welch's t-test (two-sided, scipy.stats.ttest_ind with equal_var=False)"


@dataclass(frozen=True)
class Difference:
    """Set B against set A (B - A): B is the change, A the reference."""

    difference: float | None
    difference_pct: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    effect_size: float | None


def is_regression(
    diff: Difference, threshold_pct: float = DEFAULT_THRESHOLD_PCT, alpha: float = DEFAULT_ALPHA
) -> bool:
    """Significant (p < ``alpha``) and more than ``threshold_pct`` costlier: the one rule of a
    regression, for two sets of runs and for a run against the runs before it alike."""
    return (
        diff.p_value is not None
        and diff.p_value < alpha
        and diff.difference_pct is not None
        and diff.difference_pct > threshold_pct
    )


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """Runs, mean, sample standard deviation, min and max of one set."""
    return {
        "runs": len(values),
        "mean": statistics.fmean(values) if values else None,
        "stdev": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
    }


def _one_run(
    a: Sequence[float], b: Sequence[float], diff: float, pct: float | None, confidence: float
) -> Difference:
    """One run against a set (a CI job's run against its branch's history): is it outside the
    set's prediction interval? t = diff / (s * sqrt(1 + 1/n)) on n - 1 degrees of freedom, s and
    n the set's; the effect size is the difference in the set's standard deviations."""
    sample = a if len(a) > 1 else b
    spread = statistics.stdev(sample)
    if spread == 0:
        return Difference(diff, pct, diff, diff, 0.0 if diff else 1.0, None)
    scale = spread * math.sqrt(1 + 1 / len(sample))
    freedom = len(sample) - 1
    margin = float(stats.t.ppf((1 + confidence) / 2, freedom)) * scale
    p_value = float(2 * stats.t.sf(abs(diff) / scale, freedom))
    return Difference(diff, pct, diff - margin, diff + margin, p_value, diff / spread)


def compare(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference:
    """Welch's t-test of B against A (one run against a set: see :func:`_one_run`); each
    figure is None when it cannot be had (one run on each side, or a mean of zero for the
    percentage)."""
    if not a or not b:
        return Difference(None, None, None, None, None, None)
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    diff = mean_b - mean_a
    pct = diff / mean_a * 100 if mean_a else None
    if len(a) < 2 and len(b) < 2:
        return Difference(diff, pct, None, None, None, None)
    if len(a) < 2 or len(b) < 2:
        return _one_run(a, b, diff, pct, confidence)
    var_a, var_b = statistics.variance(a), statistics.variance(b)
    if var_a == 0 and var_b == 0:
        # No spread at all (a simulator's constant power): any difference is certain.
        return Difference(diff, pct, diff, diff, 0.0 if diff else 1.0, None)
    result = stats.ttest_ind(b, a, equal_var=False)
    interval = result.confidence_interval(confidence)
    pooled = math.sqrt(((len(a) - 1) * var_a + (len(b) - 1) * var_b) / (len(a) + len(b) - 2))
    correction = 1 - 3 / (4 * (len(a) + len(b)) - 9)
    return Difference(
        diff,
        pct,
        float(interval.low),
        float(interval.high),
        float(result.pvalue),
        diff / pooled * correction if pooled else None,
    )
