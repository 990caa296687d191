"""Deployment pinning in one process (memory World): runs and messages carry their
deployment, a host never runs another deployment's message, `check_replay` finds where a run
would diverge on new code, and `upgrade_run` moves only a run that would not.

The two versions of the code are one module imported from two directories in turn
(tests/deploy_versions.py); the cross-process version of this is tests/test_deployments_aws.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from adapters.memory import MemoryWorld
from local_emulator import Emulator
from runtime import Client, WorkflowFailedError
from runtime.deployment import code_deployment_id, current_deployment_id, set_deployment_id
from runtime.engine.events import RunStatus
from runtime.engine.messages import StepMessage, WorkflowMessage, parse_message
from runtime.engine.upgrade import UpgradeRefused, check_replay, upgrade_run
from runtime.errors import InvalidMessageError

from . import deploy_versions


@pytest.fixture
def versions(tmp_path: Path) -> tuple[str, dict[str, Path]]:
    module = "pinwf"  # one name: each test re-imports it from its own directory
    return module, deploy_versions.write_versions(tmp_path, module)


async def _until(predicate, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_messages_carry_their_deployment_and_old_ones_still_parse() -> None:
    pinned = WorkflowMessage("run_a", "wf", dep="v1")
    assert pinned.body()["dep"] == "v1"
    assert parse_message(pinned.body()) == pinned
    old = {"v": 1, "kind": "step", "run_id": "run_a", "step_id": "s", "step": "m:f"}
    assert parse_message(old) == StepMessage("run_a", "s", "m:f")  # no dep: unpinned
    with pytest.raises(InvalidMessageError, match="'dep'"):
        parse_message({**old, "dep": "../other"})


def test_code_id_follows_the_source(versions: tuple[str, dict[str, Path]]) -> None:
    module, dirs = versions
    deploy_versions.load(dirs["v1"], module)
    first = code_deployment_id([module])
    assert first == code_deployment_id([module])  # the same code, the same id
    deploy_versions.load(dirs["v2"], module)
    assert code_deployment_id([module]) != first
    set_deployment_id("explicit-1")
    try:
        assert current_deployment_id() == "explicit-1"
    finally:
        set_deployment_id(None)
    with pytest.raises(ValueError, match="invalid deployment id"):
        set_deployment_id("no spaces")


async def test_runs_record_their_deployment_and_a_host_refuses_foreign_ones(
    versions: tuple[str, dict[str, Path]],
) -> None:
    module, dirs = versions
    wf = deploy_versions.load(dirs["v1"], module)
    world = MemoryWorld()
    async with Emulator(world=world, virtual_time=True, deployment="v1") as emu:
        client = emu.runtime_client
        run = await client.start(wf.pinned_sleeper, "ann", 5)
        result = await run.result(timeout=10)
        assert result["version"] == "v1"
        record = await run.record()
        assert record.deployment == "v1"
        created = (await run.events())[0]
        assert created["type"] == "run_created" and created["deployment"] == "v1"
        # A run pinned to a deployment this host does not serve is not run on its code.
        foreign = await client.start(wf.pinned_sleeper.with_options(deployment="v9"), "bob", 0)
        assert [r.run_id for r in (await client.list(deployment="v9")).items] == [foreign.run_id]
        assert [r.run_id for r in (await client.list(deployment="v1")).items] == [run.run_id]
        with pytest.raises(WorkflowFailedError) as failed:
            await foreign.result(timeout=20)
        assert failed.value.code == "MAX_DELIVERIES_EXCEEDED"
        assert "deployment 'v9'" in failed.value.message
        assert not any(e["type"] == "step_started" for e in await foreign.events())


async def test_an_unpinned_start_is_pinned_by_the_first_host_to_run_it(
    versions: tuple[str, dict[str, Path]],
) -> None:
    module, dirs = versions
    wf = deploy_versions.load(dirs["v1"], module)
    world = MemoryWorld()
    async with Emulator(world=world, virtual_time=True) as emu:  # no id given: the code's
        run = await Client(world).start(wf.pinned_sleeper, "ann", 1)
        assert (await run.result(timeout=10))["version"] == "v1"
        created = (await run.events())[0]
        assert "deployment" not in created  # a client given no id pinned nothing
        assert (await run.record()).deployment == emu.host.deployment == current_deployment_id()
        assert emu.host.deployment is not None and emu.host.deployment.startswith("d-")


async def test_replay_check_and_upgrade(versions: tuple[str, dict[str, Path]]) -> None:
    module, dirs = versions
    v1 = deploy_versions.load(dirs["v1"], module)
    world = MemoryWorld()
    async with Emulator(world=world, deployment="v1") as emu:
        client = emu.runtime_client
        same = await client.start(v1.pinned_sleeper, "ann", 3600)
        diverging = await client.start(v1.pinned_diverger, "bob", 3600)
        hooked = await client.start(v1.pinned_hook, f"tok-{uuid.uuid4().hex}")
        for run in (same, diverging, hooked):

            async def parked(run=run) -> bool:  # type: ignore[no-untyped-def]
                kinds = [e["type"] for e in await run.events()]
                return "wait_created" in kinds or "hook_created" in kinds

            await _until(parked, f"{run.run_id} to park")

    v2 = deploy_versions.load(dirs["v2"], module)  # the new deployment's code, in process
    good = await check_replay(world, same.run_id)
    assert good.ok and good.position is None
    bad = await check_replay(world, diverging.run_id)
    assert not bad.ok
    assert bad.position == 2 and bad.command_id is not None and bad.command_id.startswith("step_1")
    assert "greet" in bad.reason and "shout" in bad.reason
    with pytest.raises(UpgradeRefused, match="would diverge on deployment v2 at position 2"):
        await upgrade_run(world, diverging.run_id, "v2")
    assert (await world.runs.get(diverging.run_id)).deployment == "v1"  # type: ignore[union-attr]

    await upgrade_run(world, same.run_id, "v2")
    assert (await world.runs.get(same.run_id)).deployment == "v2"  # type: ignore[union-attr]
    with pytest.raises(UpgradeRefused, match="already on deployment v2"):
        await upgrade_run(world, same.run_id, "v2")
    await Client(world).cancel(diverging.run_id)  # no v1 host is left to finish it
    async with Emulator(world=world, virtual_time=True, deployment="v2") as emu:
        result = await emu.runtime_client.get_run(same.run_id).result(timeout=10)
        # The recorded step result (v1's greet) is kept; what runs from here is v2's code.
        assert result == {"a": "v1 hello ann", "b": "v2:V1 HELLO ANN", "version": "v2"}
        events = await emu.runtime_client.get_run(same.run_id).events()
        upgraded = [e for e in events if e["type"] == "run_upgraded"]
        assert upgraded and (upgraded[0]["deployment"], upgraded[0]["previous"]) == ("v2", "v1")
        # A new run on this host starts on v2; the hook run is still v1's, untouched.
        fresh = await emu.runtime_client.start(v2.pinned_sleeper, "cat", 1)
        assert (await fresh.result(timeout=10))["version"] == "v2"
        assert (await fresh.record()).deployment == "v2"
        assert await emu.runtime_client.get_run(hooked.run_id).status() == RunStatus.RUNNING
