"""`Emulator`: a World plus a function host that drains its queue the way Lambda's SQS event
source mapping does (batches, N concurrent invocations, visibility timeout, retries with
backoff, dead-letter after `max_receives`), so a laptop or a test runs the same code path as
production.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import logging
from collections.abc import Iterable
from typing import Any

from runtime.config import set_world
from runtime.errors import ConfigurationError, ErrorCode
from runtime.host import FunctionHost
from runtime.lifecycle import fail_run
from runtime.world import Delivery, RealClock, World

from .clock import VirtualClock

log = logging.getLogger("steplane.emulator")

_RETRY_BACKOFF_CAP = 5.0


class Emulator:
    """Run workflows locally. Use as `async with Emulator(...) as emu:`."""

    def __init__(
        self,
        modules: Iterable[str] | None = None,
        world: str = "aws",
        concurrency: int = 4,
        invoke: str = "inprocess",
        virtual_time: bool = False,
        *,
        deliver_twice: bool = False,
        max_receives: int = 5,
        visibility_timeout: float = 300.0,
        cache_size: int = 256,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if invoke != "inprocess":
            raise ConfigurationError(f"invoke={invoke!r} is not available yet; use 'inprocess'")
        self.modules = list(modules or [])
        self.world_kind = world
        self.concurrency = concurrency
        self.virtual_time = virtual_time
        self.deliver_twice = deliver_twice
        self.max_receives = max_receives
        self.visibility_timeout = visibility_timeout
        self.cache_size = cache_size
        self.clock = VirtualClock() if virtual_time else RealClock()
        self.errors: list[str] = []
        self.invocation_counts: collections.Counter[str] = collections.Counter()
        self.world: World
        self.host: FunctionHost
        self._twin: FunctionHost | None = None
        self._poller: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._previous_world: World | None = None

    # --- lifetime --------------------------------------------------------------------------

    async def __aenter__(self) -> Emulator:
        for module in self.modules:
            importlib.import_module(module)
        self.world = self._build_world()
        self.host = FunctionHost(self.world, cache_size=self.cache_size)
        self._twin = (
            FunctionHost(self.world, cache_size=self.cache_size) if self.deliver_twice else None
        )
        self._previous_world = set_world(self.world)
        self._poller = asyncio.create_task(self._poll(), name="steplane-poller")
        return self

    async def __aexit__(self, *exc: object) -> None:
        tasks = [t for t in (self._poller, *self._in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for host in (self.host, self._twin):
            if host is not None:
                host.forget_instances()
        set_world(self._previous_world)
        await self.world.close()

    def _build_world(self) -> World:
        if self.world_kind == "memory":
            from adapters.memory import MemoryWorld

            return MemoryWorld(clock=self.clock, max_receives=self.max_receives)
        raise ConfigurationError(
            f"world={self.world_kind!r} is not available yet; use world='memory'"
        )

    # --- what tests and tools look at ------------------------------------------------------

    def workflow_invocations(self, run_id: str) -> int:
        """How many workflow invocations processed this run (duplicates included)."""
        return self.invocation_counts[f"workflow:{run_id}"]

    # --- the event source mapping ----------------------------------------------------------

    async def _poll(self) -> None:
        queue = self.world.queue
        while True:
            free = self.concurrency - len(self._in_flight)
            if free <= 0:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            idle = not self._in_flight
            deliveries = await queue.receive(
                max_messages=min(free, 10),
                wait_seconds=0.0 if idle and self.virtual_time else 0.05,
                visibility_timeout=self.visibility_timeout,
            )
            for delivery in deliveries:
                task = asyncio.create_task(self._invoke(delivery))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if not deliveries and idle and self.virtual_time and not self._skip_ahead():
                await asyncio.sleep(0.02)  # nothing delayed either: wait for new work

    def _skip_ahead(self) -> bool:
        """Nothing is running and nothing is visible: jump to the next delayed message."""
        next_visible = getattr(self.world.queue, "next_visible_at", lambda: None)()
        if next_visible is None or not isinstance(self.clock, VirtualClock):
            return False
        self.clock.advance_to(next_visible)
        return True

    async def _invoke(self, delivery: Delivery) -> None:
        body = delivery.body
        copies = 2 if self._twin is not None else 1
        if isinstance(body, dict):
            self.invocation_counts[f"{body.get('kind')}:{body.get('run_id')}"] += copies
            self.invocation_counts[str(body.get("kind"))] += copies
        try:
            handlers = [self.host.handle(delivery.body, receive_count=delivery.receive_count)]
            if self._twin is not None:
                handlers.append(self._twin.handle(dict(delivery.body), receive_count=1))
            results = await asyncio.gather(*handlers, return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._failed(delivery, error)
        else:
            await self.world.queue.delete(delivery)

    async def _failed(self, delivery: Delivery, error: Exception) -> None:
        line = f"{type(error).__name__}: {error}"
        self.errors.append(line)
        log.warning(
            "message %s failed (receive %d): %s", delivery.body, delivery.receive_count, line
        )
        backoff = min(_RETRY_BACKOFF_CAP, 0.05 * 2**delivery.receive_count)
        if delivery.receive_count >= self.max_receives:
            await self._give_up(delivery.body, line)
            backoff = 0.0  # its next receive moves it to the dead-letter queue
        await self.world.queue.change_visibility(delivery, backoff)

    async def _give_up(self, body: dict[str, Any], reason: str) -> None:
        """The message goes to the dead-letter queue on its next receive; its run fails."""
        run_id = body.get("run_id") if isinstance(body, dict) else None
        if not isinstance(run_id, str):
            return
        message = f"a {body.get('kind')} message failed {self.max_receives} times: {reason}"
        try:
            await fail_run(self.world, run_id, ErrorCode.MAX_DELIVERIES_EXCEEDED, message)
        except Exception as error:  # an unknown run id: nothing to fail
            log.warning("could not fail run %s: %s", run_id, error)
