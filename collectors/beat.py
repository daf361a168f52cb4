"""Celery beat's scheduler for EnergyLab: django-celery-beat's, with interval tasks kept on a grid.

django-celery-beat runs an interval task ``every`` seconds after its *previous send*: each send's
few milliseconds of lateness shift every later one, and after a restart every overdue task is
sent at once and they all stay in step from then on. For poll shards that is the burst we must
avoid (2,000 reads at one instant, most of them late): :mod:`collectors.schedule` gives each shard
a phase in ``start_time``, and :class:`PhasedEntry` sends an interval task that has a
``start_time`` at ``start_time + k * every`` and never in between, so shards stay spread over the
interval across restarts and schedule edits (a restarted beat joins each shard's grid at its
next tick instead of sending every overdue shard at once). Tasks without a ``start_time``, and other kinds of
schedule, behave exactly as in django-celery-beat.

Selected by ``CELERY_BEAT_SCHEDULER`` (settings); ``celery -A energylab beat`` uses it. It holds
the installation's beat lock (:mod:`energylab.beat_lock`) while it runs: a second beat stops.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

import redis
from celery import schedules
from celery.utils.time import maybe_make_aware
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

from energylab.beat_lock import BeatAlreadyRunning, BeatLock

log = logging.getLogger(__name__)

#: seconds a beat's lock outlives its last renewal (each tick renews it): how long a beat that
#: died keeps a new one from starting
LOCK_TTL_S = 15.0
#: a shard whose tick passed at most this long ago is still sent for it when beat (re)starts
CATCH_UP_S = 1.0


def grid_tick(start: dt.datetime, every_s: float, now: dt.datetime) -> dt.datetime:
    """The last moment ``start + k * every_s`` (k >= 0) at or before ``now``."""
    k = max(0, math.floor((now - start).total_seconds() / every_s))
    return start + dt.timedelta(seconds=k * every_s)


class PhasedEntry(ModelEntry):
    """A beat entry whose interval sends fall on ``start_time + k * every``."""

    def is_due(self) -> Any:
        model = self.model
        if (
            model.start_time is None
            or model.interval_id is None
            or not model.enabled
            or model.one_off
            or model.expires is not None
        ):
            return super().is_due()
        every_s = self.schedule.run_every.total_seconds()
        now = maybe_make_aware(self._default_now())
        start = maybe_make_aware(model.start_time)
        if now < start:
            return schedules.schedstate(False, (start - now).total_seconds())
        tick = grid_tick(start, every_s, now)
        next_s = (tick + dt.timedelta(seconds=every_s) - now).total_seconds()
        last = maybe_make_aware(self.last_run_at)
        if last >= tick:
            return schedules.schedstate(False, next_s)  # sent for this tick already
        if last >= tick - dt.timedelta(seconds=every_s):
            return schedules.schedstate(True, next_s)  # the tick after the last one sent
        # Never sent, or beat was away for whole intervals: join the grid at the next tick
        # (or this one, if it has only just passed) rather than send every shard at once.
        catch_up = (now - tick).total_seconds() <= min(CATCH_UP_S, every_s / 2)
        return schedules.schedstate(catch_up, next_s)


class PhasedScheduler(DatabaseScheduler):
    """django-celery-beat's database scheduler with :class:`PhasedEntry` entries, run by one
    beat at a time (the beat lock, renewed at every tick)."""

    Entry = PhasedEntry
    beat_lock: BeatLock | None = None

    def setup_schedule(self) -> None:
        # Beat builds its scheduler (and calls this) before its loop: a second beat stops here,
        # with a message and a non-zero status, before it sends anything.
        lock = BeatLock(ttl_s=LOCK_TTL_S)
        try:
            lock.acquire()
        except (BeatAlreadyRunning, redis.RedisError) as exc:
            raise SystemExit(f"beat does not start: {exc}") from None
        self.beat_lock = lock
        super().setup_schedule()

    def tick(self, *args: Any, **kwargs: Any) -> Any:
        if self.beat_lock is not None:
            # Beat waits at most max_interval between two ticks (5 s unless --max-interval).
            self.beat_lock.ttl_s = max(LOCK_TTL_S, 3 * float(self.max_interval))
            try:
                self.beat_lock.renew()
            except BeatAlreadyRunning as exc:
                log.error("beat stops: %s", exc)
                raise SystemExit(1) from None
            except redis.RedisError as exc:  # Redis away: nothing can be sent anyway
                log.warning("cannot renew the beat lock: %s", exc)
        return super().tick(*args, **kwargs)

    def close(self) -> None:
        super().close()
        if self.beat_lock is not None:
            self.beat_lock.release()
            self.beat_lock = None
