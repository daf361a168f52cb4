"""Every patch EnergyLab makes to pyghmi, in one place, behind a version check.

pyghmi's client keeps process-wide state in ``pyghmi.ipmi.private.session`` (two global locks,
one I/O thread, its wait helper). Three behaviours of that module hurt a poller that reads many
BMCs from threads; each patch below names the behaviour it works around, and each has a test
that fails without it (``tests/unit/collectors/test_ipmi_driver.py``).

:func:`apply` installs them. It runs once at app start (``CollectorsConfig.ready()``) and again,
as a no-op, wherever pyghmi is used without Django (``IPMIDriver()``, ``IPMISimulatorGroup()``),
so that every process that talks IPMI has the same pyghmi. It refuses a pyghmi it was not tested
with: the patches replace private names of one version, and a silent mismatch would bring back
the hangs they fix. To upgrade pyghmi, check each patch against the new ``session.py`` (drop the
ones fixed upstream), run the IPMI tests, then add the version to :data:`TESTED_VERSIONS`.
"""

from __future__ import annotations

import math
import select
import threading
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from pyghmi.ipmi.private import session as pyghmi_session

__all__ = ["IO_WAIT_SLICE_S", "TESTED_VERSIONS", "UnsupportedPyghmiVersion", "apply"]

#: the pyghmi versions whose ``session.py`` these patches were read against and tested with
TESTED_VERSIONS = frozenset({"1.6.19"})

#: longest a caller sleeps in pyghmi's I/O loop before it looks at its own queued replies again
IO_WAIT_SLICE_S = 0.02

_lock = threading.Lock()
_applied = False
_original_io_wait: Any = None


class UnsupportedPyghmiVersion(RuntimeError):
    """The installed pyghmi is not one the patches were tested with."""


def apply() -> None:
    """Patch pyghmi's session module; safe to call any number of times, from any thread.

    :raises UnsupportedPyghmiVersion: the installed pyghmi is not in :data:`TESTED_VERSIONS`
        (checked on every call, before anything is patched).
    """
    global _applied
    _check_version(_installed_version())
    with _lock:
        if _applied:
            return
        _share_one_session_lock()
        _slice_io_waits()
        _wait_with_poll()
        _applied = True


def _installed_version() -> str:
    return metadata.version("pyghmi")


def _check_version(installed: str) -> None:
    if installed not in TESTED_VERSIONS:
        tested = ", ".join(sorted(TESTED_VERSIONS))
        raise UnsupportedPyghmiVersion(
            f"pyghmi {installed} is installed, but EnergyLab's pyghmi patches were tested with "
            f"pyghmi {tested} only: pin pyghmi=={tested}, or check each patch in "
            f"collectors/drivers/pyghmi_patches.py against pyghmi {installed} and add it to "
            "TESTED_VERSIONS"
        )


def _share_one_session_lock() -> None:
    """One re-entrant lock for pyghmi's ``WAITING_SESSIONS`` and ``KEEPALIVE_SESSIONS``.

    Upstream behaviour: pyghmi 1.6 takes its two global locks in both orders. A retransmit
    (``Session._timedout`` runs with ``WAITING_SESSIONS`` held, then sends, which takes
    ``KEEPALIVE_SESSIONS``) against any other thread's send (``KEEPALIVE_SESSIONS``, then
    ``WAITING_SESSIONS`` to arm its retry timer). With a hung BMC retransmitting, concurrent
    reads of healthy BMCs deadlocked within seconds in our tests. One lock under both names
    removes the inversion; pyghmi looks both names up at each use.
    """
    pyghmi_session.WAITING_SESSIONS = pyghmi_session.KEEPALIVE_SESSIONS


def _slice_io_waits() -> None:
    """pyghmi's ``_io_wait`` replaced by :func:`_io_wait_sliced`."""
    global _original_io_wait
    _original_io_wait = pyghmi_session._io_wait
    pyghmi_session._io_wait = _io_wait_sliced


def _io_wait_sliced(timeout: float, myaddr: Any = None, evq: Any = None) -> None:
    """pyghmi's ``_io_wait``, never longer than :data:`IO_WAIT_SLICE_S` at a time.

    Upstream behaviour: pyghmi 1.6 loses wake-ups. A caller sends its request, then registers
    to be woken when its BMC answers. When the answer comes first (the BMC is quick, or the
    caller lost the GIL for a moment), pyghmi's I/O thread has already queued the reply on the
    session and woken nobody, so the caller sleeps until its retry timer, 0.5-1 s, with the
    answer waiting. Measured on 1,000 simulated BMCs, 3-7 % of reads stalled so, with 1 thread
    as with 8, and a 50-BMC shard took 850 ms instead of 50. Every pyghmi caller waits in a loop
    that looks at its queued replies after each wait and waits again when there is nothing for
    it, so waking it early is safe: a lost wake-up then costs one slice.
    """
    _original_io_wait(min(timeout, IO_WAIT_SLICE_S), myaddr, evq)


def _wait_with_poll() -> None:
    """The ``select`` module seen by pyghmi's session module replaced by :class:`_PollSelect`."""
    if hasattr(select, "poll"):  # not on Windows, where select() has no descriptor ceiling
        pyghmi_session.select = _PollSelect


class _PollSelect:
    """Stands in for the ``select`` module in pyghmi's session module: ``select`` by ``poll``.

    Upstream behaviour: pyghmi's I/O thread waits with ``select.select``, which cannot watch a
    file descriptor numbered 1024 or more: it raises, the I/O thread dies, and every IPMI read
    of the process hangs from then on. A worker that keeps a connection open to each of 1,000
    Redfish BMCs passes 1,024 descriptors, and the next socket pyghmi opens (one per 64 BMCs) is
    past it: seen in bench/poll.py at 2,000 BMCs. ``poll`` has no such limit.
    """

    @staticmethod
    def select(
        rlist: Sequence[Any], wlist: Sequence[Any], xlist: Sequence[Any], timeout: float | None
    ) -> tuple[list[Any], list[Any], list[Any]]:
        if wlist or xlist:  # pyghmi's session module only ever waits to read
            return select.select(rlist, wlist, xlist, timeout)
        poller = select.poll()
        for sock in rlist:
            poller.register(sock, select.POLLIN)
        wait_ms = None if timeout is None else max(0, math.ceil(timeout * 1000))
        ready = {fd for fd, _event in poller.poll(wait_ms)}
        return [sock for sock in rlist if sock.fileno() in ready], [], []
