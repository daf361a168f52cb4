"""Which time before a run counts as idle: no run of the pod running, settled after each."""

from __future__ import annotations

import datetime as dt

from events.reports.idle import idle_stretches

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def spans(*pairs: tuple[float, float]) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(at(a), at(b)) for a, b in pairs]


WINDOW = dt.timedelta(seconds=300)


def test_a_pod_with_no_run_before_is_idle_over_the_window_just_before_the_run() -> None:
    assert idle_stretches([], at(0), WINDOW, at(-3600)) == spans((-300, 0))


def test_a_run_just_before_pushes_the_window_back_before_it() -> None:
    # The previous run ran from -400 to -1, settled 30 s later (busy until +29).
    assert idle_stretches(spans((-400, 29)), at(0), WINDOW, at(-3600)) == spans((-700, -400))


def test_idle_is_gathered_from_several_gaps_between_runs_latest_first() -> None:
    busy = spans((-100, -20), (-400, -200), (-250, -150))
    assert idle_stretches(busy, at(0), WINDOW, at(-3600)) == spans(
        (-20, 0), (-150, -100), (-630, -400)
    )


def test_a_run_still_running_leaves_no_idle_time() -> None:
    assert idle_stretches(spans((-5000, 0)), at(0), WINDOW, at(-3600)) == []


def test_the_lookback_limits_how_far_back_idle_is_sought() -> None:
    assert idle_stretches(spans((-3500, 0)), at(0), WINDOW, at(-3600)) == spans((-3600, -3500))
