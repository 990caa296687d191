"""Engine scenarios run on every World the emulator offers.

A World joins by adding its name to `EMULATOR_WORLDS`; each scenario then runs on it through the
same function host and event-source poller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from local_emulator import Emulator

EMULATOR_WORLDS = ["memory"]


@pytest.fixture(params=EMULATOR_WORLDS)
def emulator_world(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_emulator(emulator_world: str) -> Callable[..., Any]:
    """`async with make_emulator(virtual_time=True) as emu:` on the parametrized World."""

    @asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Emulator]:
        options.setdefault("modules", ["tests.engine.workflows"])
        async with Emulator(world=emulator_world, **options) as emu:
            yield emu

    return make
