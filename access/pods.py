"""Pods as the access check needs them, cached per process (dropped by ``access.version``)."""

from __future__ import annotations

import threading
import time

from django.conf import settings

from access import version
from collectors.models import Pod
from energylab.api.permissions import PodRef

MAX_ENTRIES = 4096
_entries: dict[str, tuple[float, PodRef]] = {}
_lock = threading.Lock()


def clear() -> None:
    with _lock:
        _entries.clear()


version.on_change(clear)


def pod_by_name(name: str) -> PodRef | None:
    """The pod named ``name`` (None: unknown), read at most once per cache time per process
    (an unknown name each time it is asked: the first event of a pod is followed by its
    creation)."""
    version.sync()
    now = time.monotonic()
    entry = _entries.get(name)
    if entry is not None and entry[0] > now:
        return entry[1]
    row = (
        Pod.objects.filter(name=name)
        .values_list("pk", "team_id", "accepts_anonymous_events")
        .first()
    )
    if row is None:
        return None  # not cached: another process may create it any moment
    pod = PodRef(row[0], name, row[1], row[2])
    ttl = float(settings.AUTH_CACHE_SECONDS)
    if ttl > 0:
        with _lock:
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            _entries[name] = (now + ttl, pod)
    return pod
