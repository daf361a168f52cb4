"""The arithmetic of the history pages and the writer's record of what it wrote: no service."""

from __future__ import annotations

import datetime as dt

import pytest

from events.ingest.buffer import Entry, Sample
from events.ingest.writer import _add_spans
from events.reports.history import RunEnergy, Spread, spreads, step_names
from events.reports.run_filters import _moment


def test_a_spread_uses_the_sample_standard_deviation_of_the_known_values() -> None:
    spread = Spread.of([10.0, None, 12.0, 14.0, float("nan")])
    assert (spread.runs, spread.mean, spread.low, spread.high) == (3, 12.0, 10.0, 14.0)
    assert spread.stdev == pytest.approx(2.0)
    assert spread.cv_pct == pytest.approx(16.7)


def test_a_spread_of_one_run_has_no_deviation_and_of_none_no_figures() -> None:
    assert Spread.of([5.0]).stdev is None
    assert Spread.of([5.0]).cv is None
    assert Spread.of([None]) == Spread(0, None, None, None, None, None)


def run(run_id: int, steps: dict[str, float | None]) -> RunEnergy:
    return RunEnergy(
        run_id, "p", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "", "", False, 1.0, 1.0, None, steps
    )


def test_step_names_come_in_the_order_runs_first_show_them() -> None:
    runs = [run(1, {"boot": 1.0, "load": 2.0}), run(2, {"boot": 1.0, "warm": 3.0, "load": 2.0})]
    assert step_names(runs) == ["boot", "load", "warm"]
    assert spreads(runs, step_names(runs))["warm"].runs == 1


def test_a_run_is_labelled_by_its_commit_or_its_id() -> None:
    assert run(7, {}).label == "#7"
    labelled = run(7, {})
    labelled.commit = "0123456789abcdef"
    assert labelled.label == "01234567"


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("2026-12-01", False, dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
        ("2026-12-01", True, dt.datetime(2026, 12, 2, tzinfo=dt.UTC)),
        ("2026-12-01T08:30:00Z", True, dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.UTC)),
        ("2026-12-01T08:30", False, dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.UTC)),
        ("2026-02-31", False, None),
        ("yesterday", False, None),
    ],
)
def test_a_time_filter_reads_dates_and_iso_times_in_utc(
    text: str, end_of_day: bool, expected: dt.datetime | None
) -> None:
    assert _moment(text, end_of_day=end_of_day) == expected


def test_the_writer_records_the_first_and_last_time_it_wrote_per_pod() -> None:
    entries = [
        Entry("1-0", [Sample("a", "s", 1.0, 50, "t"), Sample("b", "s", 1.0, 7, "t")]),
        Entry("2-0", [Sample("a", "s", 1.0, 20, "t"), Sample("a", "s", 1.0, 90, "t")]),
    ]
    spans: dict[str, tuple[int, int]] = {}
    _add_spans(spans, entries)
    assert spans == {"a": (20, 90), "b": (7, 7)}
