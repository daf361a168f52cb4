"""Beat's schedule follows the pods and servers in the database."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from collectors.models import BMCType, Pod, Server

pytestmark = pytest.mark.django_db(transaction=True)


def poll_tasks(pod: Pod) -> list[PeriodicTask]:
    return list(PeriodicTask.objects.filter(name__startswith=f"poll pod {pod.pk} "))


def add_server(pod: Pod, name: str, **kwargs) -> Server:
    return Server.objects.create(pod=pod, name=name, bmc_type=BMCType.IPMI, host="h", **kwargs)


def test_a_pod_with_servers_is_polled_at_its_interval_on_its_queue() -> None:
    pod = Pod.objects.create(name="p", poll_interval=7, queue="lab-east")
    add_server(pod, "a")
    (task,) = poll_tasks(pod)
    assert task.interval.every == 7
    assert task.queue == "lab-east"
    assert task.task == "collectors.tasks.poll_pod_shard"
    assert json.loads(task.kwargs) == {"pod_id": pod.pk, "shard": 0, "shards": 1}
    assert task.expire_seconds == 6


def test_editing_the_interval_changes_the_schedule() -> None:
    pod = Pod.objects.create(name="p", poll_interval=7)
    add_server(pod, "a")
    pod.poll_interval = 2
    pod.save()
    (task,) = poll_tasks(pod)
    assert task.interval.every == 2


def test_two_schedules_of_one_interval_do_not_stop_the_sync() -> None:
    """Two processes that sync at once can both create the interval (it has no unique key)."""
    IntervalSchedule.objects.create(every=7, period=IntervalSchedule.SECONDS)
    IntervalSchedule.objects.create(every=7, period=IntervalSchedule.SECONDS)
    pod = Pod.objects.create(name="p", poll_interval=7)
    add_server(pod, "a")
    (task,) = poll_tasks(pod)
    assert task.interval.every == 7


def test_deactivating_a_pod_or_its_last_server_stops_its_polls() -> None:
    pod = Pod.objects.create(name="p")
    server = add_server(pod, "a")
    server.active = False
    server.save()
    assert poll_tasks(pod) == []
    server.active = True
    server.save()
    assert len(poll_tasks(pod)) == 1
    pod.active = False
    pod.save()
    assert poll_tasks(pod) == []


def test_push_servers_are_not_polled() -> None:
    pod = Pod.objects.create(name="p")
    Server.objects.create(pod=pod, name="pusher", bmc_type=BMCType.PUSH)
    assert poll_tasks(pod) == []


def test_large_pods_are_split_into_shards(settings) -> None:
    settings.POLL_SHARD_SIZE = 2
    pod = Pod.objects.create(name="p")
    for i in range(5):
        add_server(pod, f"s{i}")
    tasks = poll_tasks(pod)
    assert sorted(json.loads(t.kwargs)["shard"] for t in tasks) == [0, 1, 2]


def test_deleting_a_pod_removes_its_tasks() -> None:
    pod = Pod.objects.create(name="p")
    add_server(pod, "a")
    pod_id = pod.pk
    pod.delete()
    assert not PeriodicTask.objects.filter(name__startswith=f"poll pod {pod_id} ").exists()
