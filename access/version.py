"""One counter in Redis of changes to who may do what, so that every process drops what it
cached of credentials and pods as soon as one of them changes.

A change (a token saved or revoked, a user, a team membership or permission, a pod) increments
``<prefix>:access:version`` and clears this process's caches at once; every other process reads
the counter at most once per :data:`SYNC_EVERY_S` (in practice: once per request) and clears its
caches when it moved. A revoked or expired token is thus refused at once in every process. When
Redis does not answer, caches fall back to their own lifetime (``ENERGYLAB_AUTH_CACHE_SECONDS``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from energylab.api.authentication import credentials
from energylab.redis_client import redis_client

log = logging.getLogger(__name__)

#: a thread reads the counter at most this often (seconds): several lookups of one request
#: (credential, then pod) cost one Redis round trip
SYNC_EVERY_S = 0.02
#: seconds to answer and to connect: a hung Redis must not hold requests (caches then expire)
REDIS_TIMEOUTS_S = (0.5, 0.5)

_seen: dict[str, Any] = {"version": None}
_thread = threading.local()
_clear_hooks: list[Any] = [credentials.clear]


def key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:access:version"


def on_change(clear: Any) -> None:
    """Call ``clear()`` whenever access changes (a cache registers itself)."""
    _clear_hooks.append(clear)


def _clear_all() -> None:
    for clear in _clear_hooks:
        clear()


def clear_local() -> None:
    """Forget what this process cached of credentials and pods (tests: rows a rolled-back test
    made send no signal)."""
    _clear_all()


def sync() -> None:
    """Drop this process's caches if access changed elsewhere since the last look."""
    now = time.monotonic()
    if now - getattr(_thread, "synced_at", -1.0) < SYNC_EVERY_S:
        return
    _thread.synced_at = now
    try:
        version = redis_client(*REDIS_TIMEOUTS_S).get(key())
    except redis.RedisError as exc:
        log.debug("access version not read (%s): caches expire on their own", exc)
        return
    if version != _seen["version"]:
        _seen["version"] = version
        _clear_all()


def bump() -> None:
    """Access changed: clear this process's caches now and tell the others (again after the
    transaction commits, so that none reloads what the transaction had not yet written)."""
    _clear_all()
    _incr()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_incr_and_clear)


def _incr_and_clear() -> None:
    _clear_all()
    _incr()


def _incr() -> None:
    try:
        # This process cleared its caches just before: the new count is one it has seen (so a
        # later look does not clear again what was cached since).
        _seen["version"] = str(redis_client(*REDIS_TIMEOUTS_S).incr(key())).encode()
    except redis.RedisError as exc:
        log.warning("access change not announced (Redis: %s): seen within the cache time", exc)


def _changed(sender: Any, **kwargs: Any) -> None:
    bump()


def _pod_changed(sender: Any, created: bool = False, **kwargs: Any) -> None:
    # A new pod changes no grant, and unknown pods are never cached (access.pods): a first
    # event's pod costs no process its caches.
    if not created:
        bump()


def connect_signals() -> None:
    from access.models import ApiToken
    from collectors.models import Pod

    user_model = get_user_model()
    for model in (ApiToken, Group, user_model):
        uid = f"access-version-{model._meta.label_lower}"
        post_save.connect(_changed, sender=model, dispatch_uid=uid)
        post_delete.connect(_changed, sender=model, dispatch_uid=uid)
    post_save.connect(_pod_changed, sender=Pod, dispatch_uid="access-version-pod")
    post_delete.connect(_changed, sender=Pod, dispatch_uid="access-version-pod")
    for through in (
        user_model.groups.through,
        user_model.user_permissions.through,
        Group.permissions.through,
        ApiToken.pods.through,
    ):
        m2m_changed.connect(_changed, sender=through, dispatch_uid=f"access-m2m-{through}")
