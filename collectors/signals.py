"""Model changes that change what beat polls."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from collectors import schedule
from collectors.models import Pod, Server


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
