"""A pod's shards: each poll loads only its own servers, and shards are spread over the interval."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from collectors import schedule
from collectors.models import BMCType, Pod, Server
from collectors.tasks import servers_due

pytestmark = pytest.mark.django_db(transaction=True)


def make_pod(n: int, interval: int = 5, name: str = "p") -> Pod:
    pod = Pod.objects.create(name=name, poll_interval=interval)
    Server.objects.bulk_create(
        Server(pod=pod, name=f"{name}-s{i:03d}", bmc_type=BMCType.IPMI, host="h") for i in range(n)
    )
    schedule.sync_pod(pod)
    return pod


def test_the_shards_of_a_pod_split_its_servers_evenly_and_each_once(settings) -> None:
    settings.POLL_SHARD_SIZE = 10
    pod = make_pod(35)
    shards = schedule.wanted_shards(pod)
    assert shards == 4
    seen = [s.name for i in range(shards) for s in servers_due(pod, i, shards)]
    assert sorted(seen) == sorted(pod.servers.values_list("name", flat=True))
    assert sorted(len(servers_due(pod, i, shards)) for i in range(shards)) == [8, 9, 9, 9]


def test_the_shard_query_loads_only_its_own_servers(settings) -> None:
    settings.POLL_SHARD_SIZE = 10
    pod = make_pod(40)
    with CaptureQueriesContext(connection) as queries:
        due = servers_due(pod, 1, 4)
    assert len(due) == 10
    assert len(queries) == 1  # one query, the pod not joined nor fetched again
    assert "ROW_NUMBER" in queries[0]["sql"].upper()


def test_a_server_keeps_its_shard_while_others_back_off(settings) -> None:
    settings.POLL_SHARD_SIZE = 10
    pod = make_pod(40)
    before = {s.name for s in servers_due(pod, 2, 4)}
    other = Server.objects.filter(pod=pod).exclude(name__in=before).order_by("pk")[:5]
    Server.objects.filter(pk__in=[s.pk for s in other]).update(
        backoff_until=timezone.now() + dt.timedelta(minutes=5)
    )
    assert {s.name for s in servers_due(pod, 2, 4)} == before


def test_servers_backing_off_are_left_out_of_their_shard(settings) -> None:
    settings.POLL_SHARD_SIZE = 10
    pod = make_pod(20)
    first = servers_due(pod, 0, 2)[0]
    Server.objects.filter(pk=first.pk).update(
        backoff_until=timezone.now() + dt.timedelta(minutes=5)
    )
    assert first.pk not in {s.pk for s in servers_due(pod, 0, 2)}


def test_shards_are_staggered_evenly_across_the_interval(settings) -> None:
    settings.POLL_SHARD_SIZE = 10
    pod = make_pod(40, interval=8)
    tasks = PeriodicTask.objects.filter(name__startswith=f"poll pod {pod.pk} ")
    offsets = {}
    for task in tasks:
        shard = json.loads(task.kwargs)["shard"]
        since = (task.start_time - schedule.PHASE_ORIGIN).total_seconds()
        offsets[shard] = since % 8
    assert len(offsets) == 4
    # consecutive shards two seconds apart (8 s / 4 shards), wherever the pod's phase puts them
    for shard in range(4):
        gap = (offsets[(shard + 1) % 4] - offsets[shard]) % 8
        assert gap == pytest.approx(2.0, abs=0.002)


def test_two_pods_do_not_fire_their_shards_together() -> None:
    first, second = make_pod(3, name="a"), make_pod(3, name="b")
    (t1,) = PeriodicTask.objects.filter(name__startswith=f"poll pod {first.pk} ")
    (t2,) = PeriodicTask.objects.filter(name__startswith=f"poll pod {second.pk} ")
    gap = abs((t1.start_time - t2.start_time).total_seconds()) % 5
    assert 0.5 < gap < 4.5


def test_syncing_an_unchanged_pod_leaves_its_tasks_alone(settings) -> None:
    settings.POLL_SHARD_SIZE = 10
    pod = make_pod(25)
    changed = {t.name: t.date_changed for t in PeriodicTask.objects.all()}
    schedule.sync_pod(pod)
    assert {t.name: t.date_changed for t in PeriodicTask.objects.all()} == changed
