"""Real host processes against a moto server, SIGKILLed inside the agent run: once when the
first tool call is about to run (its model request is recorded), once when the model is about
to be asked again after a tool call (that tool call is recorded). New hosts pick the run up;
the answer is the uninterrupted one, and nothing recorded ran twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.aws import AwsWorld
from local_emulator import Emulator
from runtime import set_world, start
from runtime.world import RealClock
from tests.agents import flight_agent
from tests.agents.booking import book_and_approve, read_and_approve
from tests.conftest import aws_server_world

KILL_AT = ["search_flights:1", "model:3"]
"""Between model request 1 and tool call 1; between tool call 2 and model request 3."""


def host_env(world: object, log: Path) -> dict[str, str]:
    config = world.config  # type: ignore[attr-defined]
    return {
        **os.environ,
        "PYTHONPATH": os.getcwd(),
        "STEPLANE_WORLD": "aws",
        "STEPLANE_MODULES": "tests.agents.flight_agent",
        "STEPLANE_STACK": config.prefix,
        "AWS_ENDPOINT_URL": config.endpoint_url or "",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AGENT_CALL_LOG": str(log),
        "AGENT_KILL_AT": ",".join(KILL_AT),
    }


@pytest.mark.slow
async def test_sigkilled_hosts_change_nothing_and_repeat_no_recorded_call(
    moto_server: object, tmp_path: Path
) -> None:
    async with Emulator(world="memory", modules=["tests.agents.flight_agent"]):
        uninterrupted, _ = await book_and_approve(flight_agent.book)
    expected_calls = list(flight_agent.calls)

    log = tmp_path / "calls.log"
    stack = await aws_server_world(RealClock())
    # The client's World is the production one: the emulator's queue (EmulatedAwsWorld) takes
    # its own process for the only consumer and would hold back the approval's wake-up.
    world = AwsWorld(stack.config, RealClock())
    previous = set_world(world)
    env = host_env(world, log)
    try:
        run = await start(flight_agent.book, "Book me a flight from Paris to Tokyo")
        reader = asyncio.create_task(read_and_approve(run))
        kills, deadline = 0, time.monotonic() + 120
        while not reader.done():
            assert time.monotonic() < deadline, (kills, log.read_text() if log.exists() else "")
            host = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from tests.kill_host import main; main(20)",
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            ended = asyncio.create_task(host.wait())
            await asyncio.wait({ended, reader}, return_when=asyncio.FIRST_COMPLETED)
            if ended.done():
                kills += ended.result() == -9
            else:  # the run is over: this host has nothing left to do
                host.kill()
                await ended
        chunks = reader.result()
        output = await run.result(timeout=10)
    finally:
        set_world(previous)
        await world.close()
        await stack.close()
    assert kills == len(KILL_AT)
    assert output == uninterrupted
    assert log.read_text().split() == expected_calls  # no recorded call ran again
    assert "".join(c["delta"] for c in chunks if c["type"] == "text_delta") == output
