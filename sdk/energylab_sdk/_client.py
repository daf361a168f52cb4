"""The bounded queue and the one background thread that sends events in order.

The caller's side (``enqueue``) only takes a lock and appends to a deque: no DNS, no socket.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ._config import Config, resolve
from ._transport import START, TRANSPORT_ERRORS, Event, HttpSession, Response, protocol_for

logger = logging.getLogger("energylab_sdk")

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 30.0
# While someone waits in flush(), retry this often instead of following the backoff.
FLUSH_RETRY_INTERVAL = 0.1


@dataclass
class Stats:
    """Counters, for tests and the CLI."""

    enqueued: int = 0
    sent: int = 0
    rejected: int = 0  # the API said no (4xx): dropped
    dropped_full: int = 0  # the buffer was full: oldest dropped
    dropped_exit: int = 0  # still unsent at shutdown
    failures: int = 0  # transient failures (each retry counts)


class Client:
    """Owns one configuration, its queue and its sender thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stats = Stats()
        self.offset_ns: int | None = None  # server clock - local clock, once learned
        self.last_error: str | None = None
        self.started_runs: dict[str, int] = {}  # pod -> id of the last run a start began there
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the sender waits here for events
        self._idle = threading.Condition(self._lock)  # flush() waits here for an empty queue
        self._queue: deque[Event] = deque()
        self._busy = False  # the sender holds an event it has not finished with
        self._flushers = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._session: HttpSession | None = None
        self._protocol = protocol_for(config)
        self._down = False
        self._warned: dict[str, bool] = {}

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    # -- caller side -------------------------------------------------------------------------

    def enqueue(self, event: Event) -> bool:
        """Queue an event for sending; cheap, never blocks on the network."""
        if not self.config.enabled:
            return False
        with self._lock:
            if self._closed:
                return False
            if len(self._queue) >= self.config.queue_size:
                self._queue.popleft()
                self.stats.dropped_full += 1
                if self.stats.dropped_full == 1:
                    logger.warning(
                        "energylab: event buffer full (%d events); dropping the oldest",
                        self.config.queue_size,
                    )
            self._queue.append(event)
            self.stats.enqueued += 1
            if self._thread is None:
                self._start_thread()
            self._work.notify()
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event was sent or dropped; False at the deadline."""
        if timeout is None:
            timeout = self.config.flush_timeout
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            self._flushers += 1
            self._work.notify()  # cut short a backoff wait
            try:
                while self._queue or self._busy:
                    if self._thread is None or not self._thread.is_alive():
                        return False
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(remaining)
                return True
            finally:
                self._flushers -= 1

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush with a deadline, then stop; what is still queued is dropped with a warning."""
        with self._lock:
            if self._closed:
                return not self._queue
        done = self.flush(timeout)
        with self._lock:
            self._closed = True
            left = len(self._queue)
            self.stats.dropped_exit += left
            self._queue.clear()
            self._work.notify()
        if left:
            logger.warning(
                "energylab: gave up on %d unsent event(s) (%s)", left, self.last_error or "timeout"
            )
        if self.stats.dropped_full:
            logger.warning(
                "energylab: %d event(s) were dropped because the buffer was full",
                self.stats.dropped_full,
            )
        return done

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._run, name="energylab-sdk-sender", daemon=True)
        self._thread = thread
        thread.start()

    def after_fork(self) -> None:
        """In a forked child: the parent's thread and socket are not ours; start afresh."""
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._queue = deque()
        self._busy = False
        self._flushers = 0
        self._thread = None
        self._session = None  # the parent's socket: never close or use it here

    # -- sender thread -----------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._lock:
                while not self._queue:
                    if self._closed:
                        return
                    self._work.wait()
                event = self._queue[0]
                self._busy = True
            try:
                delivered = self._deliver(event)
            except Exception:  # a bug here must not kill the sender: drop this event
                logger.warning("energylab: internal error, event dropped", exc_info=True)
                delivered = True
            with self._lock:
                if delivered:
                    backoff = 0.0
                    if self._queue and self._queue[0] is event:
                        self._queue.popleft()
                    self._busy = False
                    self._idle.notify_all()
                    continue
                self._busy = False
                self._idle.notify_all()
                if self._closed:
                    return
                backoff = min(BACKOFF_MAX, backoff * 2 or BACKOFF_FIRST)
                self._wait_backoff(backoff * random.uniform(0.8, 1.2))

    def _wait_backoff(self, seconds: float) -> None:
        """Sleep (lock held by caller) unless someone flushes or closes."""
        deadline = time.monotonic() + seconds
        while not self._closed:
            if self._flushers:
                seconds = FLUSH_RETRY_INTERVAL
                deadline = min(deadline, time.monotonic() + seconds)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._work.wait(remaining)

    def _deliver(self, event: Event) -> bool:
        """Send one event. True when done with it (sent or dropped), False to retry later."""
        if self._session is None:
            self._session = HttpSession(self.config)
        try:
            if self.offset_ns is None:
                self.offset_ns = self._protocol.learn_offset(self._session)
                if self.offset_ns:
                    logger.debug("energylab: server clock offset %+.3f s", self.offset_ns / 1e9)
            method, path, body = self._protocol.build(event, event.local_ns + self.offset_ns)
            answer = self._session.request(method, path, body)
        except TRANSPORT_ERRORS as exc:
            self._transient(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return False
        return self._judge(event, answer)

    def _judge(self, event: Event, answer: Response) -> bool:
        status = answer.status
        if (
            status == 400
            and event.kind == START
            and self._protocol.provenance
            and not event.without_provenance
        ):
            # Never lose a run for its provenance: start it again without (a server with other
            # limits than this SDK's).
            self._warn_once(
                "provenance",
                "energylab: the API refused the run's provenance (%s); starting it without",
                answer.body[:300].decode("utf-8", "replace"),
            )
            event.without_provenance = True
            return self._deliver(event)
        if 200 <= status < 300:
            self.stats.sent += 1
            if event.kind == START:
                self._remember_run(event.pod, answer)
                self._warn_if_pod_created(event.pod, answer)
            if self._down:
                self._down = False
                logger.warning("energylab: API %s is reachable again", self.config.base_url)
            return True
        if status == 429 or status >= 500 or status == 408:
            self._transient(f"HTTP {status}")
            return False
        self.stats.rejected += 1
        detail = answer.body[:300].decode("utf-8", "replace")
        self.last_error = f"HTTP {status} {detail}".strip()
        if status in (401, 403):
            self._warn_once(
                "auth", "energylab: API refused our credentials (HTTP %d); events dropped", status
            )
        elif status == 404 and event.kind != "start":
            self._warn_once(
                "404",
                "energylab: no run is running on pod %r (HTTP 404); %s event dropped",
                event.pod,
                event.kind,
            )
        else:
            logger.warning(
                "energylab: API rejected a %s event (HTTP %d: %s); dropped",
                event.kind,
                status,
                detail,
            )
        return True

    def _remember_run(self, pod: str, answer: Response) -> None:
        # The native API answers a start with the run (the legacy API does not say its id).
        data = answer.json()
        run_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(run_id, int) and not isinstance(run_id, bool):
            self.started_runs[pod] = run_id

    def _warn_if_pod_created(self, pod: str, answer: Response) -> None:
        """A start that created its pod may be a typo of a known pod's name: say so once per
        pod, naming the closest known pods the server found (never raises)."""
        data = answer.json()
        if not isinstance(data, dict) or data.get("pod_created") is not True:
            return
        similar = [n for n in data.get("similar_pods") or [] if isinstance(n, str)]
        hint = f"; did you mean {' or '.join(repr(n) for n in similar)}?" if similar else ""
        self._warn_once(
            f"pod-created:{pod}",
            "energylab: pod %r was unknown and has been created%s",
            pod,
            hint,
        )

    def _transient(self, reason: str) -> None:
        self.stats.failures += 1
        self.last_error = reason
        if self._session is not None:
            self._session.close()
        if not self._down:
            self._down = True
            logger.warning(
                "energylab: API %s unreachable (%s); events are kept and retried in the background",
                self.config.base_url,
                reason,
            )

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if not self._warned.get(key):
            self._warned[key] = True
            logger.warning(message, *args)
        else:
            logger.debug(message, *args)


# -- the process-wide client -----------------------------------------------------------------

_options: dict[str, Any] = {}
_current: Client | None = None
_current_lock = threading.Lock()


def current() -> Client:
    """The process-wide client, created from the configuration on first use."""
    client = _current
    if client is not None:
        return client
    return _create()


def _create() -> Client:
    global _current
    with _current_lock:
        if _current is None:
            _current = Client(resolve(**_options))
        return _current


def configure(**options: Any) -> Client:
    """Replace the client; options not given are read from the environment.

    The previous client gets a short, non-blocking chance to send what it still holds.
    """
    global _current, _options
    with _current_lock:
        old, _current = _current, None
        _options = dict(options)
    if old is not None and old._thread is not None:
        threading.Thread(target=old.shutdown, args=(0.5,), daemon=True).start()
    return _create()


def _at_exit() -> None:
    client = _current
    if client is not None and client.enabled:
        client.shutdown()


def _after_fork_in_child() -> None:
    global _current_lock
    _current_lock = threading.Lock()
    if _current is not None:
        _current.after_fork()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
