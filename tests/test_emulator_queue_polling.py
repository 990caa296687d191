"""How often the emulator's queue asks SQS while nothing happens (local_emulator/aws/queue.py):
20 receives a second were most of an idle emulator's or `steplane dev`'s CPU. A quiet queue
asks every `QUIET_POLL_SECONDS`; a busy one, or one this process just sent to, at once or every
50 ms as before; and a message another process sent still arrives."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.aws import AwsWorld
from local_emulator import Emulator
from local_emulator.aws.queue import QUIET_AFTER_SECONDS, QUIET_POLL_SECONDS
from runtime import Client
from tests.engine import workflows as wf

RECEIVE = "sqs.ReceiveMessage"


async def _receives_during(world: AwsWorld, seconds: float) -> float:
    """ReceiveMessage calls per second over the next `seconds`."""
    before, started = world.aws.calls[RECEIVE], time.monotonic()
    await asyncio.sleep(seconds)
    return (world.aws.calls[RECEIVE] - before) / (time.monotonic() - started)


@pytest.mark.parametrize("virtual_time", [False, True], ids=["real-time", "virtual-time"])
async def test_a_quiet_emulator_asks_sqs_a_few_times_a_second_and_still_runs_at_once(
    virtual_time: bool,
) -> None:
    """With virtual time an idle emulator's receives may not wait: they are answered empty
    until it is time to ask again (it asked every 20 ms before)."""
    async with Emulator(world="aws", virtual_time=virtual_time) as emu:
        world = emu.world
        assert isinstance(world, AwsWorld)
        assert await (await emu.runtime_client.start(wf.addition, 1, 2)).result(timeout=30) == 3
        busy = await _receives_during(world, 0.5)  # just active: every 50 ms
        await asyncio.sleep(QUIET_AFTER_SECONDS)
        quiet = await _receives_during(world, 1.5)
        assert busy >= 8, busy
        assert quiet <= 1 / QUIET_POLL_SECONDS + 1, quiet
        # A run started here wakes the quiet queue at once (its send), not at its next poll.
        started = time.monotonic()
        assert await (await emu.runtime_client.start(wf.addition, 2, 3)).result(timeout=30) == 5
        assert time.monotonic() - started < 10


async def test_a_message_another_process_sent_reaches_a_quiet_emulator() -> None:
    """`steplane runs start` against `steplane dev` sends from another process: the quiet
    queue finds the message at its next poll."""
    async with Emulator(world="aws") as emu:
        world = emu.world
        assert isinstance(world, AwsWorld)
        outside = AwsWorld(world.config)  # the production World: its sends wake nobody here
        try:
            await asyncio.sleep(QUIET_AFTER_SECONDS + 0.5)
            before = world.aws.calls[RECEIVE]
            run = await Client(outside).start(wf.addition, 4, 5)
            assert await run.result(timeout=30) == 9
            assert world.aws.calls[RECEIVE] > before
        finally:
            await outside.close()
