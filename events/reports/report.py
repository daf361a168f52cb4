"""Energy reports of runs: per step, per server and in total, with their uncertainty.

Reports read the raw ``power`` series of the run's pod from InfluxDB by time (with bound
parameters, never concatenated InfluxQL) and do not use the run/step tags the writer put on the
points, so a report is right even when an event arrived after the correlation delay. The JSON
shape returned by :func:`run_report` is documented in docs/reports.md and is stable.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import requests
from django.conf import settings
from django.utils import timezone
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from collectors.drivers import averaged_sources
from collectors.models import BMCType
from energylab.timestamps import rfc3339, to_ns
from events import provenance
from events.influx import make_client
from events.ingest.buffer import SampleBuffer
from events.ingest.lineprotocol import ZERO_WIDTH_SPACE, tag_value
from events.ingest.settling import Settling, settling
from events.models import Run
from events.reports import bounds, energy, significance, stored
from events.reports.idle import Idle, measure_idle
from events.reports.parts import PARTS_QUERY, Parts, parts_from, shares
from events.reports.silence import why_no_samples

# Parallel queries per report: on 2 cores, 390k points took 1.30 s in 1 query, 0.93 s in 2,
# 0.83 s in 3, 0.75 s in 6 or 8, 0.80 s in 12 (bench/report.py's data, whole report).
QUERY_SLICES = 6
CHART_POINTS = 1500  # per server: enough for a page, small enough to draw at once
MIN_COVERAGE = 0.9
# Samples read past a run's end for its error bounds: a reading refreshed after the end tells
# about the power before it (events.reports.bounds); BMCs refresh every 60 s at the slowest.
BOUNDS_LOOKAHEAD = dt.timedelta(seconds=60)


SAMPLES_QUERY = (
    'SELECT "watts", "energy_j" FROM "power" '
    'WHERE "pod" = $pod AND time >= $start AND time {end} $end GROUP BY "server"'
)


class ReportUnavailable(Exception):
    """InfluxDB cannot be queried now; the message says so for people."""


@dataclass(frozen=True)
class Interval:
    name: str | None
    start: dt.datetime
    end: dt.datetime


def _seconds(moment: dt.datetime) -> float:
    return to_ns(moment) / 1e9


def _iso(moment: dt.datetime | None) -> str | None:
    return rfc3339(moment) if moment else None


def _round(value: float | None, digits: int = 3) -> float | None:
    # JSON has no infinity: a figure that overflowed is unknown, and _warnings says why.
    return None if value is None or not math.isfinite(value) else round(value, digits)


def fetch_samples(pod: str, start: dt.datetime, end: dt.datetime) -> dict[str, energy.Series]:
    """Power samples of every server of a pod in [start, end], by server, sorted, one per time.

    InfluxDB answers one query on one core: the span is read as ``QUERY_SLICES`` queries over
    consecutive slices of it, in parallel, so that InfluxDB uses both cores and Python decodes
    one slice's answer (msgpack, which the client asks for) while InfluxDB works on the others.

    :raises ReportUnavailable: InfluxDB cannot be queried.
    """
    first, last = to_ns(start), to_ns(end)
    bounds = [first + (last - first) * k // QUERY_SLICES for k in range(QUERY_SLICES + 1)]
    slices = [(bounds[k], bounds[k + 1], k + 1 == QUERY_SLICES) for k in range(QUERY_SLICES)]
    with ThreadPoolExecutor(QUERY_SLICES, thread_name_prefix="report-query") as pool:
        answers = list(pool.map(lambda s: _query(tag_value(pod), *s), slices))
    parts: dict[str, list[_Columns]] = defaultdict(list)
    for answer in answers:  # slice after slice, so each server's parts are in time order
        for server, columns in answer.items():
            parts[server].append(columns)
    return {server: _series(columns) for server, columns in parts.items()}


# One server's samples in one slice: times (µs), watts, counters (NaN: none) or None.
_Columns = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64] | None]


def _query(pod: str, start_ns: int, end_ns: int, inclusive: bool) -> dict[str, _Columns]:
    """The samples of one slice [start, end) (or [start, end]) by server, as arrays."""
    client = make_client()
    try:
        result = client.query(
            SAMPLES_QUERY.format(end="<=" if inclusive else "<"),
            bind_params={"pod": pod, "start": start_ns, "end": end_ns},
            epoch="u",
        )
    except (requests.RequestException, InfluxDBClientError, InfluxDBServerError) as exc:
        raise ReportUnavailable(f"InfluxDB cannot be queried: {type(exc).__name__}") from None
    finally:
        client.close()
    answer: dict[str, _Columns] = {}
    for series in result.raw.get("series") or []:
        server = (series.get("tags") or {}).get("server", "")
        # Undo the writer's only change to a name (see events.ingest.lineprotocol).
        server = server.replace("\\" + ZERO_WIDTH_SPACE, "\\")
        rows = series["values"]
        if not rows:
            continue
        columns = dict(zip(series["columns"], zip(*rows, strict=True), strict=True))
        times, watts = columns["time"], columns["watts"]
        counters = columns.get("energy_j") or (None,) * len(rows)
        if None in watts:
            kept = [i for i, w in enumerate(watts) if w is not None]
            times = tuple(times[i] for i in kept)
            watts = tuple(watts[i] for i in kept)
            counters = tuple(counters[i] for i in kept)
        answer[server] = (
            np.array(times, dtype=np.int64),
            np.array(watts, dtype=np.float64),
            None
            if counters.count(None) == len(counters)
            else np.array([math.nan if c is None else c for c in counters], dtype=np.float64),
        )
    return answer


def fetch_parts(pod: str, start: dt.datetime, end: dt.datetime) -> Parts:
    """The samples of each part of the pod's servers whose readings are sums (PDU outlets),
    in [start, end], by server and part (:mod:`events.reports.parts`).

    :raises ReportUnavailable: InfluxDB cannot be queried.
    """
    client = make_client()
    try:
        result = client.query(
            PARTS_QUERY,
            bind_params={"pod": tag_value(pod), "start": to_ns(start), "end": to_ns(end)},
            epoch="u",
        )
    except (requests.RequestException, InfluxDBClientError, InfluxDBServerError) as exc:
        raise ReportUnavailable(f"InfluxDB cannot be queried: {type(exc).__name__}") from None
    finally:
        client.close()
    return parts_from(result.raw)


def _series(parts: list[_Columns]) -> energy.Series:
    """One server's :class:`energy.Series` from its slices' columns, in time order."""
    t = np.concatenate([p[0] for p in parts])
    w = np.concatenate([p[1] for p in parts])
    e = (
        None
        if all(p[2] is None for p in parts)
        else np.concatenate([np.full(len(p[0]), math.nan) if p[2] is None else p[2] for p in parts])
    )
    if len(t) > 1 and not (t[1:] > t[:-1]).all():
        # The same instant twice (a point rewritten with other run tags): keep the last one.
        order = np.argsort(t, kind="stable")
        t, w = t[order], w[order]
        keep = np.append(t[1:] != t[:-1], True)
        t, w = t[keep], w[keep]
        if e is not None:
            e = e[order][keep]
    return energy.Series(t / 1e6, w, e)


def _warnings(fig: energy.Figures, poll_interval: float, refresh_hint: float) -> list[str]:
    warnings = list(fig.warnings)
    if fig.sample_count == 0 and fig.method == energy.METHOD_NONE:
        warnings.append("no samples: energy unknown (coverage 0 %)")
    if fig.duration_s < max(2 * poll_interval, refresh_hint):
        warnings.append(
            f"shorter than two poll intervals ({2 * poll_interval:g} s): "
            "its energy is mostly estimated"
        )
    if fig.duration_s > 0 and fig.coverage < MIN_COVERAGE:
        warnings.append(f"coverage {fig.coverage:.0%} is under {MIN_COVERAGE:.0%}")
    if not all(math.isfinite(v) for v in (fig.energy_j, fig.mean_w, fig.peak_w) if v is not None):
        warnings.append("energy out of range: a sample's power is implausibly large")
    return warnings


def _figures_json(
    fig: energy.Figures, poll_interval: float, idle_w: float | None
) -> dict[str, Any]:
    co2 = settings.GRID_GCO2_PER_KWH
    measured = fig.method != energy.METHOD_NONE
    above = None if idle_w is None or not measured else fig.energy_j - idle_w * fig.duration_s
    below = _below_idle(fig, idle_w) if above is not None and above < 0 else None
    return {
        "duration_s": _round(fig.duration_s),
        "energy_j": _round(fig.energy_j) if fig.method != energy.METHOD_NONE else None,
        "energy_j_low": _round(fig.energy_j_low) if fig.method != energy.METHOD_NONE else None,
        "energy_j_high": _round(fig.energy_j_high) if fig.method != energy.METHOD_NONE else None,
        "energy_wh": _round(fig.energy_wh, 6) if fig.method != energy.METHOD_NONE else None,
        "mean_w": _round(fig.mean_w),
        "peak_w": _round(fig.peak_w),
        "sample_count": fig.sample_count,
        "coverage": round(fig.coverage, 4),
        "largest_gap_s": _round(fig.largest_gap_s),
        "method": fig.method,
        "energy_above_idle_j": _round(above),
        "co2e_g": _round(fig.energy_wh / 1000 * co2, 6) if co2 and fig.sample_count else None,
        "warnings": _warnings(fig, poll_interval, 0.0) + ([below] if below else []),
    }


def _below_idle(fig: energy.Figures, idle_w: float | None) -> str:
    """Why an interval's energy above idle is negative, for people who will ask."""
    idle_j = (idle_w or 0.0) * fig.duration_s
    if fig.energy_j_high is not None and fig.energy_j_high >= idle_j:
        return (
            "energy above idle is negative but within the error bounds: this interval drew "
            "about the idle power, and the difference is not measurable"
        )
    return (
        f"energy above idle is negative: the interval drew {fig.mean_w or 0.0:.1f} W on "
        f"average, less than the idle power of {idle_w or 0.0:.1f} W (a pod baseline set too "
        "high, or idle measured while the pod drew more than in this interval)"
    )


