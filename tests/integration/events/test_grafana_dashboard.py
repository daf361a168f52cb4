"""The Grafana dashboard's every InfluxQL query, run against the real InfluxDB on a known run.

No Grafana runs here (no package for it), so the test does what Grafana does before it sends a
query: it substitutes ``$timeFilter``, ``$__interval`` and the template variables. Variables are
always written ``${name:regex}`` inside ``/^...$/`` in the dashboard, which makes Grafana apply
its regex formatter whatever the variable's settings: each value escaped with
``value.replace(/[\\^$*+?.()|[\\]{}\\/]/g, '\\$&')`` (``escapeRegex`` in ``@grafana/data``),
several values joined as ``(a|b)``, and a custom "All" value (``.*``) inserted as it is.
:func:`grafana_regex` does the same. InfluxQL's regex literal turns ``\\/`` back into ``/`` and
hands every other escape to Go's regexp, where an escaped punctuation character is literal, so
names with regex metacharacters, slashes, quotes, ``,`` ``=``, spaces, backslashes and unicode
are matched exactly (see docs/grafana.md).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
import yaml
from influxdb import InfluxDBClient

from collectors.models import BMCType, Pod, Server
from collectors.simulators.profile import PowerProfile
from events.ingest.buffer import Sample, SampleBuffer
from events.ingest.lineprotocol import tag_value
from events.ingest.writer import InfluxWriter
from events.models import Run, Step
from events.reports.report import run_report

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "docker" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "energylab.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "energylab.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "energylab.yaml"
DATASOURCE_UID = "energylab-influxdb"

EPOCH = dt.datetime(2026, 11, 21, 9, 0, 0, tzinfo=dt.UTC)
# Every regex metacharacter, a slash, both quotes, `,` `=`, spaces, a backslash and unicode.
POD = "lab/1 (a|b) \"east\", row=3 \\d+ ⚡ [x].*?{2}^$ 'q'"
DECOY_POD = POD + " 2"  # matched by /^$pod/ without the closing anchor
SCENARIO = 'boot, then=load "fast" \\w/ünï +1'
SERVERS = ["alpha node", "béta\\2"]
STEPS = [("warm up", 0, 20), ("load, heavy=1", 20, 50), ('cool\\down "é"', 50, 70)]
PROFILE = [(20, 180), (30, 420), (20, 210)]
RECORDED = (-30.0, 100.0)  # idle before and after the run
INTERVAL = "1s"


# -- what Grafana does to a query before sending it -----------------------------------------------

_GRAFANA_REGEX_META = re.compile(r"[\\^$*+?.()|\[\]{}/]")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")


def grafana_regex(value: str | list[str]) -> str:
    """Grafana's ``regex`` format: values regex-escaped, several ones as ``(a|b)``."""
    if isinstance(value, str):
        return _GRAFANA_REGEX_META.sub(lambda m: "\\" + m.group(0), value)
    escaped = [grafana_regex(v) for v in value]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


ALL = object()


