"""The replay engine alone: `DeterministicEventLoop` and `WorkflowInstance` fed hand-made events.

No World and no host: each test plays the part of the log, feeding events one by one and
looking at what the workflow code asked for (commands) and what it returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime import create_hook, now, random, serde, sleep, step, uuid4
from runtime.definitions import WorkflowDef
from runtime.engine.events import Event, EventType
from runtime.engine.instance import (
    HookCommand,
    ReplayDivergence,
    StepCommand,
    WaitCommand,
    WorkflowInstance,
)
from runtime.engine.replay_loop import DeterministicEventLoop

T0 = 1_700_000_000.0


@step
async def add(a: int, b: int) -> int:
    return a + b


@step
async def other(a: int, b: int) -> int:
    return a - b


class Replay:
    """A workflow instance and the log that feeds it."""

    def __init__(self, fn: Callable[..., Any], *args: Any, run_id: str = "run_test") -> None:
        self.instance = WorkflowInstance(run_id, WorkflowDef("test", fn), b"s" * 32, 1_000_000)
        self.seq = 0
        args_value = {"args": list(args), "kwargs": {}}
        self.feed(EventType.RUN_CREATED, value=args_value, workflow_name="test")

    def feed(
        self, kind: str, cid: str | None = None, value: Any = None, at: float = T0, **attrs: Any
    ) -> None:
        event = Event(kind, f"evt_{self.seq}", at, cid, attrs, None, self.seq)
        self.seq += 1
        self.instance.apply(event, value)

    def complete_step(self, cid: str, name: str, value: Any, at: float = T0) -> None:
        self.feed(EventType.STEP_CREATED, cid, at=at, step_name=name)
        self.feed(EventType.STEP_COMPLETED, cid, value, at=at, attempt=1, step_name=name)

    def sid(self, number: int) -> str:
        """The id of the workflow's `number`-th durable call when it is a step."""
        return self.instance.command_id("step", number)

    def new(self) -> list[tuple[str, str]]:
        return [(type(c).__name__, c.command_id) for c in self.instance.new_commands()]

    @property
    def result(self) -> Any:
        outcome = self.instance.outcome
        assert outcome is not None, "the workflow has not finished"
        if not outcome.ok:
            raise outcome.error
        return outcome.value


