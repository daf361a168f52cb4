"""Reports over the real InfluxDB: accuracy against a known profile, shape, CLI, web page."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from collectors.models import BMCType, Pod, Server
from collectors.simulators.profile import PowerProfile
from energylab.timestamps import to_ns
from events.ingest.buffer import Sample
from events.ingest.writer import InfluxWriter
from events.models import Run, Step
from events.reports.report import compare_runs, run_report

pytestmark = pytest.mark.django_db

EPOCH = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.UTC)
POD = 'pod, "reports" = yes'
SERVERS = ["alpha node", "béta\\2"]
STEPS = [("boot", 0, 20), ("load, heavy", 20, 50), ("cool=down", 50, 70)]
PROFILE = [(20, 180), (30, 420), (20, 210)]


def at(seconds: float) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def record(
    buffer,
    influx,
    run: Run,
    profiles: dict[str, PowerProfile],
    start: float,
    end: float,
    every: float = 1.0,
    counter: bool = False,
) -> None:
    samples = []
    for index, (server, profile) in enumerate(profiles.items()):
        t = start + 0.37 + index * 0.11
        while t <= end:
            samples.append(
                Sample(
                    run.pod.name,
                    server,
                    profile.watts_at(EPOCH.timestamp() + t),
                    int((EPOCH.timestamp() + t) * 1e6) * 1000,
                    "test",
                    energy_j=profile.counter_j(EPOCH.timestamp() + t) if counter else None,
                )
            )
            t += every
    buffer.push(samples)
    InfluxWriter(buffer, influx, delay=0).flush()


@pytest.fixture
def run() -> Run:
    pod = Pod.objects.create(name=POD, poll_interval=1)
    for name in SERVERS:
        Server.objects.create(pod=pod, name=name, bmc_type=BMCType.PUSH)
    run = Run.objects.create(pod=pod, scenario="s1", started_at=at(0), ended_at=at(70))
    for name, a, b in STEPS:
        Step.objects.create(run=run, name=name, started_at=at(a), ended_at=at(b))
    return run


def profiles(scale: float = 1.0) -> dict[str, PowerProfile]:
    return {
        name: PowerProfile(
            [(s, w * scale + 10 * i) for s, w in PROFILE],
            refresh=1,
            noise=5,
            seed=i,
            epoch=EPOCH.timestamp(),
        )
        for i, name in enumerate(SERVERS)
    }


def test_energy_per_step_is_within_one_percent_of_the_truth(buffer, influx, run) -> None:
    truth = profiles()
    record(buffer, influx, run, truth, -30, 100)
    report = run_report(run)
    assert [s["name"] for s in report["steps"]] == [n for n, _a, _b in STEPS]
    for step, (_name, a, b) in zip(report["steps"], STEPS, strict=True):
        expected = sum(
            p.energy_j(EPOCH.timestamp() + a, EPOCH.timestamp() + b) for p in truth.values()
        )
        assert step["energy_j"] == pytest.approx(expected, rel=0.01)
        assert step["energy_wh"] == pytest.approx(expected / 3600, rel=0.01)
        assert step["coverage"] == 1.0
        # The first step draws the idle power: a few joules below it are explained, not wrong.
        assert [w for w in step["warnings"] if "above idle" not in w] == []
        assert {s["server"] for s in step["servers"]} == set(SERVERS)
        for server in step["servers"]:
            one = truth[server["server"]].energy_j(EPOCH.timestamp() + a, EPOCH.timestamp() + b)
            assert server["energy_j"] == pytest.approx(one, rel=0.01)
    assert report["total"]["energy_j"] == pytest.approx(
        sum(s["energy_j"] for s in report["steps"]), rel=1e-6
    )
    # idle: the 5 minutes before the run hold samples of the first segment's power
    assert report["idle"]["source"].startswith("median")


def test_every_step_server_and_total_carries_bounds_around_the_truth(buffer, influx, run) -> None:
    truth = profiles()
    record(buffer, influx, run, truth, -30, 100)
    report = run_report(run)
    for step, (_name, a, b) in zip(report["steps"], STEPS, strict=True):
        start, end = EPOCH.timestamp() + a, EPOCH.timestamp() + b
        expected = sum(p.energy_j(start, end) for p in truth.values())
        assert step["energy_j_low"] <= expected <= step["energy_j_high"]
        for server in step["servers"]:
            one = truth[server["server"]].energy_j(start, end)
            assert server["energy_j_low"] <= one <= server["energy_j_high"]
    total = report["total"]
    assert total["energy_j_low"] <= total["energy_j"] <= total["energy_j_high"]
    assert total["energy_j_high"] == pytest.approx(
        sum(s["energy_j_high"] for s in report["steps"]), rel=1e-6
    )
    # Pushed samples: a pushing collector's accuracy, its refresh learned from its noise.
    assert report["sources"][SERVERS[0]] == {
        "refresh_s": pytest.approx(2.0, abs=0.1),
        "refresh_from": "learned",
        "accuracy_pct": 5.0,
        "accuracy_from": "default",
        "reading": "current",
    }


def test_a_servers_stated_accuracy_sets_the_width_of_its_bounds(buffer, influx, run) -> None:
    run.pod.servers.update(accuracy_pct=1, refresh_s=1)
    record(buffer, influx, run, {SERVERS[0]: PowerProfile.constant(300)}, -30, 100)
    step = run_report(run)["steps"][0]["servers"][0]
    assert (step["energy_j_low"], step["energy_j_high"]) == pytest.approx((20 * 297, 20 * 303))


def test_counters_are_used_when_the_bmc_has_them(buffer, influx, run) -> None:
    truth = profiles()
    record(buffer, influx, run, truth, -5, 75, counter=True)
    report = run_report(run)
    assert report["steps"][1]["method"] == "counter"
    expected = sum(
        p.energy_j(EPOCH.timestamp() + 20, EPOCH.timestamp() + 50) for p in truth.values()
    )
    assert report["steps"][1]["energy_j"] == pytest.approx(expected, rel=0.01)


def test_a_run_without_samples_says_so(influx, run) -> None:
    report = run_report(run)
    step = report["steps"][0]
    assert step["energy_j"] is None
    assert step["coverage"] == 0
    assert any("no server" in w for w in step["warnings"])


def test_gaps_lower_coverage_and_warn(buffer, influx, run) -> None:
    truth = profiles()
    record(buffer, influx, run, truth, -5, 25)
    record(buffer, influx, run, truth, 40, 75)
    step = run_report(run)["steps"][1]
    assert step["coverage"] < 0.9
    assert any("coverage" in w for w in step["warnings"])
    assert step["largest_gap_s"] > 14


def test_comparison_flags_a_run_well_above_its_history(buffer, influx, run) -> None:
    runs = [run]
    for k in range(1, 5):
        later = Run.objects.create(
            pod=run.pod, scenario="s1", started_at=at(200 * k), ended_at=at(200 * k + 70)
        )
        runs.append(later)
    for k, r in enumerate(runs):
        scale = 2.0 if k == 4 else 1.0
        prof = {
            name: PowerProfile([(70, 200 * scale)], refresh=1, epoch=EPOCH.timestamp() + 200 * k)
            for name in SERVERS
        }
        record(buffer, influx, r, prof, 200 * k - 2, 200 * k + 72)
    comparison = compare_runs(runs)
    assert [row["regression"] for row in comparison["runs"]] == [False, False, False, False, True]
    assert comparison["energy"]["runs"] == 5


def test_the_cli_prints_a_table_json_and_csv(buffer, influx, run, capsys) -> None:
    record(buffer, influx, run, profiles(), -5, 75)
    call_command("energy_report", "--run", str(run.pk))
    table = capsys.readouterr().out
    assert "load, heavy" in table
    assert "TOTAL" in table
    assert "béta\\2" in table
    call_command("energy_report", "--run", str(run.pk), "--format", "json")
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"run", "steps", "total"}
    assert set(data["steps"][0]) >= {
        "name",
        "started_at",
        "ended_at",
        "duration_s",
        "energy_j",
        "energy_wh",
        "mean_w",
        "peak_w",
        "coverage",
        "warnings",
        "servers",
    }
    call_command("energy_report", "--pod", POD, "--scenario", "s1", "--format", "csv")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run,pod,scenario,step,server")
    assert len(lines) == 1 + 3 * (1 + len(SERVERS)) + 1


def test_samples_read_in_parallel_slices_are_each_read_once(
    buffer, influx, run, monkeypatch
) -> None:
    from events.reports import report as reports

    # A sample every second on whole seconds, and slices of whole seconds: samples fall on
    # the slices' bounds, which belong to the later slice only (the last one keeps its end).
    start, end = at(0), at(12)
    buffer.push(
        Sample(POD, name, 100.0 + k, int(at(k).timestamp()) * 10**9, "test")
        for k in range(13)
        for name in SERVERS
    )
    InfluxWriter(buffer, influx, delay=0).flush()
    monkeypatch.setattr(reports, "QUERY_SLICES", 4)
    sliced = reports.fetch_samples(POD, start, end)
    monkeypatch.setattr(reports, "QUERY_SLICES", 1)
    whole = reports.fetch_samples(POD, start, end)
    assert sorted(sliced) == sorted(whole) == sorted(SERVERS)
    for name in SERVERS:
        assert sliced[name].t.tolist() == whole[name].t.tolist()
        assert sliced[name].t.tolist() == [at(k).timestamp() for k in range(13)]
        assert sliced[name].w.tolist() == [100.0 + k for k in range(13)]
        assert sliced[name].e is None


def test_a_point_rewritten_with_other_run_tags_counts_once(influx) -> None:
    from events.ingest.lineprotocol import tag_set
    from events.reports.report import fetch_samples

    t_us = int(at(5).timestamp()) * 10**6
    lines = [
        f"power{tag_set({'pod': POD, 'server': 'n1', 'step': step})} watts={w} {t_us + d}"
        for step, w, d in [("a", 100.0, 0), ("b", 100.0, 0), ("a", 120.0, 10**6)]
    ]
    influx.write_points(lines, protocol="line", time_precision="u")
    series = fetch_samples(POD, at(0), at(10))["n1"]
    assert series.t.tolist() == [at(5).timestamp(), at(6).timestamp()]
    assert series.w.tolist() == [100.0, 120.0]


def test_the_cli_refuses_an_unknown_run() -> None:
    with pytest.raises(CommandError, match="no run with id 999999"):
        call_command("energy_report", "--run", "999999")


def test_the_run_page_embeds_the_report_and_the_series(
    buffer, influx, run, admin_client: Client
) -> None:
    record(buffer, influx, run, profiles(), -5, 75)
    response = admin_client.get(f"/runs/{run.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="power-chart"' in body
    assert "chart-4.6.1.umd.min.js" in body
    assert "load, heavy" in body
    listing = admin_client.get("/runs/", {"pod": POD})
    assert f"/runs/{run.pk}/" in listing.content.decode()


def test_the_run_pages_need_a_login(run, client: Client) -> None:
    assert client.get(f"/runs/{run.pk}/").status_code == 302


def test_the_api_serves_a_runs_report_and_a_comparison(
    buffer, influx, run, admin_client: Client
) -> None:
    record(buffer, influx, run, profiles(), -5, 75)
    response = admin_client.get(f"/api/v1/runs/{run.pk}/energy/")
    assert response.status_code == 200
    body = response.json()
    assert body["run"]["id"] == run.pk
    assert [s["name"] for s in body["steps"]] == [n for n, _a, _b in STEPS]
    comparison = admin_client.get("/api/v1/energy/comparison/", {"pod": POD, "scenario": "s1"})
    assert comparison.status_code == 200
    assert len(comparison.json()["runs"]) == 1


def test_the_api_answers_404_for_an_unknown_run_and_400_for_a_bad_query(
    admin_client: Client,
) -> None:
    assert admin_client.get("/api/v1/runs/999999/energy/").status_code == 404
    assert admin_client.get("/api/v1/energy/comparison/", {"pod": "p"}).status_code == 400
    missing = admin_client.get("/api/v1/energy/comparison/", {"pod": "p", "scenario": "s"})
    assert missing.status_code == 404


def test_reports_need_credentials(run, client: Client) -> None:
    assert client.get(f"/api/v1/runs/{run.pk}/energy/").status_code in (401, 403)


def test_a_report_while_influxdb_is_away_is_a_503_not_a_500(
    run, admin_client: Client, settings
) -> None:
    settings.INFLUXDB_URL = "http://127.0.0.1:9"
    response = admin_client.get(f"/api/v1/runs/{run.pk}/energy/")
    assert response.status_code == 503
    assert "InfluxDB" in response.json()["detail"]
    page = admin_client.get(f"/runs/{run.pk}/")
    assert page.status_code == 503


def test_power_so_large_that_energy_overflows_is_reported_unknown_not_infinite(
    buffer, influx, run
) -> None:
    # Stored before inputs were bounded, or pushed by a broken collector: the report must
    # still be valid JSON.
    samples = [
        Sample(run.pod.name, SERVERS[0], 1e308, to_ns(at(t)), "test") for t in (5.0, 6.0, 7.0)
    ]
    buffer.push(samples)
    InfluxWriter(buffer, influx, delay=0).flush()
    report = run_report(run)
    json.dumps(report, allow_nan=False)
    boot = report["steps"][0]
    assert boot["energy_j"] is None
    assert any("out of range" in w for w in boot["warnings"])
    json.dumps(compare_runs([run]), allow_nan=False)


def test_a_server_that_left_the_pod_before_the_run_is_not_in_its_report(
    buffer, influx, run
) -> None:
    record(buffer, influx, run, profiles(), -30, 100)
    gone = {"old node": PowerProfile([(400, 100)], refresh=1, epoch=EPOCH.timestamp())}
    record(buffer, influx, run, gone, -200, -60)  # only in the idle window, not a server now
    report = run_report(run)
    assert report["servers"] == sorted(SERVERS)
    assert report["total"]["coverage"] == 1.0


def test_a_server_of_the_pod_silent_during_the_run_shows_as_no_coverage(
    buffer, influx, run
) -> None:
    truth = profiles()
    record(buffer, influx, run, {SERVERS[0]: truth[SERVERS[0]]}, -30, 100)
    record(buffer, influx, run, {SERVERS[1]: truth[SERVERS[1]]}, -200, -60)
    report = run_report(run)
    assert report["servers"] == sorted(SERVERS)
    silent = next(s for s in report["total"]["servers"] if s["server"] == SERVERS[1])
    assert silent["coverage"] == 0
    assert report["total"]["coverage"] == 0
    # Its energy is unknown, so is the range of the sum (not one drawn from old samples).
    assert silent["energy_j_low"] is None
    assert report["total"]["energy_j_low"] is None
    assert report["total"]["energy_j_high"] is None


def test_a_server_pushing_at_its_own_pace_is_judged_against_it(buffer, influx, run) -> None:
    # A legacy collector posting every 5 s to a pod polled every second.
    truth = profiles()
    record(buffer, influx, run, truth, -30, 100, every=5.0)
    step = run_report(run)["steps"][1]  # 30 s long
    assert step["coverage"] == 1.0
    assert not any("coverage" in w for w in step["warnings"])
    expected = sum(
        p.energy_j(EPOCH.timestamp() + 20, EPOCH.timestamp() + 50) for p in truth.values()
    )
    assert step["energy_j"] == pytest.approx(expected, rel=0.05)
