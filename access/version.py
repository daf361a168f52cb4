"""Every process forgets what it cached of credentials and pods as soon as access changes, in
any process: a message on a Redis channel, heard by one listening thread per process.

A change (a token saved or revoked, a user, a team membership or permission, a pod's team or
anonymous flag) clears this process's caches at once and publishes ``<prefix>:access:changed``
(again after its transaction commits, so that no process reloads what was not yet written);
each process's listener clears its caches when it hears another process's message. A request
therefore costs no Redis round trip for this, and a revoked or expired token is refused at once
in every process.

While a process does not listen (Redis down, or the few milliseconds after it starts), its
caches fall back to their own lifetime (``ENERGYLAB_AUTH_CACHE_SECONDS``); when it listens
again it clears them first, since it may have missed a change.
"""

from __future__ import annotations

import logging
import os
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

#: seconds to answer and to connect when publishing: a hung Redis must not hold a change
REDIS_TIMEOUTS_S = (0.5, 0.5)
#: seconds the listener waits for a message before checking its connection (health check)
LISTEN_POLL_S = 1.0
RECONNECT_AFTER_S = 1.0

_clear_hooks: list[Any] = [credentials.clear]
_listener: dict[str, Any] = {"pid": None, "listening": False}
_listener_lock = threading.Lock()


def channel() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:access:changed"


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


def listening() -> bool:
    return bool(_listener["listening"]) and _listener["pid"] == os.getpid()


def sync() -> None:
    """Make sure this process listens for changes (a thread per process, started after a fork
    by the first request that needs it). Costs nothing once it listens."""
    if _listener["pid"] == os.getpid():
        return
    with _listener_lock:
        if _listener["pid"] == os.getpid():
            return
        _listener.update(pid=os.getpid(), listening=False)
        threading.Thread(target=_listen, name="access-changes", daemon=True).start()


def _listen() -> None:
    me = str(os.getpid()).encode()
    while True:
        try:
            client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=2, health_check_interval=5
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(channel())
            _clear_all()  # a change may have come while this process was not listening
            _listener["listening"] = True
            while True:
                message = pubsub.get_message(timeout=LISTEN_POLL_S)
                if message is not None and message.get("data") != me:
                    _clear_all()
        except Exception as exc:
            _listener["listening"] = False
            log.warning("not listening for access changes (%s): caches expire on their own", exc)
            time.sleep(RECONNECT_AFTER_S)


def bump() -> None:
    """Access changed: clear this process's caches now and tell the others (again after the
    transaction commits, so that none reloads what the transaction had not yet written)."""
    _clear_all()
    _publish()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_publish)


def _publish() -> None:
    try:
        redis_client(*REDIS_TIMEOUTS_S).publish(channel(), str(os.getpid()))
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