def _idle_json(idle: Idle) -> dict[str, Any] | None:
    """The report's ``idle``: ``null`` when unknown (its warning says why)."""
    if idle.watts is None:
        return None
    return {
        "watts": _round(idle.watts),
        "source": idle.source,
        "sample_count": idle.sample_count,
        "duration_s": _round(idle.duration_s),
        "started_at": _iso(idle.started_at),
        "ended_at": _iso(idle.ended_at),
    }


def _reported_servers(
    run: Run, samples: dict[str, energy.Series], until: dt.datetime
) -> tuple[dict[str, energy.Series], dict[str, float], dict[str, bounds.SourceTiming]]:
    """The servers a run's report is about, the seconds each one's samples are expected
    apart, and how each one's readings are taken (for the error bounds).

    Samples are read by pod name, so they can hold servers that only sent samples in the idle
    window before the run: servers since removed from the pod, or a pod deleted and created
    again under the same name. Those are left out unless they are still active servers of the
    pod (then their silence during the run is news, and the report shows it as no coverage).

    A polled server is expected every poll interval of its pod. A server that pushes its
    readings (a legacy collector, at its own pace) is judged against its own median spacing,
    never less than the pod's interval: otherwise a collector posting every 5 s to a pod
    polled every second would show a third of coverage however regular it is.
    """
    interval = float(run.pod.poll_interval)
    known = {
        name: (bmc_type, active, refresh_s, accuracy_pct, source)
        for name, bmc_type, active, refresh_s, accuracy_pct, source in run.pod.servers.values_list(
            "name", "bmc_type", "active", "refresh_s", "accuracy_pct", "last_source"
        )
    }
    lo, hi = _seconds(run.started_at), _seconds(until)
    kept: dict[str, energy.Series] = {}
    cadence: dict[str, float] = {}
    timing: dict[str, bounds.SourceTiming] = {}
    for name, series in samples.items():
        first = int(np.searchsorted(series.t, lo, "left"))
        sampled_in_run = first < len(series.t) and series.t[first] <= hi
        bmc_type, active, refresh_s, accuracy_pct, source = known.get(
            name, (None, False, None, None, "")
        )
        if not (sampled_in_run or active):
            continue
        kept[name] = series
        cadence[name] = interval
        if bmc_type == BMCType.PUSH and len(series.t) >= 3:
            cadence[name] = max(interval, float(np.median(np.diff(series.t))))
        timing[name] = bounds.source_timing(
            series, bmc_type, cadence[name], refresh_s, accuracy_pct, source in averaged_sources()
        )
    return kept, cadence, timing


