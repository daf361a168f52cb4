"""A deadline on a whole BMC read, enforced from outside the read, whatever the BMC sends.

A driver's per-request timeout bounds *silence*, not a read: a BMC that sends its headers, then
one byte every 0.4 s, keeps every socket read under its timeout and would hold the reading
thread for ever. Python cannot stop a thread, and a deadline written into each driver would be
forgotten by the next one, so :func:`call_within` runs the read under a watchdog thread that, at
the deadline, raises :class:`ReadAbandoned` *in the reading thread* (CPython's
``PyThreadState_SetAsyncExc``, the mechanism behind the ``stopit`` and ``func-timeout`` packages,
neither maintained since 2019 and both larger than this).

Where it lands: the exception is raised when the reading thread next runs Python code. A
dripping BMC returns control after every byte (so the read ends within one drip of its
deadline); a silent one after the driver's per-request timeout at the latest. It is a
``BaseException``, so drivers' and libraries' ``except Exception`` do not swallow it, while their
``finally`` and ``with`` blocks still run (locks are released, connections dropped). A read that
swallows it anyway and returns late is still reported as past its deadline.

The limit of the mechanism: the exception can land between two statements, e.g. just after
``lock.acquire(timeout=...)`` returned True and before the ``try`` that releases it. Drivers
take a per-BMC lock that way; the poller never runs two reads of one server at once, so only a
read by hand (``poll_server``, the admin) racing a poll of the same BMC could meet it.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_RUNNING, _FIRED, _DONE, _FIRED_DONE = 0, 1, 2, 3

#: seconds; a read may run this much past its deadline before it is interrupted
GRANULARITY_S = 0.05


class ReadAbandoned(BaseException):
    """Raised inside a reading thread whose deadline passed (never seen by callers)."""


class DeadlinePassed(Exception):
    """The call did not finish by its deadline; it was interrupted (or returned too late)."""


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Schedule ``exc`` in the thread (None: withdraw one scheduled and not yet raised)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


class _Watch:
    __slots__ = ("state", "thread_id")

    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self.state = _RUNNING  # then _FIRED (the interruption was scheduled) and/or _DONE


class _Watchdog:
    """One thread per process holding every running call's deadline, the soonest first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float) -> _Watch:
        watch = _Watch(threading.get_ident())
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="read-deadline-watchdog", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is watch:  # sooner than every other: wake it to wait less
                self._cond.notify()
        return watch

    def release(self, watch: _Watch) -> bool:
        """End the watch (idempotent); True if its deadline fired."""
        with self._cond:
            if watch.state == _FIRED:
                _raise_in(watch.thread_id, None)  # not raised yet: it must not be, any more
                watch.state = _FIRED_DONE
            elif watch.state == _RUNNING:
                watch.state = _DONE
            return watch.state == _FIRED_DONE

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    # Not sooner than every GRANULARITY_S: at 400 reads/s, one wake-up per
                    # deadline (most of them of reads long finished) would cost a core's share.
                    self._cond.wait(max(wait, GRANULARITY_S))
                    continue
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    watch = heapq.heappop(self._heap)[2]
                    if watch.state == _RUNNING:
                        watch.state = _FIRED
                        _raise_in(watch.thread_id, ReadAbandoned)


_watchdog = _Watchdog()


def call_within(deadline: float, fn: Callable[[], T]) -> T:
    """``fn()``, interrupted if it has not returned by ``deadline`` (``time.monotonic()``).

    :raises DeadlinePassed: the deadline passed before ``fn`` returned (also when the
        deadline had passed before the call: ``fn`` is then not called).
    Anything ``fn`` raises before its deadline propagates unchanged.
    """
    if time.monotonic() >= deadline:
        raise DeadlinePassed("the deadline passed before the call started")
    watch = _watchdog.watch(deadline)
    try:
        try:
            result = fn()
        finally:
            fired = _watchdog.release(watch)
    except ReadAbandoned:
        _watchdog.release(watch)  # in case it landed inside the first release
        raise DeadlinePassed("interrupted at the deadline") from None
    if fired:  # fn swallowed the interruption (a bare except) and returned late
        raise DeadlinePassed("returned after the deadline")
    return result
