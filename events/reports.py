"""Energy reports of runs: per step, per server and in total, with their uncertainty.

Reports read the raw ``power`` series of the run's pod from InfluxDB by time (with bound
parameters, never concatenated InfluxQL) and do not use the run/step tags the writer put on the
points, so a report is right even when an event arrived after the correlation delay. The JSON
shape returned by :func:`run_report` is documented in docs/reports.md and is stable.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from events import energy
from events.correlation import to_ns
from events.influx import make_client
from events.lineprotocol import ZERO_WIDTH_SPACE, tag_value
from events.models import Run

IDLE_WINDOW = dt.timedelta(minutes=5)
CHART_POINTS = 1500  # per server: enough for a page, small enough to draw at once
MIN_COVERAGE = 0.9


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
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def fetch_samples(pod: str, start: dt.datetime, end: dt.datetime) -> dict[str, list[energy.Sample]]:
    """Power samples of every server of a pod in [start, end], by server, sorted, one per time."""
    client = make_client()
    try:
        result = client.query(
            'SELECT "watts", "energy_j" FROM "power" '
            'WHERE "pod" = $pod AND time >= $start AND time <= $end GROUP BY "server"',
            bind_params={"pod": tag_value(pod), "start": to_ns(start), "end": to_ns(end)},
            epoch="u",
        )
    except (requests.RequestException, InfluxDBClientError, InfluxDBServerError) as exc:
        raise ReportUnavailable(f"InfluxDB cannot be queried: {type(exc).__name__}") from None
    finally:
        client.close()
    series: dict[str, list[energy.Sample]] = {}
    for meta, points in result.items():
        _measurement, tags = meta
        server = (tags or {}).get("server", "")
        # Undo the writer's only change to a name (see events.lineprotocol).
        server = server.replace("\\" + ZERO_WIDTH_SPACE, "\\")
        rows: dict[float, energy.Sample] = {}
        for point in points:
            if point["watts"] is None:
                continue
            t = point["time"] / 1e6
            # The same instant twice (a point rewritten with other run tags): keep one.
            rows[t] = (t, float(point["watts"]), point.get("energy_j"))
        series[server] = sorted(rows.values())
    return series


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
    return warnings


def _figures_json(
    fig: energy.Figures, poll_interval: float, idle_w: float | None
) -> dict[str, Any]:
    co2 = settings.GRID_GCO2_PER_KWH
    above = None if idle_w is None else fig.energy_j - idle_w * fig.duration_s
    return {
        "duration_s": _round(fig.duration_s),
        "energy_j": _round(fig.energy_j) if fig.method != energy.METHOD_NONE else None,
        "energy_wh": _round(fig.energy_wh, 6) if fig.method != energy.METHOD_NONE else None,
        "mean_w": _round(fig.mean_w),
        "peak_w": _round(fig.peak_w),
        "sample_count": fig.sample_count,
        "coverage": round(fig.coverage, 4),
        "largest_gap_s": _round(fig.largest_gap_s),
        "method": fig.method,
        "energy_above_idle_j": _round(above),
        "co2e_g": _round(fig.energy_wh / 1000 * co2, 6) if co2 and fig.sample_count else None,
        "warnings": _warnings(fig, poll_interval, 0.0),
    }


def _idle_watts(
    run: Run, samples: dict[str, list[energy.Sample]]
) -> tuple[dict[str, float], float | None, str | None]:
    """Idle power per server (median of the samples in the minutes before the run) and for the
    pod (its configured baseline, else the sum of the servers' idle power)."""
    start = _seconds(run.started_at)
    window = IDLE_WINDOW.total_seconds()
    per_server: dict[str, float] = {}
    for server, rows in samples.items():
        before = [w for t, w, _ in rows if start - window <= t < start]
        if len(before) >= 3:
            per_server[server] = energy.median(before)  # type: ignore[assignment]
    if run.pod.idle_baseline_w is not None:
        return per_server, run.pod.idle_baseline_w, "pod baseline"
    if samples and len(per_server) == len(samples):
        return per_server, sum(per_server.values()), "median of the 5 minutes before the run"
    return per_server, None, None


def run_report(run: Run) -> dict[str, Any]:
    """The report of one run (see docs/reports.md for the shape)."""
    pod = run.pod
    interval = float(pod.poll_interval)
    end = run.ended_at or timezone.now()
    steps = list(run.steps.order_by("started_at"))
    margin = dt.timedelta(seconds=2 * interval)
    samples = fetch_samples(pod.name, run.started_at - IDLE_WINDOW, end + margin)
    idle_by_server, idle_total, idle_source = _idle_watts(run, samples)
    servers = sorted(samples)

    def section(span: Interval, edges: list[float] | None = None) -> dict[str, Any]:
        a, b = _seconds(span.start), _seconds(span.end)
        per_server = {
            name: energy.integrate_pieces(samples[name], edges or [a, b], interval)
            for name in servers
        }
        summed = energy.total(list(per_server.values()), max(0.0, b - a))
        summed.peak_w = energy.peak_of_sum([samples[n] for n in servers], a, b)
        out = {
            "started_at": _iso(span.start),
            "ended_at": _iso(span.end),
            **_figures_json(summed, interval, idle_total),
            "servers": [
                {"server": name, **_figures_json(fig, interval, idle_by_server.get(name))}
                for name, fig in per_server.items()
            ],
        }
        if not servers:
            out["warnings"].append("no server of this pod sent samples in this interval")
        return out

    step_sections = []
    for index, step in enumerate(steps):
        step_end = step.ended_at
        if step_end is None:
            following = steps[index + 1].started_at if index + 1 < len(steps) else None
            step_end = following or end
        step_sections.append(
            {"name": step.name, **section(Interval(step.name, step.started_at, step_end))}
        )
    # The total is the sum of the steps and of the time between them (see integrate_pieces).
    run_start, run_end = _seconds(run.started_at), _seconds(end)
    edges = {run_start, run_end}
    for step_section in step_sections:
        for key in ("started_at", "ended_at"):
            moment = _seconds(dt.datetime.fromisoformat(step_section[key]))
            if run_start < moment < run_end:
                edges.add(moment)
    total = section(Interval(None, run.started_at, end), sorted(edges))
    warnings = []
    if run.ended_at is None:
        warnings.append("the run is still running: figures up to now")
    return {
        "run": {
            "id": run.pk,
            "pod": pod.name,
            "scenario": run.scenario,
            "source": run.source,
            "started_at": _iso(run.started_at),
            "ended_at": _iso(run.ended_at),
            "running": run.ended_at is None,
        },
        "poll_interval_s": interval,
        "idle": {"watts": _round(idle_total), "source": idle_source},
        "grid_gco2_per_kwh": settings.GRID_GCO2_PER_KWH or None,
        "servers": servers,
        "steps": step_sections,
        "total": total,
        "warnings": warnings,
    }


def compare_runs(runs: Sequence[Run]) -> dict[str, Any]:
    """A scenario's runs side by side: energy per run and per step, mean, spread, and which
    runs are well above their history (more than two standard deviations and 10 % above the
    mean of the runs before them)."""
    ordered = sorted(runs, key=lambda r: r.started_at)
    rows: list[dict[str, Any]] = []
    by_step: dict[str, list[float]] = defaultdict(list)
    history: list[float] = []
    for run in ordered:
        report = run_report(run)
        energy_j = report["total"]["energy_j"]
        flag = False
        if energy_j is not None and len(history) >= 3:
            mean, stdev = statistics.fmean(history), statistics.pstdev(history)
            flag = energy_j > mean + 2 * stdev and energy_j > 1.1 * mean
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
        rows = samples[name]
        stride = max(1, len(rows) // CHART_POINTS)
        kept = rows[::stride]
        if rows and stride > 1:
            peak = max(rows, key=lambda r: r[1])
            kept = sorted({*kept, peak})
        servers.append({"server": name, "points": [[round(t - origin, 3), w] for t, w, _ in kept]})
    steps = [
        {
            "name": step.name,
            "start": round(_seconds(step.started_at) - origin, 3),
            "end": round(_seconds(step.ended_at or end) - origin, 3),
        }
        for step in run.steps.order_by("started_at")
    ]
    return {"servers": servers, "steps": steps, "duration": round(_seconds(end) - origin, 3)}
