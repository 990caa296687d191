"""Engine scenarios run on every World the emulator offers, and through every way it invokes
the function host.

A World joins by adding its name to `EMULATOR_WORLDS`; each scenario then runs on it through the
same function host and event-source poller. `INVOKE_MODES` runs each scenario both with the host
called in-process and with every message POSTed, signed, to the HTTP app served by uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from local_emulator import Emulator

EMULATOR_WORLDS = ["memory"]
INVOKE_MODES = ["inprocess", "http"]


@pytest.fixture(autouse=True)
def fresh_side_effects() -> None:
    """Test workflows record side effects in module globals (`calls`, `gates`); each test, and
    each parametrization of it, starts from a clean slate."""
    from tests.engine import model_workflows, workflows

    workflows.calls.clear()
    model_workflows.calls.clear()
    model_workflows.gates.clear()


@pytest.fixture(params=EMULATOR_WORLDS)
def emulator_world(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=INVOKE_MODES)
def emulator_invoke(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_emulator(emulator_world: str, emulator_invoke: str) -> Callable[..., Any]:
    """`async with make_emulator(virtual_time=True) as emu:` on the parametrized World and
    invocation mode."""

    @asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Emulator]:
        options.setdefault("modules", ["tests.engine.workflows"])
        options.setdefault("invoke", emulator_invoke)
        async with Emulator(world=emulator_world, **options) as emu:
            yield emu

    return make
