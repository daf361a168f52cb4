"""One beat per installation: a Redis lock the running beat holds and renews.

Two beats would send every poll and writer pass twice. A beat takes ``<prefix>:beat:lock``
when it starts and renews it at every tick of its loop (at most every few seconds); a second
beat finds it taken and stops with a message naming the holder, so beat can be supervised
(restarted when it dies) without a second one ever running beside the first. A beat that died
without releasing the lock leaves it for at most its time to live; then a new one starts.

Redis restarted without persistence forgets the lock: the running beat takes it again at its
next tick. A beat that finds the lock held by another (it was stalled past the time to live
and a second beat started meanwhile) stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid

import redis
from django.conf import settings
from redis.exceptions import LockNotOwnedError

from energylab.redis_client import redis_client

log = logging.getLogger(__name__)


class BeatAlreadyRunning(Exception):
    """Another beat holds the lock."""


class BeatLock:
    """The lock of the beat of this installation (key prefix ``ENERGYLAB_REDIS_KEY_PREFIX``)."""

    def __init__(self, ttl_s: float, client: redis.Redis | None = None) -> None:
        self.client = client if client is not None else redis_client()
        self.key = f"{settings.REDIS_KEY_PREFIX}:beat:lock"
        self.ttl_s = ttl_s
        # Who holds it, readable by the beat that is refused: host, pid and a random part.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock = self.client.lock(self.key, timeout=ttl_s, thread_local=False)

    def acquire(self) -> None:
        """Take the lock.

        :raises BeatAlreadyRunning: another beat holds it (the message names it).
        :raises redis.RedisError: Redis does not answer.
        """
        if not self._lock.acquire(blocking=False, token=self.token):
            raise BeatAlreadyRunning(self._refusal())

    def renew(self) -> None:
        """Extend the lock by its time to live; take it again if Redis forgot it.

        :raises BeatAlreadyRunning: another beat took it meanwhile.
        :raises redis.RedisError: Redis does not answer (the lock may still be ours).
        """
        self._lock.timeout = self.ttl_s  # the owner may have changed it since
        try:
            self._lock.reacquire()
        except LockNotOwnedError:
            if not self._lock.acquire(blocking=False, token=self.token):
                raise BeatAlreadyRunning(self._refusal()) from None
            log.warning("the beat lock had vanished from Redis (restarted?): taken again")

    def release(self) -> None:
        """Give the lock up, if still ours (beat's clean shutdown)."""
        # Not ours any more, or Redis away: then its time to live frees it.
        with contextlib.suppress(redis.RedisError):
            self._lock.release()

    def _refusal(self) -> str:
        holder = self.client.get(self.key)
        holder_text = holder.decode() if isinstance(holder, bytes) else str(holder)
        remaining = self.client.pttl(self.key)
        return (
            f"another beat is running (lock {self.key} held by {holder_text}, "
            f"{max(0, remaining) / 1000:.0f} s left unless renewed): only one beat may run"
        )
