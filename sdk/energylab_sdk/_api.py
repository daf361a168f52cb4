"""The public surface: recordings and steps, as decorators, context managers and calls.

Every public call stamps its event first (``time.time_ns()``), then only touches memory; it
never raises into the caller: errors are logged on the ``energylab_sdk`` logger.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, overload

from . import _client
from ._config import UNSET
from ._transport import LEGACY_INITIAL_STEP, START, STEP, STOP, Event

logger = logging.getLogger("energylab_sdk")

F = TypeVar("F", bound="Callable[..., Any]")

UNNAMED_SCENARIO = "unnamed"


@dataclass(eq=False)
class _Level:
    """One open ``step()`` block or call: the step to return to when it is left."""

    outer: str | None


@dataclass(eq=False)
class _Frame:
    """One active recording: what the server should be told again when an inner one ends.

    ``step`` is the step the program is in (None: none declared since the recording began or
    since the last top-level ``step()`` block ended); ``levels`` are its open ``step()`` blocks,
    innermost last.
    """

    scenario: str
    pod: str
    step: str | None
    levels: list[_Level] = field(default_factory=list)


# Like the run on a pod, the recording state is process-wide (not per thread or task).
_lock = threading.Lock()
_stack: list[_Frame] = []
# Steps set outside any recording of this process (under `energylab record`, a pytest-xdist
# worker): one frame per pod, so that nested step() blocks restore there too.
_loose: dict[str, _Frame] = {}
_warned: dict[str, bool] = {}


def _warn_once(key: str, message: str, *args: Any) -> None:
    if not _warned.get(key):
        _warned[key] = True
        logger.warning(message, *args)


def _internal_error(where: str) -> None:
    if not _warned.get("internal"):
        _warned["internal"] = True
        logger.warning("energylab: internal error in %s; ignored", where, exc_info=True)


def _enabled_client() -> _client.Client | None:
    client = _client.current()
    return client if client.enabled else None


def _pod_for(client: _client.Client, pod: str | None) -> str | None:
    pod = pod or client.config.pod
    if not pod:
        _warn_once(
            "no-pod", "energylab: no pod configured (ENERGYLAB_POD or NODE_NAME); not recording"
        )
    return pod


def _begin(scenario: str, pod: str | None, step: str | None, ns: int) -> _Frame | None:
    """Push a recording and send its start; None when not recording."""
    try:
        client = _enabled_client()
        if client is None:
            return None
        resolved = _pod_for(client, pod)
        if not resolved:
            return None
        # Legacy: a start without a step is sent in step "running" (its API wants one), but the
        # program declared no step: a top-level step() block does not return to it.
        frame = _Frame(str(scenario), resolved, step)
        with _lock:
            _loose.pop(frame.pod, None)  # a new run: steps set before it are not returned to
            _stack.append(frame)
            client.enqueue(Event(START, frame.pod, frame.scenario, frame.step, ns))
        return frame
    except Exception:
        _internal_error("start of a recording")
        return None


def _end(frame: _Frame | None, ns: int) -> None:
    """Pop a recording: restore the enclosing one on the same pod, or stop the pod."""
    if frame is None:
        return
    try:
        client = _enabled_client()
        with _lock:
            index = next((i for i, f in enumerate(_stack) if f is frame), None)
            if index is None:
                return
            del _stack[index]
            if index != len(_stack) or client is None:
                return  # ended out of order: what runs on the server is still the top one
            outer = next((f for f in reversed(_stack) if f.pod == frame.pod), None)
            if outer is not None:
                client.enqueue(Event(START, outer.pod, outer.scenario, outer.step, ns))
            else:
                client.enqueue(Event(STOP, frame.pod, local_ns=ns))
    except Exception:
        _internal_error("end of a recording")


def _frame_for(client: _client.Client, pod: str | None) -> _Frame | None:
    """The frame whose step a change applies to (under ``_lock``): the innermost recording
    (on ``pod`` when given), else the pod's frame outside recordings; None without a pod."""
    if _stack:
        if pod is None:
            return _stack[-1]  # the common case, kept cheap: set_step's cost is the caller's
        frame = next((f for f in reversed(_stack) if f.pod == pod), None)
        if frame is not None:
            return frame
    target = _pod_for(client, pod)
    if not target:
        return None
    frame = _loose.get(target)
    if frame is None:
        frame = _loose[target] = _Frame("", target, None)
    return frame


