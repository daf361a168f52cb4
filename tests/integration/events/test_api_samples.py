"""GET /api/v1/runs/{id}/samples/: a run's raw samples streamed as CSV or JSON lines, over the
real InfluxDB."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from collectors.models import Pod
from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.testing import free_port
from energylab.timestamps import to_ns
from events.ingest.buffer import Sample, SampleBuffer
from events.ingest.writer import InfluxWriter
from events.models import Run, Step
from events.reports import export

pytestmark = pytest.mark.django_db

EPOCH = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.UTC)
POD = "pod, \"samples\" = 'yes' \\ end"
SERVER = "node, a = \"b\" 'c' \\d e\\"
SENSOR = 'inlet, temp = "x" \\'


def at(seconds: float) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def ns(seconds: float) -> int:
    return to_ns(EPOCH) + int(seconds * 1e6) * 1000


@pytest.fixture
def run(buffer: SampleBuffer, influx: Any) -> Run:
    """A run of 0-10 s with steps `boot` (0-4 s) and `load, "x"` (5-10 s), one sample a second
    from -2 s to 12 s, and a temperature at 6.500000789 s."""
    pod = Pod.objects.create(name=POD, poll_interval=1)
    run = Run.objects.create(pod=pod, scenario="s", started_at=at(0), ended_at=at(10))
    Step.objects.create(run=run, name="boot", started_at=at(0), ended_at=at(4))
    Step.objects.create(run=run, name='load, "x"', started_at=at(5), ended_at=at(10))
    samples = [
        Sample(POD, SERVER, 100.0 + t, ns(t + 0.25), "test", energy_j=10.0 * t if t > 5 else None)
        for t in range(-2, 13)
    ]
    # Nanoseconds are stored as measured: the export gives them back whole.
    samples.append(Sample(POD, SERVER, 21.5, ns(6.5) + 789, "test", sensor=SENSOR, unit="°C"))
    buffer.push(samples)
    InfluxWriter(buffer, influx, delay=0).flush()
    return run


def body(answer: Any) -> str:
    assert answer.status_code == 200, answer.content
    return b"".join(answer.streaming_content).decode("utf-8")


def test_csv_holds_the_run_s_samples_with_their_steps_and_names_round_trip(
    client: APIClient, run: Run
) -> None:
    answer = client.get(f"/api/v1/runs/{run.pk}/samples/", {"format": "csv"})
    assert answer["Content-Type"].startswith("text/csv")
    assert f"run-{run.pk}-samples.csv" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body(answer))))
    power = [r for r in rows if r["sensor"] == "power"]
    assert [float(r["value"]) for r in power] == [100.0 + t for t in range(10)]
    assert {r["server"] for r in rows} == {SERVER}
    assert [r["step"] for r in power] == ["boot"] * 4 + [""] + ['load, "x"'] * 5
    assert power[0]["time"] == "2026-11-20T08:00:00.250000000Z"
    assert int(power[0]["time_ns"]) == ns(0.25)
    assert (power[0]["energy_j"], power[6]["energy_j"]) == ("", "60.0")
    (temperature,) = [r for r in rows if r["sensor"] != "power"]
    assert (temperature["sensor"], temperature["unit"]) == (SENSOR, "°C")
    assert (float(temperature["value"]), temperature["step"]) == (21.5, 'load, "x"')
    assert temperature["time"] == "2026-11-20T08:00:06.500000789Z"
    assert int(temperature["time_ns"]) == ns(6.5) + 789


def test_json_lines_parse_one_object_per_sample(client: APIClient, run: Run) -> None:
    answer = client.get(f"/api/v1/runs/{run.pk}/samples/", HTTP_ACCEPT="application/x-ndjson")
    lines = body(answer).splitlines()
    assert answer["Content-Type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 11
    assert all(list(row) == list(export.COLUMNS) for row in rows)
    first = next(r for r in rows if r["sensor"] == "power")
    assert (first["server"], first["value"], first["energy_j"], first["step"]) == (
        SERVER,
        100.0,
        None,
        "boot",
    )
    assert first["time_ns"] == ns(0.25)


def test_jsonl_is_chosen_by_the_format_parameter(client: APIClient, run: Run) -> None:
    answer = client.get(f"/api/v1/runs/{run.pk}/samples/", {"format": "jsonl"})
    assert answer["Content-Type"].startswith("application/jsonl")
    assert len(body(answer).splitlines()) == 11


def test_a_run_without_samples_is_a_csv_header_alone(client: APIClient, influx: Any) -> None:
    pod = Pod.objects.create(name="quiet", poll_interval=1)
    run = Run.objects.create(pod=pod, scenario="s", started_at=at(0), ended_at=at(10))
    text = body(client.get(f"/api/v1/runs/{run.pk}/samples/"))
    assert text.splitlines() == [",".join(export.COLUMNS)]


@pytest.mark.parametrize(
    ("query", "headers", "status", "says"),
    [
        ({"format": "xml"}, {}, 400, "csv or jsonl"),
        ({}, {"HTTP_ACCEPT": "application/xml"}, 406, "Accept"),
    ],
)
def test_an_unknown_format_is_a_4xx_in_json(
    client: APIClient,
    run: Run,
    query: dict[str, str],
    headers: dict[str, Any],
    status: int,
    says: str,
) -> None:
    answer = client.get(f"/api/v1/runs/{run.pk}/samples/", query, **headers)
    assert answer.status_code == status
    assert answer["Content-Type"].startswith("application/json")
    assert says in json.dumps(answer.json())


def test_an_unknown_run_is_a_404_in_json(client: APIClient) -> None:
    answer = client.get("/api/v1/runs/999999/samples/", {"format": "csv"})
    assert answer.status_code == 404
    assert "no run" in answer.json()["detail"]


def test_a_long_run_is_read_and_written_chunk_after_chunk(
    client: APIClient, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "CHUNK_ROWS", 3)
    assert [len(rows) for rows in export.chunks_of_rows(run)] == [3, 3, 3, 1, 1]
    answer = client.get(f"/api/v1/runs/{run.pk}/samples/", {"format": "jsonl"})
    assert len(body(answer).splitlines()) == 11


def test_influxdb_down_is_a_503_before_anything_is_streamed(
    client: APIClient, run: Run, settings: Any
) -> None:
    settings.INFLUXDB_URL = f"http://127.0.0.1:{free_port()}"
    answer = client.get(f"/api/v1/runs/{run.pk}/samples/")
    assert answer.status_code == 503
    assert "InfluxDB" in answer.json()["detail"]


def test_the_run_page_shows_the_provenance_and_links_the_samples(
    admin_client: Any, run: Run
) -> None:
    Run.objects.filter(pk=run.pk).update(
        commit="3f786850e387550fdab836ed7e6dc881de23001b",
        branch="feature/<b>",
        ci_url="https://ci.example/job/7",
        ci_system="jenkins",
        build="7",
        labels={"vnf": "vFW"},
    )
    page = admin_client.get(f"/runs/{run.pk}/").content.decode()
    assert 'title="3f786850e387550fdab836ed7e6dc881de23001b"' in page
    assert "feature/&lt;b&gt;" in page
    assert '<a href="https://ci.example/job/7"' in page
    assert "jenkins job #7" in page
    assert f"/api/v1/runs/{run.pk}/samples/?format=csv" in page
    assert f"/api/v1/runs/{run.pk}/samples/?format=jsonl" in page
    report = admin_client.get(f"/api/v1/runs/{run.pk}/energy/").json()
    assert (report["run"]["branch"], report["run"]["labels"]) == ("feature/<b>", {"vnf": "vFW"})