def run_report(run: Run) -> dict[str, Any]:
    """The report of one run (see docs/reports.md for the shape): THE entry point.

    An ended run's final report is stored (events.reports.stored) and served from the
    database: no InfluxDB read, and past the InfluxDB retention too. Otherwise it is computed
    from the samples, and stored when it comes out final. A stored report marked stale by a late
    correction is recomputed; while InfluxDB cannot be read it is served as stored, saying so.

    :raises ReportUnavailable: InfluxDB cannot be queried and no report of the run is stored.
    """
    found = stored.load(run) if run.ended_at is not None else None
    if found is not None and not found.stale:
        return dict(found.document)
    computed_at = timezone.now()
    try:
        report = compute_report(run)
    except ReportUnavailable:
        if found is None:
            raise
        return stored.with_warning(found.document, stored.STALE_UNREADABLE)
    if found is not None and found.sample_count and not report["total"]["sample_count"]:
        return stored.keep(found)  # past the retention: the samples are gone, not the energy
    if report["final"] is True and run.ended_at is not None:
        stored.store(run, report, computed_at)
    return report


def compute_report(run: Run) -> dict[str, Any]:
    """The report of one run computed from its samples in InfluxDB, never stored (callers
    want :func:`run_report`).

    :raises ReportUnavailable: InfluxDB cannot be queried.
    """
    pod = run.pod
    interval = float(pod.poll_interval)
    end = run.ended_at or timezone.now()
    steps = list(run.steps.order_by("started_at"))
    margin = dt.timedelta(seconds=2 * interval)
    # The error bounds of the last step look at the polls up to a refresh period past its end.
    lookahead = max(margin, BOUNDS_LOOKAHEAD)
    # The minutes before the run too: its idle power is most often measured there, and an
    # active server silent in the run but not before it shows in the report as no coverage.
    read_from = run.started_at - max(lookahead, dt.timedelta(seconds=settings.IDLE_WINDOW))
    samples = fetch_samples(pod.name, read_from, end + lookahead)
    settled = (
        settling(run.ended_at + margin, interval, timezone.now(), SampleBuffer.from_settings())
        if run.ended_at is not None
        else Settling(False, None, None)
    )
    samples, cadence, timing = _reported_servers(run, samples, end + margin)
    servers = sorted(samples)
    fed_by = fetch_parts(pod.name, run.started_at - margin, end + margin)
    idle = measure_idle(
        run,
        servers,
        lambda a, b: samples if a >= read_from else fetch_samples(pod.name, a, b),
        pod.idle_baseline_w,
    )
    idle_total, idle_by_server = idle.watts, idle.per_server
    power_sum = energy.PowerSum([samples[name] for name in servers])
    envelopes = {
        name: bounds.Envelope(
            samples[name],
            timing[name].refresh_s,
            timing[name].unseen_excursions,
            timing[name].accuracy,
        )
        if len(samples[name])
        else None
        for name in servers
    }
    # The total's pieces are the steps' intervals again: each is integrated once.
    pieces: dict[tuple[str, float, float], energy.Figures] = {}

    def piece(name: str, a: float, b: float) -> energy.Figures:
        figures = pieces.get((name, a, b))
        if figures is None:
            figures = energy.integrate(samples[name], a, b, cadence[name])
            bounds.attach(figures, envelopes[name], a, b, timing[name].accuracy)
            pieces[(name, a, b)] = figures
        return figures

    def section(span: Interval, edges: list[float] | None = None) -> dict[str, Any]:
        a, b = _seconds(span.start), _seconds(span.end)
        spans = list(itertools.pairwise(edges or [a, b]))
        per_server = {
            name: energy.combine([piece(name, x, y) for x, y in spans], b - a) for name in servers
        }
        summed = energy.total(list(per_server.values()), max(0.0, b - a))
        summed.peak_w = power_sum.peak(a, b)
        out = {
            "started_at": _iso(span.start),
            "ended_at": _iso(span.end),
            **_figures_json(summed, interval, idle_total),
            "servers": [
                {
                    "server": name,
                    **_figures_json(fig, cadence[name], idle_by_server.get(name)),
                    # a server fed by several outlets: each one's share of its energy
                    "parts": shares(fig, fed_by.get(name, {}), spans, cadence[name]),
                }
                for name, fig in per_server.items()
            ],
        }
        if not servers:
            out["warnings"].append("no server of this pod sent samples in this interval")
        return out

    step_spans = []
    for index, step in enumerate(steps):
        step_end = step.ended_at
        if step_end is None:
            following = steps[index + 1].started_at if index + 1 < len(steps) else None
            step_end = following or end
        step_spans.append(Interval(step.name, step.started_at, step_end))
    step_sections = [{"name": span.name, **section(span)} for span in step_spans]
    # The total is the sum of the steps and of the time between them: the same pieces.
    run_start, run_end = _seconds(run.started_at), _seconds(end)
    edges = {run_start, run_end}
    for span in step_spans:
        for moment in (_seconds(span.start), _seconds(span.end)):
            if run_start < moment < run_end:
                edges.add(moment)
    total = section(Interval(None, run.started_at, end), sorted(edges))
    warnings = [idle.warning] if idle.warning else []
    if run.ended_at is None:
        warnings.append("the run is still running: figures up to now")
    elif settled.warning:
        warnings.append(settled.warning)
    if run.abandoned:
        warnings.append(
            "abandoned: no event came for ENERGYLAB_RUN_MAX_IDLE, so the run was closed at its "
            "last event (its client stopped before sending its stop)"
        )
    if total["sample_count"] == 0:
        warnings.extend(why_no_samples(pod))
    return {
        "run": {
            "id": run.pk,
            "pod": pod.name,
            "scenario": run.scenario,
            "source": run.source,
            "started_at": _iso(run.started_at),
            "ended_at": _iso(run.ended_at),
            "running": run.ended_at is None,
            "abandoned": run.abandoned,
            **{name: getattr(run, name) for name in provenance.FIELDS},
        },
        "final": settled.final,
        "final_after": _iso(settled.final_after),
        "poll_interval_s": interval,
        "idle": _idle_json(idle),
        "grid_gco2_per_kwh": settings.GRID_GCO2_PER_KWH or None,
        "servers": servers,
        "sources": {
            name: {
                "refresh_s": _round(timing[name].refresh_s),
                "refresh_from": timing[name].refresh_from,
                "accuracy_pct": _round(timing[name].accuracy * 100),
                "accuracy_from": timing[name].accuracy_from,
                # the BMC's mean over its window, or its current (sampled and held) power
                "reading": "current" if timing[name].unseen_excursions else "average",
            }
            for name in servers
        },
        "steps": step_sections,
        "total": total,
        "warnings": warnings,
    }