def _is_current(frame: _Frame) -> bool:
    """True when ``frame``'s steps are what its pod's run records now (under ``_lock``)."""
    innermost = next((f for f in reversed(_stack) if f.pod == frame.pod), None)
    return innermost is frame or (innermost is None and _loose.get(frame.pod) is frame)


def _set_step(
    name: str, ns: int, pod: str | None = None, scoped: bool = False
) -> tuple[bool, tuple[_Frame, _Level] | None]:
    """Send a step change; returns (sent, token for ``_leave_step`` when ``scoped``)."""
    try:
        client = _enabled_client()
        if client is None:
            return False, None
        with _lock:
            frame = _frame_for(client, pod)
            if frame is None:
                return False, None
            token: tuple[_Frame, _Level] | None = None
            if scoped:
                level = _Level(frame.step)
                frame.levels.append(level)
                token = (frame, level)
            frame.step = str(name)
            return client.enqueue(Event(STEP, frame.pod, step=frame.step, local_ns=ns)), token
    except Exception:
        _internal_error("set_step")
        return False, None


def _leave_step(token: tuple[_Frame, _Level] | None, ns: int) -> None:
    """Close a ``step()`` level: return to the step it was entered from, when there was one.

    A level left out of order (an interleaved generator or task) sends nothing: the one opened
    after it, still open, inherits the step to return to.
    """
    if token is None:
        return
    try:
        client = _enabled_client()
        frame, level = token
        with _lock:
            index = next((i for i, x in enumerate(frame.levels) if x is level), None)
            if index is None:
                return
            del frame.levels[index]
            if index != len(frame.levels):
                frame.levels[index].outer = level.outer
                return
            frame.step = level.outer
            if level.outer is None or client is None or not _is_current(frame):
                return  # nothing to return to: the step stays until the next change
            client.enqueue(Event(STEP, frame.pod, step=level.outer, local_ns=ns))
    except Exception:
        _internal_error("end of a step")


def _scenario_for(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """``self.case_name`` (Functest/Xtesting test cases) when there is one, else the qualname."""
    if args:
        try:
            name = getattr(args[0], "case_name", None)
        except Exception:
            name = None
        if isinstance(name, str) and name:
            return name
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return name if isinstance(name, str) and name else UNNAMED_SCENARIO


def _decorate(fn: F, enter: Callable[[tuple[Any, ...]], Any], leave: Callable[[Any], None]) -> F:
    """Wrap ``fn`` so that ``enter`` runs before it and ``leave`` after it, whatever happens.

    Coroutine functions are awaited inside; generators (sync and async) are covered for their
    whole life, from the first ``next()`` to exhaustion or close.
    """
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def coroutine_wrapper(*args: Any, **kwargs: Any) -> Any:
            token = enter(args)
            try:
                return await fn(*args, **kwargs)
            finally:
                leave(token)

        return cast(F, coroutine_wrapper)

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def async_generator_wrapper(*args: Any, **kwargs: Any) -> Any:
            token = enter(args)
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            finally:
                leave(token)

        return cast(F, async_generator_wrapper)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
            token = enter(args)
            try:
                return (yield from fn(*args, **kwargs))
            finally:
                leave(token)

        return cast(F, generator_wrapper)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = enter(args)
        try:
            return fn(*args, **kwargs)
        finally:
            leave(token)

    return cast(F, wrapper)


class Recording:
    """A recording of a scenario: a decorator, a context manager (sync and async), or both.

    As a decorator without a scenario, the scenario is ``self.case_name`` of the first argument
    when it has one, else the function's ``__qualname__``. Recordings nest: when an inner one
    ends, the outer scenario is started again in the step it was in.
    """

    def __init__(
        self, scenario: str | None = None, pod: str | None = None, step: str | None = None
    ) -> None:
        self.scenario = scenario
        self.pod = pod
        self.step = step
        self._frames: list[_Frame | None] = []

    def __repr__(self) -> str:
        return f"Recording(scenario={self.scenario!r}, pod={self.pod!r})"

    def __enter__(self) -> Recording:
        ns = time.time_ns()
        self._frames.append(_begin(self.scenario or UNNAMED_SCENARIO, self.pod, self.step, ns))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        ns = time.time_ns()
        if self._frames:
            _end(self._frames.pop(), ns)

    async def __aenter__(self) -> Recording:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)

    def __call__(self, fn: F) -> F:
        def enter(args: tuple[Any, ...]) -> _Frame | None:
            ns = time.time_ns()
            scenario = self.scenario or _scenario_for(fn, args)
            return _begin(scenario, self.pod, self.step, ns)

        def leave(frame: _Frame | None) -> None:
            _end(frame, time.time_ns())

        return _decorate(fn, enter, leave)


