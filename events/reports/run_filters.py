"""The filters of the run pages (the run list, a scenario's history), from a query string.

``pod``, ``scenario``, ``branch``: exact names, as the API's. ``label``: ``name`` (the run has
that label) or ``name:value``, as the API's. ``since``, ``until``: the run started at or after, before (a date
``2026-12-01`` or an ISO time; a date in ``until`` means up to the end of that day, UTC).
``status``: ``running``, ``final`` (its report is stored), ``settling`` (ended, its report not
stored yet) or ``abandoned``. A filter no run can match says why, for a 400 page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from energylab.validators import control_character_in
from events import provenance
from events.models import Run, RunReport

NAMES = {"pod": "pod__name", "scenario": "scenario", "branch": "branch"}
STATUSES = ("running", "final", "settling", "abandoned")
PARAMETERS = (*NAMES, "label", "since", "until", "status")


@dataclass
class RunFilters:
    """The filters as given (to show in the form and keep in links) and what is wrong."""

    values: dict[str, str]
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(
        cls, query: Mapping[str, str], names: tuple[str, ...] = PARAMETERS
    ) -> RunFilters:
        return cls({name: query.get(name, "").strip() for name in names})

    def given(self) -> dict[str, str]:
        return {name: value for name, value in self.values.items() if value}

    def apply(self, runs: QuerySet[Run]) -> QuerySet[Run]:
        """``runs`` filtered; none when a filter is wrong (``errors`` says why)."""
        wanted = Q()
        for name, value in self.given().items():
            # No name holds a control character, and PostgreSQL refuses a NUL in a query.
            if control_character_in(value) is not None:
                self.errors.append(
                    f"the {name} filter holds a control character, which no name may contain"
                )
            elif name in NAMES:
                wanted &= Q(**{NAMES[name]: value})
            elif name == "label":
                key, has_value, label_value = value.partition(provenance.LABEL_SEPARATOR)
                runs = provenance.with_label(runs, key, label_value if has_value else None)
            elif name in ("since", "until"):
                moment = _moment(value, end_of_day=name == "until")
                if moment is None:
                    self.errors.append(
                        f"the {name} filter {value!r} is not a date (2026-12-01) or an ISO time"
                    )
                elif name == "since":
                    wanted &= Q(started_at__gte=moment)
                else:
                    wanted &= Q(started_at__lt=moment)
            elif name == "status":
                if value not in STATUSES:
                    self.errors.append(
                        f"the status filter {value!r} is not one of {', '.join(STATUSES)}"
                    )
                else:
                    wanted &= _status(value)
        return runs.none() if self.errors else runs.filter(wanted)


def _moment(value: str, *, end_of_day: bool) -> dt.datetime | None:
    try:
        # A date first: Python reads "2026-12-01" as a datetime too (its midnight).
        day = parse_date(value)
        moment = None if day is not None else parse_datetime(value)
    except ValueError:  # well formed, out of range (a 31st of February)
        return None
    if moment is not None:
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    if day is None:
        return None
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return start + dt.timedelta(days=1) if end_of_day else start


def _status(value: str) -> Q:
    if value == "running":
        return Q(ended_at__isnull=True)
    if value == "abandoned":
        return Q(abandoned=True)
    if value == "final":
        return Q(stored_report__isnull=False)
    return Q(ended_at__isnull=False, stored_report__isnull=True)


def status_of(run: Run) -> str:
    """A run's status for people: running, final, settling or abandoned (abandoned runs are
    final too once stored; the page says both)."""
    if run.ended_at is None:
        return "running"
    if run.abandoned:
        return "abandoned"
    return "final" if stored_report_of(run) is not None else "settling"


def stored_report_of(run: Run) -> RunReport | None:
    """The run's stored report (fresh or stale), or None: no query when it was selected with
    the run (``select_related("stored_report")``)."""
    try:
        return run.stored_report
    except RunReport.DoesNotExist:
        return None
