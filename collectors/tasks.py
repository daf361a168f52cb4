"""Celery tasks of the collectors: thin, they take ids and call plain code.

No Celery retries: the next scheduled poll is the retry, and a failing BMC backs off in
:mod:`collectors.polling`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown
from django.db.models import F, Window
from django.db.models.functions import Mod, RowNumber
from django.utils import timezone

from collectors import heartbeats
from collectors.models import POLLED_TYPES, BMCType, Pod, Server
from collectors.polling import get_poller, record_health, samples_from
from collectors.timing import read_timeout
from events.ingest.buffer import BufferUnavailable, SampleBuffer

log = logging.getLogger(__name__)


def servers_due(pod: Pod, shard: int, shards: int) -> list[Server]:
    """The servers of one shard of a pod that are not backing off.

    Shard ``i`` of ``n`` holds the pod's polled servers whose rank by id is ``i`` modulo ``n``,
    chosen in SQL so a poll loads only its own rows. Membership does not depend on back-off, so
    a server keeps its shard (and its place in the interval) while others fail.
    """
    servers = pod.servers.filter(active=True).exclude(bmc_type=BMCType.PUSH)
    if shards > 1:
        rank = Window(RowNumber(), order_by=F("pk").asc())
        servers = servers.alias(slot=Mod(rank - 1, shards)).filter(slot=shard)
    now = timezone.now()
    due = []
    for server in servers.order_by("pk"):
        if server.backoff_until is None or server.backoff_until <= now:
            server.pod = pod  # the pod is known: no join, no query
            due.append(server)
    return due


# No soft_time_limit/time_limit: the worker runs Celery's threads pool (settings), which cannot
# stop a thread and ignores them, so they only looked like a guard. The task bounds itself: the
# reads return by the shard's deadline (collectors.polling: per-read timeouts, and a read still
# running at the deadline is left behind), and Redis calls time out after 5 s.
@shared_task(ignore_result=True)
def poll_pod_shard(pod_id: int, shard: int = 0, shards: int = 1) -> dict[str, int]:
    """Read one shard of a pod's servers and buffer the samples."""
    pod = Pod.objects.filter(pk=pod_id, active=True).first()
    if pod is None:
        return {"polled": 0, "failed": 0}
    heartbeats.record(pod.pk)  # a worker reads this pod's queue (collectors.health: stale)
    servers = servers_due(pod, shard, shards)
    if not servers:
        return {"polled": 0, "failed": 0}
    outcomes = get_poller().poll(servers, deadline_s=read_timeout(pod.poll_interval) + 0.2)
    by_id = {s.pk: s for s in servers}
    samples = samples_from(outcomes, by_id)
    try:
        SampleBuffer.from_settings().push(samples)
    except BufferUnavailable as exc:
        log.error("pod %s: %d samples not buffered: %s", pod.name, len(samples), exc)
    record_health(outcomes, by_id, timezone.now())
    polled = sum(1 for outcome in outcomes if outcome.reading is not None)
    return {"polled": polled, "failed": len(outcomes) - polled}


@worker_process_shutdown.connect
def _close_sessions(**kwargs: Any) -> None:
    """Log out of BMC sessions when a worker process stops."""
    from collectors.drivers import get_driver

    for bmc_type in POLLED_TYPES:
        try:
            get_driver(bmc_type).close()
        except Exception:  # noqa: S112 - shutting down: log out of what we can
            continue