def interpolate(
    query: str,
    variables: dict[str, Any],
    dashboard: dict[str, Any],
    start: dt.datetime,
    end: dt.datetime,
) -> str:
    """The query as Grafana sends it to InfluxDB for this time range and these variables.

    One pass, as Grafana's template service makes: a value holding ``$`` is not read again.
    """
    declared = {v["name"]: v for v in dashboard["templating"]["list"]}
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    macros = {
        "timeFilter": f"time >= {start_ms}ms and time <= {end_ms}ms",
        "__interval": INTERVAL,
        "__interval_ms": "1000",
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        fmt = match.group(2)
        if name in macros:
            return macros[name]
        assert name in declared, f"unknown variable ${name} in {query}"
        assert fmt == "regex", f"${name} must be written ${{{name}:regex}} in {query}"
        value = variables[name]
        if value is ALL:
            variable = declared[name]
            assert variable.get("includeAll")
            assert variable.get("allValue")
            return str(variable["allValue"])  # Grafana inserts a custom all value unformatted
        return grafana_regex(value)

    return _VARIABLE.sub(substitute, query)


# -- the dashboard's queries ------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    key: str  # "panel:<title>:<refId>", "variable:<name>" or "annotation:<name>"
    text: str
    datasource: dict[str, Any] | None


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[Query]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target.get("rawQuery") is True, f"{panel['title']}: only raw InfluxQL is tested"
            yield Query(
                f"panel:{panel['title']}:{target['refId']}",
                target["query"],
                target.get("datasource"),
            )
    for variable in dashboard["templating"]["list"]:
        yield Query(f"variable:{variable['name']}", variable["query"], variable["datasource"])
    for annotation in dashboard["annotations"]["list"]:
        if annotation.get("builtIn"):
            continue
        target = annotation["target"]
        yield Query(f"annotation:{annotation['name']}", target["query"], annotation["datasource"])


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


# -- a known run, written through the real writer -------------------------------------------------


def at(seconds: float) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def profiles(epoch: float) -> dict[str, PowerProfile]:
    return {
        name: PowerProfile(
            [(s, w + 10 * i) for s, w in PROFILE], refresh=1, noise=5, seed=i, epoch=epoch
        )
        for i, name in enumerate(SERVERS)
    }


def samples_of(pod: str, truth: dict[str, PowerProfile]) -> list[Sample]:
    out = []
    for index, (server, profile) in enumerate(truth.items()):
        t = RECORDED[0] + 0.37 + index * 0.11
        while t <= RECORDED[1]:
            moment = EPOCH.timestamp() + t
            out.append(
                Sample(pod, server, profile.watts_at(moment), int(moment * 1e6) * 1000, "test")
            )
            t += 1.0
    return out


@pytest.fixture
def run(buffer: SampleBuffer, influx: InfluxDBClient) -> Run:
    pod = Pod.objects.create(name=POD, poll_interval=1)
    decoy = Pod.objects.create(name=DECOY_POD, poll_interval=1)
    for name in SERVERS:
        Server.objects.create(pod=pod, name=name, bmc_type=BMCType.PUSH)
        Server.objects.create(pod=decoy, name=name + " decoy", bmc_type=BMCType.PUSH)
    run = Run.objects.create(pod=pod, scenario=SCENARIO, started_at=at(0), ended_at=at(70))
    for name, a, b in STEPS:
        Step.objects.create(run=run, name=name, started_at=at(a), ended_at=at(b))
    # The decoy pod runs the same scenario and steps at the same time, at ten times the power.
    other = Run.objects.create(pod=decoy, scenario=SCENARIO, started_at=at(0), ended_at=at(70))
    for name, a, b in STEPS:
        Step.objects.create(run=other, name=name, started_at=at(a), ended_at=at(b))
    truth = profiles(EPOCH.timestamp())
    buffer.push(samples_of(POD, truth))
    decoy_truth = {
        f"{n} decoy": PowerProfile([(70, 5000)], refresh=1, epoch=EPOCH.timestamp())
        for n in SERVERS
    }
    buffer.push(samples_of(DECOY_POD, decoy_truth))
    stats = InfluxWriter(buffer, influx, delay=0).flush()
    assert stats.error is None
    assert stats.rejected == 0
    assert stats.steps == 2 * len(STEPS)
    return run


# -- running them --------------------------------------------------------------------------------


def run_span(sample: Sample) -> bool:
    return at(0).timestamp() <= sample.measured_at_ns / 1e9 <= at(70).timestamp()


def rows(client: InfluxDBClient, query: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """(tags, point) for every point of every series the query returns."""
    result = client.query(query, epoch="ms")
    out: list[tuple[dict[str, str], dict[str, Any]]] = []
    for (_measurement, tags), points in result.items():
        out.extend((dict(tags or {}), point) for point in points)
    return out


def tag_values(client: InfluxDBClient, query: str) -> list[str]:
    return [point["value"] for _tags, point in rows(client, query)]


def by_key(dashboard: dict[str, Any]) -> dict[str, str]:
    return {q.key: q.text for q in dashboard_queries(dashboard)}


def test_the_names_round_trip_into_influxdb_unchanged() -> None:
    # The variables list what InfluxDB stores; these names are stored exactly as given.
    for name in [POD, SCENARIO, *SERVERS, *(n for n, _a, _b in STEPS)]:
        assert tag_value(name) == name


def test_grafana_regex_escaping_matches_names_with_metacharacters_literally() -> None:
    for name in (POD, SCENARIO, *SERVERS):
        pattern = "^" + grafana_regex(name).replace("\\/", "/") + "$"
        assert re.fullmatch(pattern, name)
        assert not re.fullmatch(pattern, name + "x")
    assert grafana_regex(["a.b", "c/d"]) == "(a\\.b|c\\/d)"
    assert grafana_regex(["a.b"]) == "a\\.b"


def test_every_query_of_the_dashboard_returns_the_runs_data(
    run: Run, influx: InfluxDBClient, dashboard: dict[str, Any]
) -> None:
    queries = by_key(dashboard)
    report = run_report(run)
    start, end = at(RECORDED[0] - 5), at(RECORDED[1] + 5)
    tested: set[str] = set()

    def execute(key: str, variables: dict[str, Any]) -> list[tuple[dict[str, str], dict[str, Any]]]:
        tested.add(key)
        return rows(influx, interpolate(queries[key], variables, dashboard, start, end))

    # Template variables, each fed with what the one before it listed, as Grafana chains them.
    tested.add("variable:pod")
    pods = tag_values(influx, interpolate(queries["variable:pod"], {}, dashboard, start, end))
    assert POD in pods
    assert DECOY_POD in pods
    chosen: dict[str, Any] = {"pod": POD}
    key = "variable:scenario"
    tested.add(key)
    scenarios = tag_values(influx, interpolate(queries[key], chosen, dashboard, start, end))
    assert scenarios == [SCENARIO]
    chosen["scenario"] = SCENARIO
    tested.add("variable:run")
    runs = tag_values(influx, interpolate(queries["variable:run"], chosen, dashboard, start, end))
    assert runs == [str(run.pk)]  # not the decoy pod's run
    chosen["run"] = [str(run.pk)]

    # Power per server: both servers of the pod, none of the decoy's, every recorded second.
    series = execute("panel:Power per server:A", chosen)
    assert {tags["server"] for tags, _p in series} == set(SERVERS)
    for server in SERVERS:
        values = [p["mean"] for tags, p in series if tags["server"] == server]
        assert len(values) >= RECORDED[1] - RECORDED[0]
        assert min(values) > 150
        assert max(values) < 460

    # Total power: the sum of both servers; its mean over the load step matches the report.
    total = execute("panel:Total power of the pod:A", chosen)
    heavy = report["steps"][1]
    inside = [
        p["total"]
        for _t, p in total
        if at(21).timestamp() * 1000 <= p["time"] < at(49).timestamp() * 1000
    ]
    assert len(inside) >= 27
    assert sum(inside) / len(inside) == pytest.approx(heavy["mean_w"], rel=0.01)

    # Energy per step: each step of the run, within 1 % of the report.
    per_step = execute("panel:Energy per step:A", chosen)
    got = {tags["step"]: p for tags, p in per_step}
    assert set(got) == {name for name, _a, _b in STEPS}
    assert {tags["run"] for tags, _p in per_step} == {str(run.pk)}
    for step in report["steps"]:
        assert got[step["name"]]["Wh"] == pytest.approx(step["energy_wh"], rel=0.01)
        assert got[step["name"]]["Mean (W)"] == pytest.approx(step["mean_w"], rel=0.01)
    # The "All" runs value selects the same run (the decoy's run is another pod's).
    all_runs = rows(
        influx,
        interpolate(
            queries["panel:Energy per step:A"], {**chosen, "run": ALL}, dashboard, start, end
        ),
    )
    assert sorted(p["Wh"] for _t, p in all_runs) == sorted(p["Wh"] for _t, p in per_step)

    # Energy, mean and peak per step and server, against the report's per-server figures.
    per_server = execute("panel:Energy, mean and peak per step and server:A", chosen)
    cells = {(tags["step"], tags["server"]): p for tags, p in per_server}
    assert len(cells) == len(STEPS) * len(SERVERS)
    for step in report["steps"]:
        for figures in step["servers"]:
            cell = cells[(step["name"], figures["server"])]
            assert cell["Wh"] == pytest.approx(figures["energy_wh"], rel=0.01)
            assert cell["Mean (W)"] == pytest.approx(figures["mean_w"], rel=0.01)
            assert cell["Peak (W)"] == pytest.approx(figures["peak_w"], rel=0.01)
            assert cell["Samples"] == figures["sample_count"]

    # Idle vs run: outside the run, the sum of the servers' mean power then; inside the run,
    # the report's mean.
    outside = [s for s in samples_of(POD, profiles(EPOCH.timestamp())) if not run_span(s)]
    expected_idle = sum(
        mean([s.watts for s in outside if s.server == server]) for server in SERVERS
    )
    idle = execute("panel:Idle vs run (mean pod power):A", chosen)
    assert len(idle) == 1
    assert idle[0][1]["idle"] == pytest.approx(expected_idle, rel=1e-6)
    in_run = execute("panel:Idle vs run (mean pod power):B", chosen)
    assert len(in_run) == 1
    assert in_run[0][1]["in run"] == pytest.approx(report["total"]["mean_w"], rel=0.01)

    # Step annotations: a start and an end per step, at the step's times, titled and tagged.
    notes = execute("annotation:Steps", chosen)
    expected = sorted(
        (int(at(moment).timestamp() * 1000), event, name)
        for name, a, b in STEPS
        for event, moment in (("start", a), ("end", b))
    )
    assert sorted((p["time"], p["event"], p["step"]) for _t, p in notes) == expected
    for _tags, point in notes:
        assert point["title"] == f"{SCENARIO}: {point['step']}"
        assert point["step"] in point["text"]

    assert tested == set(queries), f"queries left untested: {set(queries) - tested}"


def test_every_panel_and_query_uses_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    assert len(provisioned) == 1
    source = provisioned[0]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "influxdb"
    assert source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["dbName"] == "energylab"
    expected = {"type": "influxdb", "uid": DATASOURCE_UID}
    for panel in dashboard["panels"]:
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]
    for query in dashboard_queries(dashboard):
        assert query.datasource == expected, query.key


def test_the_dashboard_is_well_formed_for_grafana_10_and_11(dashboard: dict[str, Any]) -> None:
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"]
    assert dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["pod", "scenario", "run"]
    keys = [q.key for q in dashboard_queries(dashboard)]
    assert len(keys) == len(set(keys))
    # Every variable reference goes through Grafana's regex format (see the module docstring).
    for query in dashboard_queries(dashboard):
        for match in _VARIABLE.finditer(query.text):
            name = match.group(1) or match.group(3) or match.group(4)
            if name in names:
                assert match.group(2) == "regex", f"{query.key}: {match.group(0)}"


def test_the_dashboards_provider_reads_the_mounted_folder() -> None:
    providers = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]
    assert all(p["type"] == "file" for p in providers)
