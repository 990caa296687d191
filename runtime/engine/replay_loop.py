"""A deterministic asyncio event loop for replaying workflow code.

Workflow code is ordinary asyncio code (`gather`, `wait`, `as_completed`, `create_task`,
`timeout`), so it needs an event loop; replay needs that loop to be deterministic and its timers
to be durable. This loop runs ready callbacks in FIFO order and only when asked
(`run_until_idle`), never blocks, and hands every timer to a `TimerSink` that turns it into a
durable wait (the idea of Temporal's Python SDK, without its size). Its clock is the workflow's
replay clock, so `loop.time()`-based deadlines (`asyncio.timeout`) are durable too.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("steplane.replay")

_IO_MESSAGE = (
    "workflow code cannot do I/O, use threads or subprocesses ({what}); move that work into a @step"
)


class TimerSink(Protocol):
    clock: float

    def schedule_timer(self, handle: asyncio.TimerHandle) -> None: ...

    def cancel_timer(self, handle: asyncio.TimerHandle) -> None: ...


class DeterministicEventLoop(asyncio.AbstractEventLoop):
    """Runs workflow tasks step by step under the control of the replay engine."""

    def __init__(self, timers: TimerSink) -> None:
        self._timers = timers
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._running = False
        self._closed = False
        self.unhandled: list[dict[str, Any]] = []

    # --- driving ---------------------------------------------------------------------------

    def run_until_idle(self) -> None:
        """Run ready callbacks until none is left. Re-entrant calls are refused."""
        if self._running:
            raise RuntimeError("the workflow loop is already running")
        outer = asyncio.events._get_running_loop()
        outer_hooks = sys.get_asyncgen_hooks()
        asyncio.events._set_running_loop(self)
        sys.set_asyncgen_hooks(firstiter=_keep_asyncgen, finalizer=_drop_asyncgen)
        self._running = True
        try:
            while self._ready:
                handle = self._ready.popleft()
                if not handle.cancelled():
                    handle._run()
        finally:
            self._running = False
            sys.set_asyncgen_hooks(*outer_hooks)
            asyncio.events._set_running_loop(outer)

    def has_ready(self) -> bool:
        """Whether `run_until_idle` has anything to run."""
        return bool(self._ready)

    def fire_timer(self, handle: asyncio.TimerHandle) -> None:
        """A durable wait completed: run its callback on the next `run_until_idle`."""
        if not handle.cancelled():
            self._ready.append(handle)

    # --- scheduling --------------------------------------------------------------------------

    def time(self) -> float:
        return self._timers.clock

    def call_soon(
        self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    call_soon_threadsafe = call_soon

    def call_later(
        self,
        delay: float,
        callback: Callable[..., Any],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(
        self,
        when: float,
        callback: Callable[..., Any],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        if when <= self.time():
            self._ready.append(handle)
        else:
            self._timers.schedule_timer(handle)
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        self._timers.cancel_timer(handle)

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Awaitable[Any],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        # Step calls and sleeps return futures (so `asyncio.wait` takes them); accept them here
        # too, so `asyncio.create_task(my_step(...))` works as it does for coroutines.
        if not asyncio.iscoroutine(coro):
            coro = _await(coro)
        return asyncio.Task(coro, loop=self, name=name, context=context)

    # --- state -------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._ready.clear()

    def get_debug(self) -> bool:
        return False

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        # Futures and tasks dropped with the workflow (a finished or evicted run) report here;
        # the engine records what matters, so keep it out of the user's logs.
        self.unhandled.append(context)
        log.debug("workflow loop: %s", context.get("message"))

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.call_exception_handler(context)

    def get_exception_handler(self) -> None:
        return None

    def set_exception_handler(self, handler: Any) -> None:
        raise RuntimeError(_IO_MESSAGE.format(what="set_exception_handler"))

    def get_task_factory(self) -> None:
        return None

    # --- everything else is I/O: refuse it clearly -------------------------------------------

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        raise RuntimeError(_IO_MESSAGE.format(what="run_in_executor / to_thread"))


def _keep_asyncgen(agen: Any) -> None:
    """An async generator first iterated by workflow code belongs to the workflow loop, not to
    the host's loop: left to the host's (sys's default hooks), the host's loop would `aclose()`
    it at shutdown, inside a coroutine waiting on this loop's futures, and hang there."""


def _drop_asyncgen(agen: Any) -> None:
    """A workflow's async generator collected unfinished is dropped without its cleanup, like
    the suspended workflow itself (`WorkflowInstance.discard`): running it at garbage-collection
    time would put work at a point of the replay no log records."""


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _refuse(name: str) -> Callable[..., Any]:
    def refuse(self: DeterministicEventLoop, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(_IO_MESSAGE.format(what=f"loop.{name}"))

    return refuse


# Every AbstractEventLoop method the class above does not implement is I/O or process control.
for _name in dir(asyncio.AbstractEventLoop):
    if not _name.startswith("_") and _name not in DeterministicEventLoop.__dict__:
        setattr(DeterministicEventLoop, _name, _refuse(_name))
