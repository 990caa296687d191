"""A 5,000-step run on the AWS World (moto in-process): it completes in one invocation with one
durable write per step, the process's caches stay within their budgets, and purging the ended
run gives back everything moto kept for it (moto retains every item until told otherwise)."""

from __future__ import annotations

import os

import pytest

from adapters.aws import AwsWorld
from local_emulator import Emulator
from runtime import start, step, workflow

STEPS = 5_000


@step
async def increment(total: int) -> int:
    return total + 1


@workflow(name="aws-long:count")
async def count_to(n: int) -> int:
    total = 0
    for _ in range(n):
        total = await increment(total)
    return total


def resident_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def items_of(world: AwsWorld, run_id: str) -> int:
    pages = world.aws.dynamodb.get_paginator("query").paginate(
        TableName=world.config.events_table,
        KeyConditionExpression="run_id = :r",
        ExpressionAttributeValues={":r": {"S": run_id}},
        Select="COUNT",
    )
    return sum(int(page["Count"]) for page in pages)


@pytest.mark.slow
async def test_five_thousand_sequential_steps_with_bounded_memory() -> None:
    async with Emulator(world="aws") as emu:
        world = emu.world
        assert isinstance(world, AwsWorld)
        before = resident_bytes()
        run = await start(count_to, STEPS)
        assert await run.result(timeout=300) == STEPS
        grown = resident_bytes() - before
        # Inline steps: one invocation per minute of inlining (the host's budget), not per step.
        assert emu.workflow_invocations(run.run_id) <= 5
        assert world.calls["dynamodb.PutItem"] <= STEPS + 10  # one durable write per step
        # The process's own caches are bounded (log cache by bytes, sticky cache by count);
        # what grows is moto's copy of the 5,000-step log, which purge_run gives back.
        assert grown < 512 * 1024 * 1024, f"resident memory grew by {grown >> 20} MB"
        assert items_of(world, run.run_id) > STEPS
        await world.purge_run(run.run_id)
        assert items_of(world, run.run_id) == 0
        assert await world.runs.get(run.run_id) is None