@pytest.fixture
def replay() -> Iterator[Callable[..., Replay]]:
    made: list[Replay] = []

    def make(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Replay:
        made.append(Replay(fn, *args, **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.instance.discard()


ADD = f"{__name__}:add"


# --- WorkflowInstance ----------------------------------------------------------------------


def test_a_step_call_becomes_a_command_and_its_recorded_result_is_returned(replay) -> None:
    async def wf(x: int) -> int:
        return await add(x, 1) * 10

    r = replay(wf, 4)
    assert r.new() == [("StepCommand", r.sid(1))]
    assert r.instance.outcome is None
    command = r.instance.new_commands()[0]
    assert isinstance(command, StepCommand) and serde.loads(command.args_data)["args"] == [4, 1]
    r.complete_step(r.sid(1), ADD, 5)
    assert r.new() == []
    assert r.result == 50


def test_parallel_steps_get_ids_in_call_order_and_finish_in_any_order(replay) -> None:
    async def wf() -> list[int]:
        return list(await asyncio.gather(add(1, 1), add(2, 2), add(3, 3)))

    r = replay(wf)
    assert r.new() == [("StepCommand", r.sid(i)) for i in (1, 2, 3)]
    for cid in (r.sid(1), r.sid(2), r.sid(3)):
        r.feed(EventType.STEP_CREATED, cid, step_name=ADD)
    r.feed(EventType.STEP_COMPLETED, r.sid(3), 6, attempt=1, step_name=ADD)
    r.feed(EventType.STEP_COMPLETED, r.sid(1), 2, attempt=1, step_name=ADD)
    assert r.instance.outcome is None
    r.feed(EventType.STEP_COMPLETED, r.sid(2), 4, attempt=1, step_name=ADD)
    assert r.result == [2, 4, 6]


def test_a_failed_step_raises_its_exception_in_the_workflow(replay) -> None:
    async def wf() -> str:
        try:
            await add(1, 2)
        except KeyError as error:
            return f"caught {error.args[0]}"
        return "not caught"

    r = replay(wf)
    r.feed(EventType.STEP_CREATED, r.sid(1), step_name=ADD)
    error = serde.encode_exception(KeyError("sku"))
    r.feed(EventType.STEP_FAILED, r.sid(1), error, attempt=1, step_name=ADD)
    assert r.result == "caught sku"


def test_now_is_the_time_of_the_last_recorded_event(replay) -> None:
    async def wf() -> list[float]:
        seen = [now().timestamp()]
        await add(0, 0)
        seen.append(now().timestamp())
        return seen

    r = replay(wf)
    r.complete_step(r.sid(1), ADD, 0, at=T0 + 42)
    assert r.result == [T0, T0 + 42]


def test_sleep_is_a_durable_wait_that_resumes_on_wait_completed(replay) -> None:
    async def wf() -> float:
        await sleep("90s")
        return now().timestamp()

    r = replay(wf)
    assert r.new() == [("WaitCommand", "wait_1")]
    wait = r.instance.new_commands()[0]
    assert isinstance(wait, WaitCommand) and wait.resume_at == T0 + 90
    r.feed(EventType.WAIT_CREATED, "wait_1", resume_at=T0 + 90)
    assert [w.command_id for w in r.instance.pending_waits()] == ["wait_1"]
    assert r.instance.outcome is None
    r.feed(EventType.WAIT_COMPLETED, "wait_1", at=T0 + 91)
    assert r.result == T0 + 91
    assert r.instance.pending_waits() == []


def test_a_timer_cancelled_before_it_fires_is_no_longer_pending(replay) -> None:
    async def wf() -> int:
        return await asyncio.wait_for(add(1, 1), timeout=60)

    r = replay(wf)
    assert r.new() == [("StepCommand", r.sid(1)), ("WaitCommand", "wait_2")]
    r.feed(EventType.WAIT_CREATED, "wait_2", resume_at=T0 + 60)
    r.complete_step(r.sid(1), ADD, 2)
    assert r.result == 2
    assert r.instance.pending_waits() == []


def test_a_step_called_where_the_log_has_another_is_divergence(replay) -> None:
    async def wf() -> int:
        return await other(1, 1)

    r = replay(wf)
    with pytest.raises(ReplayDivergence, match=r"add.*other|other.*add"):
        r.feed(EventType.STEP_CREATED, r.sid(1), step_name=ADD)


def test_a_wait_recorded_where_the_code_calls_a_step_is_divergence(replay) -> None:
    async def wf() -> int:
        return await add(1, 1)

    r = replay(wf)
    with pytest.raises(ReplayDivergence, match="wait_created step_1"):
        r.feed(EventType.WAIT_CREATED, r.sid(1), resume_at=T0 + 1)


def test_random_uuid4_and_hook_tokens_replay_identically_per_run(replay) -> None:
    async def wf() -> list[Any]:
        hook = create_hook()
        return [random(), uuid4(), hook.token]

    first, again, other_run = replay(wf), replay(wf), replay(wf, run_id="run_other")
    assert first.result == again.result
    assert first.result != other_run.result
    assert all(a != b for a, b in zip(first.result, other_run.result, strict=True))


def test_hook_payloads_arrive_in_order(replay) -> None:
    async def wf() -> list[Any]:
        hook = create_hook(token="t")
        return [await hook, await hook]

    r = replay(wf)
    assert r.new() == [("HookCommand", "hook_1")]
    assert isinstance(r.instance.new_commands()[0], HookCommand)
    r.feed(EventType.HOOK_CREATED, "hook_1")
    assert [h.token for h in r.instance.live_hooks()] == ["t"]
    r.feed(EventType.HOOK_RECEIVED, "hook_1", "first")
    r.feed(EventType.HOOK_RECEIVED, "hook_1", {"second": 2})
    assert r.result == ["first", {"second": 2}]


def test_workflow_io_fails_with_a_clear_error(replay) -> None:
    async def wf() -> Any:
        return await asyncio.to_thread(print, "hi")

    r = replay(wf)
    with pytest.raises(RuntimeError, match="move that work into a @step"):
        _ = r.result


# --- DeterministicEventLoop ----------------------------------------------------------------


class Sink:
    """A TimerSink that records what the loop hands it."""

    def __init__(self) -> None:
        self.clock = T0
        self.scheduled: list[asyncio.TimerHandle] = []
        self.cancelled: list[asyncio.TimerHandle] = []

    def schedule_timer(self, handle: asyncio.TimerHandle) -> None:
        self.scheduled.append(handle)

    def cancel_timer(self, handle: asyncio.TimerHandle) -> None:
        self.cancelled.append(handle)


@pytest.fixture
def loop() -> Iterator[tuple[DeterministicEventLoop, Sink]]:
    sink = Sink()
    made = DeterministicEventLoop(sink)
    yield made, sink
    made.close()


def test_ready_callbacks_run_in_fifo_order_only_when_asked(loop) -> None:
    lp, _ = loop
    order: list[int] = []
    for i in range(3):
        lp.call_soon(order.append, i)
    assert order == []
    lp.run_until_idle()
    assert order == [0, 1, 2]


def test_timers_go_to_the_sink_and_run_when_fired(loop) -> None:
    lp, sink = loop
    fired: list[str] = []
    assert lp.time() == T0
    later = lp.call_later(5, fired.append, "later")
    lp.call_at(T0, fired.append, "due now")
    lp.run_until_idle()
    assert fired == ["due now"]
    assert sink.scheduled == [later] and later.when() == T0 + 5
    lp.fire_timer(later)
    lp.run_until_idle()
    assert fired == ["due now", "later"]


def test_a_cancelled_timer_is_reported_to_the_sink_and_never_runs(loop) -> None:
    lp, sink = loop
    fired: list[str] = []
    handle = lp.call_later(5, fired.append, "x")
    handle.cancel()
    assert sink.cancelled == [handle]
    lp.fire_timer(handle)
    lp.run_until_idle()
    assert fired == []


def test_asyncio_sleep_in_a_task_is_a_timer_on_the_sink(loop) -> None:
    lp, sink = loop

    async def nap() -> str:
        await asyncio.sleep(30)
        return "rested"

    task = lp.create_task(nap())
    lp.run_until_idle()
    assert not task.done() and [h.when() for h in sink.scheduled] == [T0 + 30]
    sink.clock = T0 + 30
    lp.fire_timer(sink.scheduled[0])
    lp.run_until_idle()
    assert task.result() == "rested"


@pytest.mark.parametrize(
    "call",
    [
        lambda lp: lp.run_in_executor(None, print),
        lambda lp: lp.create_connection(asyncio.Protocol, "127.0.0.1", 9),
        lambda lp: lp.add_reader(0, print),
        lambda lp: lp.getaddrinfo("localhost", 80),
        lambda lp: lp.run_forever(),
    ],
    ids=["run_in_executor", "create_connection", "add_reader", "getaddrinfo", "run_forever"],
)
def test_io_and_loop_control_are_refused(loop, call) -> None:
    lp, _ = loop
    with pytest.raises(RuntimeError, match="move that work into a @step"):
        result = call(lp)
        if asyncio.iscoroutine(result):
            result.close()
            raise AssertionError("returned a coroutine instead of refusing")


def test_run_until_idle_is_not_reentrant(loop) -> None:
    lp, _ = loop
    errors: list[BaseException] = []

    def nested() -> None:
        try:
            lp.run_until_idle()
        except RuntimeError as error:
            errors.append(error)

    lp.call_soon(nested)
    lp.run_until_idle()
    assert len(errors) == 1 and "already running" in str(errors[0])


async def test_the_outer_running_loop_is_restored(loop) -> None:
    lp, _ = loop
    outer = asyncio.get_running_loop()
    seen: list[asyncio.AbstractEventLoop] = []
    lp.call_soon(lambda: seen.append(asyncio.get_running_loop()))
    lp.run_until_idle()
    assert seen == [lp]
    assert asyncio.get_running_loop() is outer
