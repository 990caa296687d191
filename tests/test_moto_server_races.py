"""The moto server steplane runs (`steplane dev`, the chaos harness, server-mode tests) keeps
the log's exactly-one-writer rule: moto's own server lets racing conditional writes both win."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.aws import AwsWorld
from local_emulator.aws.moto_server import MotoServer
from runtime.engine.events import Event, EventType
from runtime.errors import AppendConflictError
from tests.conftest import ManualClock, server_stack_world

ROUNDS = 100
WRITERS = 8


@pytest.fixture
async def worlds() -> AsyncIterator[list[AwsWorld]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = MotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    made: list[AwsWorld] = []
    try:
        url = f"http://127.0.0.1:{port}"
        made.append(await asyncio.to_thread(server_stack_world, url, ManualClock(), prefix="race"))
        made += [AwsWorld(made[0].config) for _ in range(WRITERS - 1)]
        yield made
    finally:
        for world in made:
            await world.close()
        server.stop()


def _event(writer: int) -> Event:
    return Event(
        type=EventType.STEP_CREATED,
        event_id=f"evt_{uuid.uuid4().hex}",
        created_at=1_700_000_000.0,
        correlation_id=f"step_{writer}",
        payload=b"ciphertext",
    )


async def test_racing_appends_through_the_server_have_one_winner(worlds, fast_switching) -> None:
    several = []
    for round_ in range(ROUNDS):
        run_id = f"run_{uuid.uuid4().hex}"

        async def append(world: AwsWorld, writer: int, run_id: str = run_id) -> bool:
            try:
                await world.log.append(run_id, 0, [_event(writer)])
            except AppendConflictError:
                return False
            return True

        won = await asyncio.gather(*(append(w, i) for i, w in enumerate(worlds)))
        if sum(won) != 1:
            several.append((round_, sum(won)))
    assert several == []
