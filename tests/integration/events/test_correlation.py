"""Correlator.span: the writer's shortcut agrees with Correlator.at over its whole span."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from collectors.models import Pod
from events.ingest.correlation import Correlator
from events.models import Run, Step

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 25, 10, 0, 0, tzinfo=dt.UTC)


def ns(seconds: float) -> int:
    return int((T0.timestamp() + seconds) * 1_000_000) * 1000


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("seed", range(8))
def test_at_is_constant_over_each_span(seed: int) -> None:
    rng = random.Random(seed)
    pods = ["a", "b", "c"]
    for name in pods:
        pod = Pod.objects.create(name=name)
        # Overlapping runs, an open run, steps with gaps between them and an open last step.
        open_run = False
        for r in range(rng.randint(0, 4)):
            start = rng.uniform(-50, 150)
            end = None if not open_run and rng.random() < 0.3 else start + rng.uniform(0, 80)
            open_run = open_run or end is None
            run = Run.objects.create(
                pod=pod,
                scenario=f"s{r}",
                started_at=at(start),
                ended_at=None if end is None else at(end),
            )
            t = start + rng.uniform(-5, 5)
            for k in range(rng.randint(0, 6)):
                step_end = None if rng.random() < 0.2 else t + rng.uniform(0, 15)
                Step.objects.create(
                    run=run,
                    name=f"step {k}",
                    started_at=at(t),
                    ended_at=None if step_end is None else at(step_end),
                )
                if step_end is None:
                    break
                t = step_end + rng.uniform(-3, 10)
    correlator = Correlator.for_window([*pods, "none"], ns(-100), ns(300))
    far = 2**62
    for _ in range(2000):
        pod = rng.choice([*pods, "none"])
        t = ns(rng.uniform(-60, 250)) + rng.choice([0, 1, 999])
        lo, hi, tags = correlator.span(pod, t)
        assert lo <= t < hi
        assert correlator.at(pod, t) == tags
        for u in (lo, hi - 1, (lo + hi) // 2, t - 1, t + 1):
            if -far < u < far and lo <= u < hi:
                assert correlator.at(pod, u) == tags, (pod, t, u, lo, hi)