def compare_runs(runs: Sequence[Run]) -> dict[str, Any]:
    """A scenario's runs side by side: energy per run and per step, mean, spread, and which
    runs regressed against the runs before them (at least three), by the one rule of
    :func:`events.reports.significance.is_regression`: outside their prediction interval and
    more than 5 % costlier."""
    ordered = sorted(runs, key=lambda r: r.started_at)
    rows: list[dict[str, Any]] = []
    by_step: dict[str, list[float]] = defaultdict(list)
    history: list[float] = []
    for run in ordered:
        report = run_report(run)
        energy_j = report["total"]["energy_j"]
        flag = False
        if energy_j is not None and len(history) >= 3:
            flag = significance.is_regression(significance.compare(history, [energy_j]))
        rows.append(
            {
                "run": report["run"],
                "energy_j": energy_j,
                "duration_s": report["total"]["duration_s"],
                "coverage": report["total"]["coverage"],
                "regression": flag,
                "steps": {s["name"]: s["energy_j"] for s in report["steps"]},
            }
        )
        if energy_j is not None:
            history.append(energy_j)
        for step in report["steps"]:
            if step["energy_j"] is not None:
                by_step[step["name"]].append(step["energy_j"])

    def summary(values: list[float]) -> dict[str, float | int | None]:
        return {
            "runs": len(values),
            "mean_j": _round(statistics.fmean(values)) if values else None,
            "stdev_j": _round(statistics.pstdev(values)) if len(values) > 1 else None,
            "min_j": _round(min(values)) if values else None,
            "max_j": _round(max(values)) if values else None,
        }

    return {
        "runs": rows,
        "energy": summary(history),
        "steps": {name: summary(values) for name, values in by_step.items()},
    }


def chart_series(run: Run) -> dict[str, Any]:
    """Power over time per server for the run's page, in seconds from the run's start,
    thinned to at most ``CHART_POINTS`` per server (every n-th sample, the peak kept)."""
    end = run.ended_at or timezone.now()
    origin = _seconds(run.started_at)
    samples = fetch_samples(run.pod.name, run.started_at, end)
    servers = []
    for name in sorted(samples):
        series = samples[name]
        stride = max(1, len(series) // CHART_POINTS)
        kept = np.arange(0, len(series), stride)
        if len(series) and stride > 1:
            kept = np.union1d(kept, [int(np.argmax(series.w))])
        points = zip(series.t[kept].tolist(), series.w[kept].tolist(), strict=True)
        servers.append({"server": name, "points": [[round(t - origin, 3), w] for t, w in points]})
    steps = [
        {
            "name": step.name,
            "start": round(_seconds(step.started_at) - origin, 3),
            "end": round(_seconds(step.ended_at or end) - origin, 3),
        }
        for step in run.steps.order_by("started_at")
    ]
    return {"servers": servers, "steps": steps, "duration": round(_seconds(end) - origin, 3)}
