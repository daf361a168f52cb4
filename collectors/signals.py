"""Model changes that change what beat polls."""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from collectors import schedule
from collectors.models import HEALTH_FIELDS, Pod, Server

log = logging.getLogger(__name__)


@receiver(post_save, sender=Pod)
def pod_saved(sender: type[Pod], instance: Pod, **kwargs: Any) -> None:
    transaction.on_commit(lambda: schedule.sync_pod(instance))


@receiver(post_delete, sender=Pod)
def pod_deleted(sender: type[Pod], instance: Pod, **kwargs: Any) -> None:
    schedule.remove_pod(instance.pk)


@receiver(post_save, sender=Server)
@receiver(post_delete, sender=Server)
def server_changed(sender: type[Server], instance: Server, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields and not {"active", "bmc_type", "pod"} & set(update_fields):
        return  # health bookkeeping: the schedule does not change
    pod_id = instance.pod_id
    transaction.on_commit(lambda: _sync_pod_id(pod_id))


def _sync_pod_id(pod_id: int) -> None:
    pod = Pod.objects.filter(pk=pod_id).first()
    if pod is not None:
        schedule.sync_pod(pod)


# Health bookkeeping saved by field name: none of it is in the push path's directory.
_HEALTH_FIELDS = frozenset(HEALTH_FIELDS)


@receiver(post_save, sender=Pod)
@receiver(post_delete, sender=Pod)
@receiver(post_save, sender=Server)
@receiver(post_delete, sender=Server)
def directory_changed(sender: type[Pod | Server], instance: Pod | Server, **kwargs: Any) -> None:
    """Every process's cache of pods and servers (events.ingest.directory) is stale once the
    change commits."""
    update_fields = kwargs.get("update_fields")
    if update_fields and set(update_fields) <= _HEALTH_FIELDS:
        return
    transaction.on_commit(_bump_directory_version)


def _bump_directory_version() -> None:
    from events.ingest.buffer import SampleBuffer

    try:
        SampleBuffer.from_settings().bump_directory_version()
    except redis.RedisError as exc:
        # The caches stay as they were until the next change reaches Redis: say so loudly.
        log.error("could not tell the push path that a pod or server changed: %s", exc)
