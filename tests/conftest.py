"""Shared fixtures: a manual clock and a `world` fixture parametrized over every World.

A World joins the conformance suite by adding a factory to `WORLD_FACTORIES`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from adapters.memory import MemoryWorld
from runtime.world import Clock, World


class ManualClock:
    """A clock that only moves when told to, so tests of delays never sleep."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def _memory_world(clock: Clock) -> World:
    return MemoryWorld(clock=clock)


WORLD_FACTORIES: dict[str, Callable[[Clock], Awaitable[World]]] = {
    "memory": _memory_world,
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=list(WORLD_FACTORIES), ids=list(WORLD_FACTORIES))
async def world(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[World]:
    built = await WORLD_FACTORIES[request.param](clock)
    try:
        yield built
    finally:
        await built.close()
