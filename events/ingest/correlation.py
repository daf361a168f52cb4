"""Which run and step were running on a pod at a given time.

The writer tags each sample with the run and step running on its pod at the sample's time
(``measured_at_ns``), read from the database when the sample leaves the buffer (after the
correlation delay, so that events sent a little after the samples they cover are already in).
Reports do not use these tags: they select samples by server and time, so an event later than
the delay still gives a correct report; the tags serve Grafana and ad-hoc queries.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from energylab.timestamps import from_ns, to_ns
from events.models import Run

_FAR_FUTURE_NS = 2**63 - 1
_FAR_PAST_NS = -(2**63)


@dataclass(frozen=True, slots=True)
class RunTags:
    run_id: int
    scenario: str
    step: str | None


# One run as plain data: [start, end, run id, scenario, [step start], [[step end, step name]]]
# (times in ns, steps in time order): what a timeline is built from, and its JSON.
RunRow = list[Any]


class _PodTimeline:
    """Runs of one pod in time order, each with its steps in time order."""

    def __init__(self, rows: Iterable[RunRow]) -> None:
        self.rows = sorted(rows, key=lambda row: int(row[0]))
        self.starts: list[int] = []
        # (start, end, run tags, step starts, [(step end, step tags)])
        self.runs: list[tuple[int, int, RunTags, list[int], list[tuple[int, RunTags]]]] = []
        for start, end, run_id, scenario, step_starts, step_ends in self.rows:
            step_spans = [(int(e), RunTags(run_id, scenario, name)) for e, name in step_ends]
            self.starts.append(int(start))
            self.runs.append(
                (int(start), int(end), RunTags(run_id, scenario, None), step_starts, step_spans)
            )

    @classmethod
    def of_runs(cls, runs: Iterable[Run]) -> _PodTimeline:
        rows = []
        for run in runs:
            steps = sorted(run.steps.all(), key=lambda s: s.started_at)
            rows.append(
                [
                    to_ns(run.started_at),
                    to_ns(run.ended_at) if run.ended_at else _FAR_FUTURE_NS,
                    run.pk,
                    run.scenario,
                    [to_ns(s.started_at) for s in steps],
                    [[to_ns(s.ended_at) if s.ended_at else _FAR_FUTURE_NS, s.name] for s in steps],
                ]
            )
        return cls(rows)

    def at(self, t_ns: int) -> RunTags | None:
        return self.span(t_ns)[2]

    def span(self, t_ns: int) -> tuple[int, int, RunTags | None]:
        """``(lo, hi, tags)``: :meth:`at` answers ``tags`` for every time in [lo, hi), t_ns
        among them, so that consecutive samples need not look again while inside it."""
        index = bisect.bisect_right(self.starts, t_ns) - 1
        next_start = self.starts[index + 1] if index + 1 < len(self.starts) else _FAR_FUTURE_NS
        if index < 0:
            return _FAR_PAST_NS, next_start, None
        start, end, tags, step_starts, step_spans = self.runs[index]
        if t_ns >= end:
            return max(start, end), next_start, None
        lo, hi = start, min(next_start, end)
        step_index = bisect.bisect_right(step_starts, t_ns) - 1
        if step_index + 1 < len(step_starts):
            hi = min(hi, step_starts[step_index + 1])
        if step_index >= 0:
            lo = max(lo, step_starts[step_index])
            step_end, step_tags = step_spans[step_index]
            if t_ns < step_end:
                return lo, min(hi, step_end), step_tags
            lo = max(lo, step_end)
        return lo, hi, tags


class Correlator:
    """Answers :meth:`at` for many samples with one query per batch of pods and times."""

    def __init__(self, timelines: dict[str, _PodTimeline]) -> None:
        self._timelines = timelines

    @classmethod
    def for_window(cls, pods: Sequence[str], first_ns: int, last_ns: int) -> Correlator:
        """Load the runs of ``pods`` that overlap [first_ns, last_ns]."""
        # A second of margin each side: runs touching the window's edges are loaded too.
        first = from_ns(first_ns) - dt.timedelta(seconds=1)
        last = from_ns(last_ns) + dt.timedelta(seconds=1)
        runs = (
            Run.objects.filter(pod__name__in=set(pods), started_at__lte=last)
            .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=first))
            .select_related("pod")
            .prefetch_related("steps")
        )
        by_pod: dict[str, list[Run]] = defaultdict(list)
        for run in runs:
            by_pod[run.pod.name].append(run)
        return cls({pod: _PodTimeline.of_runs(pod_runs) for pod, pod_runs in by_pod.items()})

    def to_json(self) -> str:
        """The runs and steps this correlator answers from, as JSON (see :meth:`from_json`)."""
        return json.dumps({pod: timeline.rows for pod, timeline in self._timelines.items()})

    @classmethod
    def from_json(cls, text: str) -> Correlator:
        """A correlator answering exactly as the one whose :meth:`to_json` gave ``text``,
        whatever the events in the database say now."""
        return cls({pod: _PodTimeline(rows) for pod, rows in json.loads(text).items()})

    def at(self, pod: str, t_ns: int) -> RunTags | None:
        timeline = self._timelines.get(pod)
        return timeline.at(t_ns) if timeline else None

    def span(self, pod: str, t_ns: int) -> tuple[int, int, RunTags | None]:
        """``(lo, hi, tags)``: ``at(pod, t)`` is ``tags`` for every t in [lo, hi) (t_ns too)."""
        timeline = self._timelines.get(pod)
        if timeline is None:
            return _FAR_PAST_NS, _FAR_FUTURE_NS, None
        return timeline.span(t_ns)