class StepChange:
    """A step: a decorator or a context manager that sets it on entry.

    With ``restore`` (``step()``), leaving returns to the step the program was in on entry:
    the enclosing ``step()``'s, or one set directly (the recording's ``step=``,
    ``Energy.set_step()``, an ``@set_step`` function); with none, nothing is sent and the step
    lasts until the next change. Without ``restore`` (``set_step()``, as in the old SDK) it is a
    direct change of the current step, like ``Energy.set_step()``.
    """

    def __init__(self, name: str, restore: bool = True) -> None:
        self.name = name
        self.restore = restore
        self._tokens: list[tuple[_Frame, _Level] | None] = []

    def __repr__(self) -> str:
        return f"StepChange({self.name!r}, restore={self.restore!r})"

    def _enter(self) -> tuple[_Frame, _Level] | None:
        return _set_step(self.name, time.time_ns(), scoped=self.restore)[1]

    def _leave(self, token: tuple[_Frame, _Level] | None) -> None:
        _leave_step(token, time.time_ns())

    def __enter__(self) -> StepChange:
        self._tokens.append(self._enter())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._tokens:
            self._leave(self._tokens.pop())

    async def __aenter__(self) -> StepChange:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)

    def __call__(self, fn: F) -> F:
        return _decorate(fn, lambda args: self._enter(), self._leave)


def recording(scenario: str, pod: str | None = None, step: str | None = None) -> Recording:
    """Record ``scenario`` on ``pod`` (default: the configured pod) while inside."""
    return Recording(scenario, pod, step)


@overload
def enable_recording(fn: F) -> F: ...


@overload
def enable_recording(
    fn: str | None = None,
    *,
    scenario: str | None = None,
    pod: str | None = None,
    step: str | None = None,
) -> Recording: ...


def enable_recording(
    fn: Callable[..., Any] | str | None = None,
    *,
    scenario: str | None = None,
    pod: str | None = None,
    step: str | None = None,
) -> Any:
    """``@enable_recording`` or ``@enable_recording(scenario=..., pod=...)``."""
    if callable(fn):
        return Recording(None, pod, step)(fn)
    return Recording(fn if isinstance(fn, str) else scenario, pod, step)


def step(name: str) -> StepChange:
    """Be in step ``name`` while inside; on exit, back to the step it was entered from (if any)."""
    return StepChange(name, restore=True)


def set_step(name: str) -> StepChange:
    """Decorator (old SDK): each call of the function first switches to step ``name``.

    To change the step right now, call ``Energy.set_step(name)``.
    """
    return StepChange(name, restore=False)


