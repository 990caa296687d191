"""The emulator's event-source behaviour that scenarios do not show on their own."""

from __future__ import annotations

import asyncio

import pytest

from local_emulator import Emulator
from runtime import get_step_metadata, start, step, workflow
from runtime.errors import ConfigurationError

executions: list[int] = []


@step
async def outlives_visibility(seconds: float) -> int:
    executions.append(get_step_metadata().attempt)
    await asyncio.sleep(seconds)
    return len(executions)


@workflow(name="emulator:long-step")
async def long_step(seconds: float) -> int:
    return await outlives_visibility(seconds)


async def test_visibility_is_extended_while_a_long_invocation_runs() -> None:
    executions.clear()
    async with Emulator(world="memory", visibility_timeout=0.4, concurrency=4) as emu:
        run = await start(long_step, 1.5)
        assert await run.result(timeout=10) == 1
        assert executions == [1]  # never handed to a second consumer meanwhile
        assert emu.workflow_invocations(run.run_id) == 1


async def test_client_is_bound_to_the_emulated_aws() -> None:
    async with Emulator(world="aws") as emu:
        tables = emu.client("dynamodb").list_tables()["TableNames"]
        assert any(name.endswith("-events") for name in tables)
        assert emu.client("sts").get_caller_identity()["Account"]
    async with Emulator(world="memory") as emu:
        with pytest.raises(ConfigurationError, match="needs the AWS World"):
            emu.client("dynamodb")
