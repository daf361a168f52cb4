"""Keeps Celery beat's schedule in step with the pods and servers in the database.

Each active pod gets one periodic task per shard of at most ``ENERGYLAB_POLL_SHARD_SIZE``
servers, at the pod's interval, on the pod's queue. Beat's DatabaseScheduler notices changes to
``PeriodicTask`` rows, so adding, editing or deactivating a pod or server changes what is polled
without a restart.

Shards are staggered: shard i of n starts its interval i/n of the way through it (its
``start_time``, which :class:`collectors.beat.PhasedEntry` keeps it on), so a pod's reads come
at a steady rate instead of all at one instant; each pod's shards are also shifted by a phase of
its own, so two pods' shards do not fire together either.
"""

from __future__ import annotations

import datetime as dt
import json
import math

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from collectors.models import BMCType, Pod

TASK_NAME = "collectors.tasks.poll_pod_shard"
PREFIX = "poll pod "


#: the origin of every shard's grid of sends (any fixed moment in the past does)
PHASE_ORIGIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: the fractional part of the golden ratio: pod k's phase is k * this (mod 1), which spreads
#: any number of pods evenly over the interval without knowing how many there are
_POD_PHASE_STEP = (math.sqrt(5) - 1) / 2


def task_name(pod: Pod, shard: int, shards: int) -> str:
    return f"{PREFIX}{pod.pk} shard {shard + 1}/{shards}"


def shard_offset(pod: Pod, shard: int, shards: int) -> float:
    """Seconds into each interval at which this shard's polls are sent."""
    fraction = (pod.pk * _POD_PHASE_STEP + shard / shards) % 1.0
    # Whole milliseconds: the value is stored in a DateTimeField (microseconds), and a
    # float that does not survive the round trip would look like a change at every sync.
    return round(fraction * pod.poll_interval, 3)


def shard_start(pod: Pod, shard: int, shards: int) -> dt.datetime:
    """The shard's ``start_time``: its grid of sends is ``start + k * poll_interval``."""
    return PHASE_ORIGIN + dt.timedelta(seconds=shard_offset(pod, shard, shards))


def wanted_shards(pod: Pod) -> int:
    if not pod.active:
        return 0
    servers = pod.servers.filter(active=True).exclude(bmc_type=BMCType.PUSH).count()
    return math.ceil(servers / settings.POLL_SHARD_SIZE)


@transaction.atomic
def sync_pod(pod: Pod) -> None:
    """Create, update or delete the pod's periodic poll tasks to match the pod."""
    shards = wanted_shards(pod)
    existing = {
        t.name: t for t in PeriodicTask.objects.filter(name__startswith=f"{PREFIX}{pod.pk} ")
    }
    wanted = {task_name(pod, i, shards): i for i in range(shards)}
    for name in set(existing) - set(wanted):
        existing[name].delete()
    if not wanted:
        return
    # django-celery-beat's schedules have no unique constraint: two processes syncing pods of
    # one interval at once (the demo's lab and its first event) can both create it. Any of them
    # serves; get_or_create would fail on every later sync with MultipleObjectsReturned.
    every = {"every": pod.poll_interval, "period": IntervalSchedule.SECONDS}
    interval = IntervalSchedule.objects.filter(**every).order_by("pk").first()
    if interval is None:
        interval = IntervalSchedule.objects.create(**every)
    for name, shard in wanted.items():
        fields = {
            "task": TASK_NAME,
            "interval": interval,
            "start_time": shard_start(pod, shard, shards),
            "kwargs": json.dumps({"pod_id": pod.pk, "shard": shard, "shards": shards}),
            "queue": pod.queue,
            # A poll that waited longer than its interval is stale: drop it, the next one comes.
            "expire_seconds": max(1, int(pod.poll_interval * 0.9)),
            "enabled": True,
            "description": f"Poll the BMCs of pod {pod.name!r}",
        }
        task = existing.get(name)
        if task is None:
            PeriodicTask.objects.create(name=name, **fields)
        elif any(getattr(task, k) != v for k, v in fields.items()):
            for key, value in fields.items():
                setattr(task, key, value)
            task.save()


def remove_pod(pod_id: int) -> None:
    PeriodicTask.objects.filter(name__startswith=f"{PREFIX}{pod_id} ").delete()
