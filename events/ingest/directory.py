"""The push path's cache of servers: name → id, pod and topology, per process.

A push names its servers (and their pods) by name; looking them up in the database on every
request cost two queries and a transaction per push. Each process keeps what it looked up here,
valid while the directory's version in Redis (``SampleBuffer.version_key``) is the one it was
read at: every change of a pod or a server bumps that version once committed
(:mod:`collectors.signals`), and the push script refuses a push made with another version
(:meth:`events.ingest.buffer.SampleBuffer.push_new`), so the pusher reloads and pushes again.
Checking the version costs nothing more than the push's own round trip to Redis.

The window left: a change commits, then bumps the version right after; a push checked between
the two is tagged as before the change (microseconds, once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TOPOLOGY_FIELDS = ("dc", "room", "row", "rack")
# A bound on memory for a process that sees very many servers; refilled on demand.
MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class KnownServer:
    """A server as the database had it when this process looked it up."""

    id: int
    pod: str
    topology: tuple[str, str, str, str]  # dc, room, row, rack (empty: unset)

    def differs(self, topology: Mapping[str, str]) -> bool:
        """``topology`` (some of dc, room, row, rack) would change the server's."""
        return any(
            topology[field] != stored
            for field, stored in zip(TOPOLOGY_FIELDS, self.topology, strict=True)
            if field in topology
        )


class ServerDirectory:
    """What one process knows of the servers, at one version of the directory."""

    def __init__(self) -> None:
        self.version: str | None = None  # None: not read yet
        self._servers: dict[str, KnownServer] = {}
        # When this process last wrote each server's health (monotonic seconds).
        self._health_written: dict[int, float] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> KnownServer | None:
        return self._servers.get(name)

    def reset(self, version: str | None) -> None:
        """Forget everything: the directory is now at ``version`` (None: to be read)."""
        with self._lock:
            self._servers = {}
            self._health_written = {}
            self.version = version

    def load(self, names: Iterable[str]) -> None:
        """Look the servers named up in the database again (one query); unknown names are
        forgotten."""
        from collectors.models import Server

        wanted = list(names)
        if not wanted:
            return
        rows = Server.objects.filter(name__in=wanted).values_list(
            "pk", "name", "pod__name", *TOPOLOGY_FIELDS
        )
        found = {
            name: KnownServer(pk, pod, (dc, room, row, rack))
            for pk, name, pod, dc, room, row, rack in rows
        }
        with self._lock:
            if len(self._servers) + len(found) > MAX_ENTRIES:
                self._servers = {}
            for name in wanted:
                self._servers.pop(name, None)
            self._servers.update(found)

    def health_due(self, server_id: int, interval_s: float) -> bool:
        """Whether this process should write the server's last reading now (and note it did):
        at most every ``interval_s`` seconds, as polls write theirs."""
        now = time.monotonic()
        last = self._health_written.get(server_id)
        if last is not None and now - last < interval_s:
            return False
        if len(self._health_written) >= MAX_ENTRIES:
            self._health_written.clear()
        self._health_written[server_id] = now
        return True


#: the process's directory
DIRECTORY = ServerDirectory()
