"""What every simulator shares: ``with`` blocks over ``start()``/``stop()``, and, for those built
on an asyncio library (pysnmp, pymodbus), an event loop on a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 5


class Served:
    """A simulator serving from ``start()`` to ``stop()``, and for a ``with`` block."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LoopThread:
    """An asyncio event loop on a daemon thread, serving what ``setup`` made until ``stop()``.

    ``setup`` runs inside the loop (asyncio libraries take the running loop when a server is
    made); what it raises is raised by :meth:`start`. ``teardown`` runs in the loop after it
    stops, then the tasks left (pysnmp's timer) are cancelled and let finish, so that no
    "Task was destroyed but it is pending" is logged.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(
        self,
        setup: Callable[[], Awaitable[None]],
        teardown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(setup())
            except BaseException as exc:  # told to start(), which raises it
                failure.append(exc)
                loop.close()
                ready.set()
                return
            loop.call_soon(ready.set)
            loop.run_forever()
            try:
                if teardown is not None:
                    loop.run_until_complete(teardown())
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(START_TIMEOUT_S)
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT_S)
        self._loop = self._thread = None