class Energy:
    """Calls in the style of Functest's ``EnergyRecorder`` (all static, all fail-safe)."""

    INITIAL_STEP = LEGACY_INITIAL_STEP

    @staticmethod
    def set_step(step: str, pod: str | None = None) -> bool:
        """Switch the current recording (or ``pod``) to ``step`` now. True if queued."""
        return _set_step(step, time.time_ns(), pod)[0]

    @staticmethod
    def start(scenario: str, pod: str | None = None, step: str | None = INITIAL_STEP) -> bool:
        """Start recording ``scenario`` (nests inside a running one). True if queued."""
        return _begin(scenario, pod, step, time.time_ns()) is not None

    @staticmethod
    def stop(pod: str | None = None) -> bool:
        """End the innermost recording (restoring an outer one), or stop ``pod``'s run."""
        ns = time.time_ns()
        try:
            client = _enabled_client()
            if client is None:
                return False
            with _lock:
                frame = next((f for f in reversed(_stack) if pod in (None, f.pod)), None)
            if frame is not None:
                _end(frame, ns)
                return True
            target = _pod_for(client, pod)
            return bool(target) and client.enqueue(Event(STOP, str(target), local_ns=ns))
        except Exception:
            _internal_error("stop")
            return False

    @staticmethod
    def submit_scenario(scenario: str, step: str, pod: str | None = None) -> bool:
        """Declare that ``scenario`` runs now in ``step`` (replaces the current recording's)."""
        ns = time.time_ns()
        try:
            client = _enabled_client()
            if client is None:
                return False
            with _lock:
                top = _stack[-1] if _stack and pod in (None, _stack[-1].pod) else None
                if top is not None:
                    top.scenario, top.step = str(scenario), step
                    return client.enqueue(Event(START, top.pod, top.scenario, step, ns))
            return _begin(scenario, pod, step, ns) is not None
        except Exception:
            _internal_error("submit_scenario")
            return False

    @staticmethod
    def get_current_scenario() -> dict[str, Any] | None:
        """What this process is recording: ``{"scenario", "step", "environment"}`` or None."""
        with _lock:
            if not _stack:
                return None
            top = _stack[-1]
            return {"scenario": top.scenario, "step": top.step, "environment": top.pod}


def configure(
    url: Any = UNSET,
    pod: Any = UNSET,
    token: Any = UNSET,
    user: Any = UNSET,
    password: Any = UNSET,
    flush_timeout: Any = UNSET,
    timeout: Any = UNSET,
    queue_size: Any = UNSET,
    commit: Any = UNSET,
    branch: Any = UNSET,
    ci_url: Any = UNSET,
    ci_system: Any = UNSET,
    build: Any = UNSET,
    labels: Any = UNSET,
) -> None:
    """Set the SDK up; what is not given comes from the environment. Never raises.

    ``url`` is the server root (native API under ``/api/v1``), a URL ending in ``/api/v1``,
    or an old recorder's ``.../resources`` (legacy protocol). ``url=None`` turns recording off.

    ``commit``, ``branch``, ``ci_url``, ``ci_system``, ``build`` and ``labels`` (a mapping of
    names to strings) are the provenance sent with each run's start; what is not given comes
    from ``ENERGYLAB_*`` variables, then from the CI's own (GitHub Actions, GitLab CI, Zuul,
    Jenkins). None leaves a field out.
    """
    options = {
        "commit": commit,
        "branch": branch,
        "ci_url": ci_url,
        "ci_system": ci_system,
        "build": build,
        "labels": labels,
        "url": url,
        "pod": pod,
        "token": token,
        "user": user,
        "password": password,
        "flush_timeout": flush_timeout,
        "timeout": timeout,
        "queue_size": queue_size,
    }
    try:
        _client.configure(**{k: v for k, v in options.items() if v is not UNSET})
    except Exception:
        _internal_error("configure")


def flush(timeout: float | None = None) -> bool:
    """Wait (at most ``timeout`` s, default the flush timeout) until queued events are sent."""
    try:
        return _client.current().flush(timeout)
    except Exception:
        _internal_error("flush")
        return False


def _reset_state() -> None:
    """Forget every active recording and one-time warning (tests)."""
    with _lock:
        del _stack[:]
        _loose.clear()
    _warned.clear()
