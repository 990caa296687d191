"""Bad input: each gets a clear one-line error naming the problem, and nothing recorded is lost."""

from __future__ import annotations

import threading

import pytest

from runtime import (
    HookNotFoundError,
    PayloadTooLargeError,
    SerializationError,
    WorkflowFailedError,
    get_world,
    resume_hook,
    start,
)
from runtime.errors import InvalidMessageError, WorkflowNotFoundError
from tests.engine import workflows as wf
from tests.engine.test_scenarios import _wait_for_event


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    return text


async def _run_count() -> int:
    return len((await get_world().runs.list(limit=1000)).items)


async def test_unserializable_start_argument_records_nothing(make_emulator) -> None:
    async with make_emulator():
        with pytest.raises(SerializationError) as error:
            await start(wf.round_trip, {"lock": threading.Lock()})
        assert "'lock'" in one_line(error.value) and "args[0]['lock']" in str(error.value)
        assert await _run_count() == 0


async def test_unserializable_values_inside_a_workflow_raise_at_the_call(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.bad_values)
        result = await run.result(timeout=30)
        assert "'lock'" in result["argument"]
        assert "'lock'" in result["result"] and "result" in result["result"]


async def test_oversize_payload_is_refused_before_anything_is_written(make_emulator) -> None:
    async with make_emulator():
        with pytest.raises(PayloadTooLargeError) as error:
            await start(wf.round_trip, b"x" * (50 * 1024 * 1024 + 1))
        assert "is 52428801 bytes, over the 52428800 bytes limit" in one_line(error.value)
        assert await _run_count() == 0


async def test_oversize_hook_payload_keeps_the_hook_usable(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.hold_hook, "big-payload")
        await _wait_for_event(run, "hook_created")
        with pytest.raises(PayloadTooLargeError, match="hook payload"):
            await resume_hook("big-payload", "y" * (50 * 1024 * 1024 + 1))
        await resume_hook("big-payload", "small")
        assert await run.result(timeout=30) == "small"


async def test_unknown_workflow_in_a_message(make_emulator) -> None:
    async with make_emulator() as emu:
        run = await start(wf.addition, 1, 1)
        assert await run.result(timeout=30) == 2
        before = await run.events()
        message = {"v": 1, "kind": "workflow", "run_id": run.run_id, "workflow": "gone:wf"}
        with pytest.raises(WorkflowNotFoundError) as error:
            await emu.host.handle(message)
        assert "unknown workflow 'gone:wf'" in one_line(error.value)
        assert run.run_id in str(error.value)
        assert await run.events() == before


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not json", "not JSON"),
        ([1, 2], "expected an object"),
        ({"v": 9, "kind": "workflow"}, "unsupported version"),
        ({"v": 1, "kind": "workflow", "workflow": "x"}, "'run_id'"),
        ({"v": 1, "kind": "teleport", "run_id": "run_1"}, "unknown kind 'teleport'"),
        ({"v": 1, "kind": "step", "run_id": "run_1", "step": "s"}, "'step_id'"),
        (
            {"v": 1, "kind": "step", "run_id": "run_1", "step": "s", "step_id": "x", "hint": -1},
            "'hint'",
        ),
    ],
)
async def test_malformed_messages(make_emulator, raw, problem) -> None:
    async with make_emulator() as emu:
        with pytest.raises(InvalidMessageError) as error:
            await emu.host.handle(raw)
        assert problem in one_line(error.value)
        assert one_line(error.value).startswith("malformed message")


async def test_malformed_message_on_the_queue_does_not_disturb_other_runs(make_emulator) -> None:
    async with make_emulator(max_receives=2) as emu:
        await emu.world.queue.send({"v": 1, "kind": "nonsense", "run_id": "run_x"})
        run = await start(wf.three_steps, 1)
        assert await run.result(timeout=30) == 112
        assert any("unknown kind 'nonsense'" in line for line in emu.errors)


async def test_resuming_an_unknown_hook(make_emulator) -> None:
    async with make_emulator():
        with pytest.raises(HookNotFoundError) as error:
            await resume_hook("no-such-token", {"x": 1})
        assert "no live hook" in one_line(error.value)
        assert "no-such-token" not in one_line(error.value)  # never echo a bearer secret


async def test_token_already_held_by_another_live_hook(make_emulator) -> None:
    async with make_emulator():
        holder = await start(wf.hold_hook, "taken")
        await _wait_for_event(holder, "hook_created")
        contender = await start(wf.try_hook, "taken")
        result = await contender.result(timeout=30)
        assert result.startswith("conflict: ") and "already held" in result
        assert "taken" not in result  # the token is named by fingerprint only
        uncaught = await start(wf.hold_hook, "taken")
        with pytest.raises(WorkflowFailedError) as failure:
            await uncaught.result(timeout=30)
        assert failure.value.code == "USER_ERROR"
        assert "HookConflictError" in failure.value.message
        assert await resume_hook("taken", "still mine") == holder.run_id
        assert await holder.result(timeout=30) == "still mine"


async def test_start_on_a_function_that_is_not_a_workflow(make_emulator) -> None:
    async def plain() -> None: ...

    async with make_emulator():
        for target in (plain, wf.add, print):
            with pytest.raises(TypeError, match="is not a workflow") as error:
                await start(target)
            one_line(error.value)
        assert await _run_count() == 0
