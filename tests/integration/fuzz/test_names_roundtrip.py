"""Property tests: any printable name (spaces, ``, = " ' \\``, unicode, emoji, regex and
InfluxQL metacharacters) sent as a pod, scenario or step through the events API, and as a
server's name on its samples, comes back unchanged in the run's report, after the writer put it
in InfluxDB as a tag; names with control characters are refused with a 400; InfluxQL injection
attempts are stored as names and do nothing else."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from events.influx import make_client
from events.ingest.buffer import Sample, SampleBuffer
from events.ingest.correlation import to_ns
from events.ingest.writer import InfluxWriter
from events.models import Run
from events.reports.report import run_report

pytestmark = pytest.mark.django_db

REFUSED = ("Cc", "Cs", "Zl", "Zp")  # what energylab.validators refuses
METACHARACTERS = " ,=\"'\\`/.*+?^$|()[]{};:-#⚡😀\u200b\u00a0"
names = st.text(
    alphabet=st.one_of(
        st.sampled_from(METACHARACTERS), st.characters(blacklist_categories=REFUSED)
    ),
    min_size=1,
    max_size=40,
)
INJECTIONS = [
    "x' OR 1=1 --",
    '"; DROP DATABASE energylab',
    f'"; DROP DATABASE "{"{db}"}"; --',
    "/ .* /",
    'x" OR "server" =~ /.*/ --',
    "a'; DROP MEASUREMENT power; SELECT '",
    "$pod",
    "\\",
    "a\\",
    "a\\ b\\,c\\=d",
]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
counter = itertools.count()


@pytest.fixture
def pipeline(influxdb_database: str, redis_url: str, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "events": "1000000/min",
            "measurements": "1000000/min",
        },
    }
    buffer = SampleBuffer(
        redis.Redis.from_url(redis_url), 1_000_000, prefix=f"{django_settings.REDIS_KEY_PREFIX}-n"
    )
    buffer.clear()
    client = APIClient()
    client.force_authenticate(User.objects.create_user("names"))
    yield client, InfluxWriter(buffer, make_client(), delay=0), buffer
    buffer.clear()


def record(
    client: APIClient, writer: InfluxWriter, pod: str, scenario: str, step: str, server: str
):
    """One run of one step on ``pod``, ten samples of ``server`` inside it; its report."""
    start = T0 + dt.timedelta(minutes=next(counter))
    at = lambda s: (start + dt.timedelta(seconds=s)).isoformat()  # noqa: E731
    answer = client.post(
        "/api/v1/events/",
        {"type": "start", "pod": pod, "scenario": scenario, "step": step, "at": at(0)},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    writer.buffer.push(
        Sample(pod, server, 100.0, to_ns(start) + i * 1_000_000_000, "test") for i in range(1, 11)
    )
    answer = client.post(
        "/api/v1/events/", {"type": "stop", "pod": pod, "at": at(11)}, format="json"
    )
    assert answer.status_code == 200, answer.content
    stats = writer.flush()
    assert stats.error is None, stats
    assert stats.rejected == 0, stats
    return run_report(Run.objects.get(pod__name=pod, started_at=start))


@given(pod=names, scenario=names, step=names, server=names)
@example(pod="a b,c=d", scenario='"x"', step="a\\", server="\\ ,=\"'`⚡😀")
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.timeout(120)
def test_any_printable_name_comes_back_unchanged_in_the_report(
    pipeline, pod: str, scenario: str, step: str, server: str
) -> None:
    client, writer, _buffer = pipeline
    pod = f"{pod}#{next(counter)}"  # one pod per example; the name is still arbitrary
    report = record(client, writer, pod, scenario, step, server)
    assert report["run"]["pod"] == pod
    assert report["run"]["scenario"] == scenario
    assert [s["name"] for s in report["steps"]] == [step]
    assert report["servers"] == [server]
    assert [s["server"] for s in report["steps"][0]["servers"]] == [server]
    assert report["steps"][0]["energy_j"] == pytest.approx(1100.0)  # 100 W over the 11 s step


@given(
    name=st.tuples(names, st.characters(whitelist_categories=("Cc", "Zl", "Zp")), names).map(
        "".join
    )
)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.timeout(60)
def test_a_name_with_a_control_character_is_refused_with_a_400(pipeline, name: str) -> None:
    client, _writer, _buffer = pipeline
    for body in (
        {"type": "start", "pod": name, "scenario": "s"},
        {"type": "start", "pod": "p", "scenario": name},
        {"type": "start", "pod": "p", "scenario": "s", "step": name},
    ):
        answer = client.post("/api/v1/events/", body, format="json")
        assert answer.status_code == 400, (body, answer.content)
    assert not Run.objects.exists()


@pytest.mark.timeout(60)
def test_influxql_injections_in_names_are_stored_as_names_and_do_nothing(
    pipeline, influxdb_database: str
) -> None:
    client, writer, _buffer = pipeline
    bystander = record(client, writer, "bystander pod", "s", "step", "bystander")
    influx = make_client()

    def bystander_points() -> int:
        result = influx.query(
            'SELECT count("watts") FROM "power" WHERE "pod" = $pod',
            bind_params={"pod": "bystander pod"},
        )
        return sum(p["count"] for p in result.get_points())

    before = bystander_points()
    for index, name in enumerate(INJECTIONS):
        name = name.replace("{db}", influxdb_database)
        report = record(client, writer, f"{name} pod {index}", name, name, name)
        assert report["servers"] == [name]
        assert [s["name"] for s in report["steps"]] == [name]
    databases = {d["name"] for d in influx.get_list_database()}
    measurements = {m["name"] for m in influx.get_list_measurements()}
    print(
        f"{len(INJECTIONS)} injection names stored and reported as sent; bystander points "
        f"before {before}, after {bystander_points()}; database kept: "
        f"{influxdb_database in databases}; measurements {sorted(measurements)}"
    )
    assert influxdb_database in databases
    assert "power" in measurements
    assert bystander_points() == before == 10
    assert run_report(Run.objects.get(pod__name="bystander pod")) == bystander
