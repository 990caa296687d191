"""The emulator's event-source behaviour that scenarios do not show on their own."""

from __future__ import annotations

import asyncio

import pytest

from local_emulator import Emulator
from runtime import get_step_metadata, sleep, start, step, workflow
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


@workflow(name="emulator:nap")
async def nap() -> str:
    await sleep("1h")
    return "rested"


@pytest.mark.parametrize("world", ["memory", "aws"])
async def test_a_failing_poll_never_stops_the_event_source(
    world: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the mapping's loop (here its skip-ahead raising, twice) is an error the
    emulator notes and survives: a poller that died would leave every run pending."""
    async with Emulator(world=world, virtual_time=True) as emu:
        skip_ahead, failures = emu._skip_ahead, []

        def flaky_skip_ahead() -> bool:
            if len(failures) < 2:
                failures.append(1)
                raise RuntimeError("skip-ahead bug")
            return skip_ahead()

        monkeypatch.setattr(emu, "_skip_ahead", flaky_skip_ahead)
        run = await start(nap)
        assert await run.result(timeout=20) == "rested"
        assert emu.errors == ["RuntimeError: skip-ahead bug"] * 2


async def test_an_error_leaving_the_block_carries_the_emulators_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When a run cannot progress, what the user's test sees (here `result()` timing out)
    says why: the errors the emulator met meanwhile are added to it as a note."""
    with pytest.raises(TimeoutError) as caught:
        async with Emulator(world="memory") as emu:

            async def broken_receive(**_: object) -> list[object]:
                raise ConnectionError("queue unreachable")

            monkeypatch.setattr(emu.world.queue, "receive", broken_receive)
            run = await start(nap)
            await run.result(timeout=0.5)
    assert "still pending" in str(caught.value)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "the emulator's errors" in notes and "ConnectionError: queue unreachable" in notes
    assert "the emulator: 0 invocations running" in notes


@workflow(name="emulator:stuck")
async def stuck() -> str:
    return await hangs()


@step
async def hangs() -> str:
    await asyncio.Event().wait()
    return "never"


async def test_a_run_that_does_not_end_says_which_invocation_holds_it() -> None:
    """A step that never returns: the timeout the user sees names the invocation that is
    still running its run, and for how long."""
    with pytest.raises(TimeoutError) as caught:
        async with Emulator(world="memory"):
            run = await start(stuck)
            await run.result(timeout=0.5)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert f"1 invocation running (workflow:{run.run_id} for 0." in notes, notes
