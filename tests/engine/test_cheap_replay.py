"""Re-execution's shortcuts (engine/instance.py): a replayed step call is not serialized when
the log records it, step ids come from one keyed HMAC state, recorded values are opened
without a coroutine each. None of them may change what a replay decides."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import serde, start
from runtime.definitions import WorkflowDef
from runtime.engine.instance import WorkflowInstance, step_id_for
from tests.engine import workflows as wf


def test_step_ids_are_the_ones_a_fork_maps() -> None:
    """The copied HMAC state derives exactly `step_id_for`'s ids (forks and old logs use it)."""
    definition = WorkflowDef("test", wf.long_sleep)
    instance = WorkflowInstance("run_abc", definition, b"k" * 32, 1 << 20)
    for number in (1, 2, 9, 10, 11, 4_999, 123_456):
        assert instance.command_id("step", number) == step_id_for(b"k" * 32, "run_abc", number)
    other = WorkflowInstance("run_abd", definition, b"k" * 32, 1 << 20)
    assert other.command_id("step", 1) != instance.command_id("step", 1)


async def test_a_cold_replay_serializes_only_new_calls(
    make_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = serde.dumps_call

    def counted(args: Any, kwargs: Any) -> bytes:
        calls.append(args)
        return real(args, kwargs)

    monkeypatch.setattr(serde, "dumps_call", counted)
    async with make_emulator(virtual_time=True, cache_size=0) as emu:
        run = await start(wf.long_sleep)
        assert await run.result(timeout=30) == "woke"
        assert emu.workflow_invocations(run.run_id) == 2  # the second one replays add(1, 2)
    # add(1, 2) once, when first called; add(3, 4) once: the replay of add(1, 2) read the log.
    assert [tuple(args) for args in calls if tuple(args) in ((1, 2), (3, 4))] == [(1, 2), (3, 4)]


class _CountedCommands(dict):  # type: ignore[type-arg]
    """`WorkflowInstance.commands` that counts the walks over every command."""

    walks = 0

    def values(self) -> Any:
        type(self).walks += 1
        return super().values()


async def test_no_decision_walks_every_command_of_the_run(
    make_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host decides after every step; anything it asks then (pending waits, locks it waits
    for) is kept up to date, not found by walking every command the run has made: such a walk
    makes each step of a long run cost more than the one before (it did: the lookup of waiting
    locks was 56% of a step at a history of 5,000). Only the ending may walk them, once. So the
    walks do not grow with the number of steps."""
    made = WorkflowInstance.__post_init__

    def counted(instance: WorkflowInstance) -> None:
        made(instance)
        instance.commands = _CountedCommands()

    monkeypatch.setattr(WorkflowInstance, "__post_init__", counted)
    walks = {}
    async with make_emulator() as emu:
        for steps in (5, 60):
            _CountedCommands.walks = 0
            run = await start(wf.sequential, steps)
            assert await run.result(timeout=60) == sum(range(steps))
            assert emu.workflow_invocations(run.run_id) == 1
            walks[steps] = _CountedCommands.walks
    assert walks[60] == walks[5] <= 3, walks
