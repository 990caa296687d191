"""A custom hook token is a credential: after a conflict, nothing a reader of the World, the
logs or the run's failure sees carries it in clear (memory World and AWS World on moto)."""

from __future__ import annotations

import logging

import pytest

from local_emulator import Emulator
from runtime import WorkflowFailedError, resume_hook, start
from tests.engine import workflows as wf
from tests.engine.test_scenarios import _wait_for_event

TOKEN = "approve:order-7f3a-secret"


async def _dynamodb_dump(emu: Emulator) -> str:
    client = emu.client("dynamodb")
    dump = []
    for table in client.list_tables()["TableNames"]:
        dump.append(repr(client.scan(TableName=table)["Items"]))
    return "\n".join(dump)


@pytest.mark.parametrize("world", ["memory", "aws"])
async def test_a_hook_conflict_leaves_no_clear_token_anywhere(world, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    async with Emulator(modules=["tests.engine.workflows"], world=world) as emu:
        holder = await start(wf.hold_hook, TOKEN)
        await _wait_for_event(holder, "hook_created")
        caught = await start(wf.try_hook, TOKEN)
        conflict = await caught.result(timeout=10)
        uncaught = await start(wf.hold_hook, TOKEN)
        with pytest.raises(WorkflowFailedError) as failure:
            await uncaught.result(timeout=10)
        assert "HookConflictError" in failure.value.message
        assert "already held" in conflict
        # what a reader sees without decrypting: events' plaintext parts and the run records
        plaintext = []
        for run in (holder, caught, uncaught):
            for event in await emu.world.log.read(run.run_id):
                plaintext.append(repr(event.attrs))
                plaintext.append(repr(event))
            plaintext.append(repr(await emu.world.runs.get(run.run_id)))
        conflict_events = [e for e in await uncaught.events() if e["type"] == "hook_conflict"]
        assert conflict_events and "tok_" in repr(conflict_events)  # a fingerprint instead
        # decrypted, the failure is one line naming the conflict (the run's arguments, which
        # here contain the token, are user data and decrypt to what the user passed)
        (failed,) = [e for e in await uncaught.events() if e["type"] == "run_failed"]
        decrypted_failure = repr(failed)
        seen = "\n".join(
            [
                *plaintext,
                conflict,
                failure.value.message,
                decrypted_failure,
                caplog.text,
                await _dynamodb_dump(emu) if world == "aws" else repr(vars(emu.world.hooks)),
            ]
        )
        assert TOKEN not in seen
        assert "order-7f3a" not in seen
        assert await resume_hook(TOKEN, "ok") == holder.run_id  # the token still works
        assert await holder.result(timeout=10) == "ok"


async def test_the_aws_hook_key_comes_from_config_when_set() -> None:
    from adapters.aws.config import AwsConfig

    config = AwsConfig.from_env({"STEPLANE_HOOK_TOKEN_KEY": "deployment-key"})
    assert config.hook_token_key == "deployment-key"
    assert "deployment-key" not in repr(config)
