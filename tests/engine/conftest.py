"""Engine scenarios run on every World the emulator offers, and through every way it invokes
the function host.

Each scenario runs on every pair in `COMBINATIONS` through the same function host and
event-source poller: the host called in-process, or every message POSTed, signed, to the HTTP
app served by uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from local_emulator import Emulator
from runtime.world import RealClock
from tests.conftest import aws_server_world

COMBINATIONS = [
    ("memory", "inprocess"),
    ("memory", "http"),
    ("aws", "inprocess"),  # the AWS World on moto in-process (Emulator's default)
    ("aws-server", "inprocess"),  # the AWS World on a moto server on 127.0.0.1
]
"""(World, invoke) pairs every scenario runs on. The HTTP path is World-independent, so it runs
on the fast memory World only."""


@pytest.fixture(autouse=True)
def fresh_side_effects() -> None:
    """Test workflows record side effects in module globals (`calls`, `gates`); each test, and
    each parametrization of it, starts from a clean slate."""
    from tests.engine import model_workflows, workflows

    workflows.calls.clear()
    model_workflows.calls.clear()
    model_workflows.gates.clear()


@pytest.fixture(params=COMBINATIONS, ids=[f"{w}-{i}" for w, i in COMBINATIONS])
def emulator_setup(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param[0] == "aws-server":
        request.getfixturevalue("moto_server")  # stops the server at the session's end
    return request.param


@pytest.fixture
def make_emulator(emulator_setup: tuple[str, str]) -> Callable[..., Any]:
    """`async with make_emulator(virtual_time=True) as emu:` on the parametrized World and
    invocation mode."""
    world_kind, invoke = emulator_setup

    @asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Emulator]:
        options.setdefault("modules", ["tests.engine.workflows"])
        options.setdefault("invoke", invoke)
        world: Any = world_kind
        if world_kind == "aws-server":
            world = await aws_server_world(RealClock(), max_receives=options.get("max_receives", 5))
        try:
            async with Emulator(world=world, **options) as emu:
                yield emu
        finally:
            if not isinstance(world, str):
                await world.close()

    return make
