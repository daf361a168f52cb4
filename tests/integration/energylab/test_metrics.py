"""/metrics: figures shared by every process, read when Prometheus scrapes.

Polls are real: the poll task's code reads simulated Redfish BMCs over HTTP; the buffer is the
real Redis (this test process's key prefix), the writer writes to the real InfluxDB.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from collectors import metrics as collector_metrics
from collectors.models import BMCType, Pod, Server
from collectors.polling import PollOutcome
from collectors.simulators.redfish import RedfishSimulator
from collectors.tasks import poll_pod_shard
from energylab import metrics
from events import metrics as event_metrics
from events.ingest.buffer import BufferFull, Sample, SampleBuffer
from events.tasks import flush_samples

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(autouse=True)
def clean_redis(redis_url: str) -> Iterator[SampleBuffer]:
    buffer = SampleBuffer.from_settings()

    def wipe() -> None:
        buffer.clear()
        keys = list(buffer.client.scan_iter(f"{django_settings.REDIS_KEY_PREFIX}:metrics:*"))
        if keys:
            buffer.client.delete(*keys)
        metrics._paused_until = 0.0

    wipe()
    yield buffer
    wipe()


def scrape(client: Client, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    found: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def sample(i: int) -> Sample:
    return Sample("pod m", "node m", 100.0 + i, time.time_ns() + i, "dcmi")


def test_polls_of_simulated_bmcs_move_the_poll_counters_and_latency() -> None:
    with RedfishSimulator(230.0) as good, RedfishSimulator(180.0) as refusing:
        pod = Pod.objects.create(name="metrics pod", poll_interval=2)
        for name, sim, password in [
            ("rf-good", good, "password"),
            ("rf-wrong-password", refusing, "not-the-password"),
        ]:
            server = Server(
                pod=pod, name=name, bmc_type=BMCType.REDFISH, host=sim.base_url, username="admin"
            )
            server.password = password
            server.save()
        client = Client()
        before = scrape(client)
        assert value(before, "energylab_servers_polled", bmc_type="redfish") == 2
        assert value(before, "energylab_poll_failures_total", bmc_type="redfish") == 0

        assert poll_pod_shard(pod.pk) == {"polled": 1, "failed": 1}
        first = scrape(client)
        # the failing server now waits out its back-off: the next poll reads only the good one
        assert poll_pod_shard(pod.pk) == {"polled": 1, "failed": 0}
        second = scrape(client)

    assert value(first, "energylab_polls_total", bmc_type="redfish", result="ok") == 1
    assert value(first, "energylab_polls_total", bmc_type="redfish", result="failed") == 1
    assert value(first, "energylab_poll_failures_total", bmc_type="redfish") == 1
    assert value(first, "energylab_poll_latency_seconds_count", bmc_type="redfish") == 2
    assert 0 < value(first, "energylab_poll_latency_seconds_sum", bmc_type="redfish") < 10
    assert value(first, "energylab_poll_latency_seconds_bucket", bmc_type="redfish", le="+Inf") == 2
    assert value(first, "energylab_servers_in_backoff", bmc_type="redfish") == 1
    assert value(first, "energylab_buffer_depth_samples") == 1

    assert value(second, "energylab_polls_total", bmc_type="redfish", result="ok") == 2
    assert value(second, "energylab_poll_failures_total", bmc_type="redfish") == 1
    assert value(second, "energylab_poll_latency_seconds_count", bmc_type="redfish") == 3
    assert value(second, "energylab_buffer_depth_samples") == 2
    assert value(second, "energylab_servers_in_backoff", bmc_type="ipmi") == 0


def test_servers_nobody_polled_for_three_intervals_are_counted_stale() -> None:
    pod = Pod.objects.create(name="pod stale", poll_interval=10)
    for name in ("polled", "forgotten"):
        Server.objects.create(pod=pod, name=name, bmc_type=BMCType.IPMI, host="127.0.0.1")
    long_ago = timezone.now() - dt.timedelta(seconds=31)
    Server.objects.filter(name="forgotten").update(created=long_ago)
    found = scrape(Client())
    assert value(found, "energylab_servers_stale", bmc_type="ipmi") == 1
    assert value(found, "energylab_servers_stale", bmc_type="redfish") == 0


def test_latency_buckets_are_cumulative() -> None:
    outcomes = [
        PollOutcome(1, error="x", latency_s=0.003),
        PollOutcome(1, error="x", latency_s=0.2),
        PollOutcome(1, error="x", latency_s=30.0),
        PollOutcome(1, error="in flight", skipped=True),
    ]
    server = Server(pk=1, name="s", bmc_type=BMCType.IPMI)
    collector_metrics.record_polls(outcomes, {1: server})
    found = scrape(Client())
    bucket = "energylab_poll_latency_seconds_bucket"
    assert value(found, bucket, bmc_type="ipmi", le="0.005") == 1
    assert value(found, bucket, bmc_type="ipmi", le="0.1") == 1
    assert value(found, bucket, bmc_type="ipmi", le="0.25") == 2
    assert value(found, bucket, bmc_type="ipmi", le="10.0") == 2
    assert value(found, bucket, bmc_type="ipmi", le="+Inf") == 3
    assert value(found, "energylab_polls_total", bmc_type="ipmi", result="skipped") == 1
    assert value(found, "energylab_poll_failures_total", bmc_type="ipmi") == 3


def test_the_buffer_gauges_follow_pushes_and_acknowledgements(clean_redis: SampleBuffer) -> None:
    client = Client()
    assert value(scrape(client), "energylab_buffer_depth_samples") == 0
    assert value(scrape(client), "energylab_writer_lag_seconds") == 0

    clean_redis.push([sample(0), sample(1), sample(2)])
    assert value(scrape(client), "energylab_buffer_depth_samples") == 3
    time.sleep(0.05)
    clean_redis.push([sample(3), sample(4)])
    found = scrape(client)
    assert value(found, "energylab_buffer_depth_samples") == 5
    assert value(found, "energylab_writer_lag_seconds") >= 0.04

    entries = clean_redis.read_ready(older_than=0, max_samples=3)
    clean_redis.acknowledge(entries)
    assert value(scrape(client), "energylab_buffer_depth_samples") == 2
    clean_redis.quarantine(clean_redis.read_ready(older_than=0, max_samples=10), "refused")
    found = scrape(client)
    assert value(found, "energylab_buffer_depth_samples") == 0
    assert value(found, "energylab_buffer_rejected_batches") == 1


def test_samples_refused_by_a_full_buffer_are_counted_as_dropped(settings) -> None:
    settings.BUFFER_MAX_SAMPLES = 2
    buffer = SampleBuffer.from_settings()
    buffer.push([sample(0), sample(1)])
    with pytest.raises(BufferFull):
        buffer.push([sample(2), sample(3), sample(4)])
    found = scrape(Client())
    assert value(found, "energylab_buffer_dropped_samples_total") == 3
    assert value(found, "energylab_buffer_depth_samples") == 2


def test_samples_lost_with_the_buffer_are_counted(clean_redis: SampleBuffer) -> None:
    clean_redis.record_lost(18)
    assert value(scrape(Client()), "energylab_buffer_lost_samples_total") == 18


def test_writer_batches_are_counted_with_their_sizes(
    clean_redis: SampleBuffer, influxdb_database: str
) -> None:
    clean_redis.push([sample(i) for i in range(7)])
    assert flush_samples(time_budget=5.0)["points"] == 7
    found = scrape(Client())
    assert value(found, "energylab_writer_batch_size_points_count") == 1
    assert value(found, "energylab_writer_batch_size_points_sum") == 7
    assert value(found, "energylab_writer_batch_size_points_bucket", le="1.0") == 0
    assert value(found, "energylab_writer_batch_size_points_bucket", le="10.0") == 1
    assert value(found, "energylab_buffer_depth_samples") == 0


def test_runs_and_steps_are_counted_by_the_api_they_came_through(settings) -> None:
    settings.ALLOW_ANONYMOUS_EVENTS = True
    settings.ANONYMOUS_EVENTS_CREATE_PODS = True
    client = Client()
    answer = client.post(
        "/resources/recorders/environment/lab+pod",
        {"scenario": "vping", "step": "running"},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    client.post(
        "/resources/recorders/environment/lab+pod/step",
        {"step": "teardown"},
        content_type="application/json",
    )
    found = scrape(client)
    assert value(found, "energylab_runs_total", source="legacy") == 1
    assert value(found, "energylab_steps_total", source="legacy") == 2
    assert value(found, "energylab_runs_running") == 1


def test_it_needs_the_bearer_token_when_one_is_configured(settings) -> None:
    settings.METRICS_TOKEN = "scrape-s3cret"
    client = Client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer é"}).status_code == 401
    scrape(client, Authorization="Bearer scrape-s3cret")


def test_it_is_readable_anonymously_without_a_token() -> None:
    scrape(Client())


def test_it_answers_only_get() -> None:
    assert Client().post("/metrics").status_code == 405


def test_a_scrape_without_redis_still_answers_and_says_so(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    started = time.monotonic()
    found = scrape(Client())
    assert time.monotonic() - started < 5
    assert value(found, "energylab_redis_up") == 0
    assert ("energylab_servers_in_backoff", (("bmc_type", "ipmi"),)) in found


def test_recording_without_redis_never_raises_and_pauses(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    server = Server(pk=1, name="s", bmc_type=BMCType.IPMI)
    collector_metrics.record_polls([PollOutcome(1, error="x", latency_s=0.1)], {1: server})
    assert metrics._paused_until > time.monotonic()
    started = time.monotonic()
    event_metrics.record_batches([10])  # paused: no connection attempt at all
    assert time.monotonic() - started < 0.05
