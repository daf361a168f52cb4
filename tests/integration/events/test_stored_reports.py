"""Stored reports over the real services: stored when final, served without InfluxDB, and
recomputed after a late correction (late samples, an edited step)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from collectors.models import BMCType, Pod, Server
from energylab.testing import free_port
from events.ingest.buffer import Sample, SampleBuffer
from events.ingest.writer import InfluxWriter
from events.models import ReportFigure, Run, RunReport, Step
from events.reports import stored, tasks
from events.reports.report import ReportUnavailable, run_report

pytestmark = pytest.mark.django_db

EPOCH = dt.datetime(2026, 11, 21, 9, 0, 0, tzinfo=dt.UTC)
POD = "stored pod"
SERVERS = ["n1", "n2"]
STEPS = [("boot", 0, 20), ("load", 20, 50), ("cool", 50, 70)]


def at(seconds: float) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def samples(server: str, start: float, end: float, watts: float) -> list[Sample]:
    out = []
    t = start + 0.25
    while t <= end:
        ns = int((EPOCH.timestamp() + t) * 1e6) * 1000
        out.append(Sample(POD, server, watts, ns, "test"))
        t += 1.0
    return out


def write(buffer: SampleBuffer, influx, batch: list[Sample]) -> None:
    buffer.push(batch)
    writer = InfluxWriter(buffer, influx, delay=0, on_written=stored.samples_written)
    assert writer.flush().error is None


@pytest.fixture
def run(buffer: SampleBuffer, influx) -> Run:
    pod = Pod.objects.create(name=POD, poll_interval=1)
    for name in SERVERS:
        Server.objects.create(pod=pod, name=name, bmc_type=BMCType.PUSH)
    run = Run.objects.create(pod=pod, scenario="s", started_at=at(0), ended_at=at(70))
    for name, a, b in STEPS:
        Step.objects.create(run=run, name=name, started_at=at(a), ended_at=at(b))
    # n2 is silent from 30 s to 50 s: late samples fill that gap in one test.
    write(
        buffer,
        influx,
        samples("n1", -30, 100, 200.0)
        + samples("n2", -30, 30, 100.0)
        + samples("n2", 50, 100, 100.0),
    )
    return Run.objects.select_related("pod").get(pk=run.pk)


def test_a_final_report_is_stored_with_its_figures_per_step_and_server(run: Run) -> None:
    report = run_report(run)
    assert report["final"] is True
    row = RunReport.objects.get(run=run)
    assert not row.stale
    assert row.energy_j == report["total"]["energy_j"]
    assert row.duration_s == 70.0
    assert row.idle_w == report["idle"]["watts"]
    figures = ReportFigure.objects.filter(report=row)
    assert figures.count() == (len(STEPS) + 1) * (len(SERVERS) + 1)
    load = figures.get(step_index=1, server="")
    assert load.step == "load"
    assert load.energy_j == report["steps"][1]["energy_j"]
    assert figures.get(step_index=None, server="n1").energy_j == pytest.approx(200.0 * 70, 0.01)
    assert run_report(run) == report  # served from the database, the same


def test_a_stored_report_is_served_while_influxdb_is_unreachable(run: Run, settings) -> None:
    report = run_report(run)
    settings.INFLUXDB_URL = f"http://127.0.0.1:{free_port()}"
    assert run_report(run) == report
    client = Client()
    client.force_login(_user())
    answer = client.get(f"/api/v1/runs/{run.pk}/energy/")
    assert answer.status_code == 200
    assert answer.json()["total"]["energy_j"] == report["total"]["energy_j"]


def test_a_running_run_is_computed_every_time_and_never_stored(run: Run) -> None:
    Run.objects.filter(pk=run.pk).update(ended_at=None)
    running = Run.objects.select_related("pod").get(pk=run.pk)
    assert run_report(running)["final"] is False
    assert not RunReport.objects.filter(run=run).exists()


def test_late_samples_mark_the_report_stale_and_the_task_recomputes_it(
    run: Run, buffer: SampleBuffer, influx
) -> None:
    before = run_report(run)
    assert before["steps"][1]["servers"][1]["coverage"] < 0.9
    write(buffer, influx, samples("n2", 30, 50, 100.0))
    assert RunReport.objects.get(run=run).stale
    assert stored.due_run_ids(limit=1000) == [run.pk]
    assert tasks.store_report(run.pk) is True
    after = RunReport.objects.get(run=run)
    assert not after.stale
    assert after.document["steps"][1]["servers"][1]["coverage"] == 1.0
    assert run.pk not in stored.due_run_ids(limit=1000)


def test_samples_of_another_time_leave_the_report_alone(
    run: Run, buffer: SampleBuffer, influx
) -> None:
    run_report(run)
    write(buffer, influx, samples("n1", 3600, 3610, 200.0))
    assert not RunReport.objects.get(run=run).stale


def test_an_edited_step_marks_the_report_stale_and_it_is_recomputed(run: Run) -> None:
    before = run_report(run)
    step = Step.objects.get(run=run, name="cool")
    step.ended_at = at(60)
    step.save()
    assert RunReport.objects.get(run=run).stale
    after = run_report(Run.objects.select_related("pod").get(pk=run.pk))
    assert after["steps"][2]["duration_s"] == 10.0
    assert before["steps"][2]["duration_s"] == 20.0
    assert not RunReport.objects.get(run=run).stale


def test_a_stale_report_is_served_with_a_warning_while_influxdb_is_unreachable(
    run: Run, settings
) -> None:
    report = run_report(run)
    stored.run_changed([run.pk])
    settings.INFLUXDB_URL = f"http://127.0.0.1:{free_port()}"
    served = run_report(run)
    assert served["total"] == report["total"]
    assert stored.STALE_UNREADABLE in served["warnings"]


def test_a_run_past_the_retention_keeps_its_figures(run: Run, influx) -> None:
    report = run_report(run)
    influx.query('DROP MEASUREMENT "power"')  # what the retention policy does to old samples
    stored.run_changed([run.pk])
    kept = run_report(run)
    assert kept["total"]["energy_j"] == report["total"]["energy_j"]
    assert stored.KEPT_PAST_RETENTION in kept["warnings"]
    assert not RunReport.objects.get(run=run).stale


def test_without_a_stored_report_influxdb_away_is_still_an_error(run: Run, settings) -> None:
    settings.INFLUXDB_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ReportUnavailable):
        run_report(run)


def test_beat_sends_the_runs_whose_report_is_due(run: Run, monkeypatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(tasks.store_report, "apply_async", lambda args, **kw: sent.append(args[0]))
    assert tasks.queue_final_reports() == [run.pk]
    assert sent == [run.pk]
    tasks.store_report(run.pk)
    assert tasks.queue_final_reports() == []


def _user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("reader", password="x-Pass-123")


def test_an_operator_has_stored_reports_recomputed_from_the_admin(run: Run) -> None:
    from django.contrib.auth import get_user_model

    run_report(run)
    admin = get_user_model().objects.create_superuser("ops", "o@example.org", "x-Pass-123")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/events/runreport/")
    assert listing.status_code == 200
    answer = client.post(
        "/admin/events/runreport/",
        {"action": "recompute", "_selected_action": [run.pk]},
        follow=True,
    )
    assert answer.status_code == 200
    assert RunReport.objects.get(run=run).stale
    assert stored.due_run_ids(limit=1000) == [run.pk]
