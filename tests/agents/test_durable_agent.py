"""A Pydantic AI agent run as a workflow: 3 tool calls and one approval, on the memory World
and the AWS World on moto; the host "dies" right after each boundary is recorded, and the run
goes on without repeating a recorded model request or tool call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.agents import steps
from local_emulator import Emulator
from runtime import HookNotFoundError, resume_hook, start
from tests.agents import flight_agent
from tests.agents.booking import book_and_approve

WORLDS = ["memory", "aws"]


@pytest.fixture(params=WORLDS)
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    async with Emulator(
        world=request.param, modules=["tests.agents.flight_agent"], virtual_time=True
    ) as emu:
        yield emu


def text_of(chunks: list[Any]) -> str:
    return "".join(c["delta"] for c in chunks if c["type"] == "text_delta")


async def test_three_tool_calls_and_an_approval_complete(emulator: Emulator) -> None:
    output, chunks = await book_and_approve(flight_agent.book)
    assert output.startswith("You are booked on SL") and "confirmation code" in output
    assert flight_agent.calls == [
        "model", "search_flights", "model", "seat_map", "model", "book_flight", "model",
    ]  # fmt: skip
    kinds = [c["type"] for c in chunks]
    assert [c["tool_name"] for c in chunks if c["type"] == "tool_result"] == [
        "search_flights", "seat_map", "book_flight",
    ]  # fmt: skip
    approval = kinds.index("approval_required")
    booking = next(
        i
        for i, c in enumerate(chunks)
        if c["type"] == "tool_call" and c["tool_name"] == "book_flight"
    )
    assert approval < booking  # nothing booked before the human said yes
    assert text_of(chunks) == output  # the deltas, streamed as they came, add up to the answer
    assert chunks[-1] == {"type": "answer", "output": output}


async def test_a_denied_booking_is_not_made() -> None:
    async with Emulator(world="memory", modules=["tests.agents.flight_agent"]):
        output, chunks = await book_and_approve(flight_agent.book, approved=False)
    assert output.startswith("Understood, I have not booked")
    assert "book_flight" not in flight_agent.calls
    assert [c["tool_name"] for c in chunks if c["type"] == "tool_call"] == [
        "search_flights",
        "seat_map",
    ]


async def test_the_wrapper_made_inside_the_workflow_works_too() -> None:
    async with Emulator(world="memory", modules=["tests.agents.flight_agent"]):
        output, _ = await book_and_approve(flight_agent.book_inline)
    assert output.startswith("You are booked on SL")


async def test_a_tool_that_runs_as_workflow_code_sleeps_durably_and_waits_on_a_hook() -> None:
    async with Emulator(world="memory", modules=["tests.agents.flight_agent"], virtual_time=True):
        run = await start(flight_agent.wait_a_while)
        deadline = time.monotonic() + 20
        while True:  # the hook exists once the tool's hour has passed (virtual time)
            try:
                await resume_hook("waiter:answer", {"heard": "yes"})
                break
            except HookNotFoundError:
                assert time.monotonic() < deadline, await run.status()
                await asyncio.sleep(0.01)
        assert await run.result(timeout=10) == "slept and heard: {'heard': 'yes'}"
        events = [e["type"] for e in await run.events()]
        assert "wait_completed" in events  # a durable timer, not a blocked host


# --- the host dies right after a boundary is recorded ---------------------------------------


class HostDied(ConnectionError):
    """The host is gone the moment its write landed: it never learns the write succeeded."""


def die_after(emu: Emulator, step_name: str, nth: int) -> list[int]:
    """Make the invocation that records the `nth` completion of `step_name` fail right after
    that write, as a host killed then would: the queue delivers the message again."""
    log = emu.world.log
    append = log.append
    deaths: list[int] = []
    seen = 0

    async def append_then_die(run_id: str, position: int, events: Any) -> None:
        nonlocal seen
        await append(run_id, position, events)
        for event in events:
            if event.type == "step_completed" and event.attrs.get("step_name") == step_name:
                seen += 1
                if seen == nth and not deaths:
                    deaths.append(position)
                    raise HostDied(f"killed after recording {step_name} #{nth}")

    log.append = append_then_die  # type: ignore[method-assign]
    return deaths


BOUNDARIES = [
    (steps.MODEL_REQUEST, 1),  # the model asked for search_flights; the tool has not run
    (steps.CALL_TOOL, 1),  # search_flights ran; the next model request has not
    (steps.MODEL_REQUEST, 3),  # the model asked to book: the approval is next
    (steps.CALL_TOOL, 3),  # the approved booking ran; the final answer has not been asked
]
_uninterrupted: dict[str, tuple[str, list[str]]] = {}


async def uninterrupted_booking(world: str) -> tuple[str, list[str]]:
    """The answer and the calls of a booking nobody killed (once per World and session)."""
    if world not in _uninterrupted:
        output, _ = await book_and_approve(flight_agent.book)
        _uninterrupted[world] = output, list(flight_agent.calls)
        flight_agent.calls.clear()
    return _uninterrupted[world]


@pytest.mark.parametrize(
    ("world", "step_name", "nth"),
    [
        pytest.param(world, name, nth, marks=[pytest.mark.slow] if slow else [])
        for world in WORLDS
        for index, (name, nth) in enumerate(BOUNDARIES)
        for slow in [world == "aws" and index in (1, 2)]  # one of each boundary by default
    ],
    ids=lambda v: str(v).split(":")[-1],
)
async def test_a_host_killed_at_a_boundary_changes_nothing(
    world: str, step_name: str, nth: int
) -> None:
    async with Emulator(world=world, modules=["tests.agents.flight_agent"]) as emulator:
        uninterrupted, expected_calls = await uninterrupted_booking(world)
        deaths = die_after(emulator, step_name, nth)
        output, chunks = await book_and_approve(flight_agent.book)
        assert deaths, "the host never died"
        assert output == uninterrupted
        assert flight_agent.calls == expected_calls  # no model request or tool call ran twice
        assert text_of(chunks) == output


async def test_a_toolset_that_lists_with_io_lists_in_a_step_once() -> None:
    """Like an MCP server's: its listing is a recorded step, not repeated on replay."""
    flight_agent.listings.clear()
    async with Emulator(world="memory", modules=["tests.agents.flight_agent"], cache_size=0):
        run = await start(flight_agent.use_remote_tools)
        assert await run.result(timeout=20) == "remote said echo: hi"
        names = [e.get("step_name") for e in await run.events() if e["type"] == "step_completed"]
    assert names.count(steps.GET_TOOLS) == 2  # one listing per model request, each recorded
    # the two recorded listings, plus one inside each tool call's step (it finds the tool)
    assert flight_agent.listings == ["list"] * 3
