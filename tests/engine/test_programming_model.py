"""The programming model as a user sees it, end to end through the emulator's function host."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

import runtime
from runtime import (
    HookNotFoundError,
    RetryableError,
    RunNotFoundError,
    WorkflowFailedError,
    create_hook,
    get_run,
    get_step_metadata,
    get_workflow_metadata,
    get_world,
    get_writable,
    now,
    resume_hook,
    sleep,
    start,
    step,
    workflow,
)
from runtime.errors import ConfigurationError
from tests.engine import model_workflows as mw

MODULES = ["tests.engine.model_workflows"]


@pytest.fixture
def emulator(make_emulator):
    """`async with emulator(virtual_time=True) as emu:` with this file's workflows loaded."""
    return lambda **options: make_emulator(modules=MODULES, **options)


@pytest.fixture
def no_world(monkeypatch):
    """No World installed and none configured in the environment."""
    monkeypatch.delenv("STEPLANE_WORLD", raising=False)
    previous = runtime.set_world(None)
    yield
    runtime.set_world(previous)


async def _until(condition, timeout: float = 20.0) -> None:  # a liveness bound, not a speed one
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def _wait_for_event(run, event_type: str) -> list[dict]:
    events: list[dict] = []

    async def seen() -> bool:
        nonlocal events
        events = await run.events()
        return any(e["type"] == event_type for e in events)

    deadline = time.monotonic() + 20  # a liveness bound: generous under load
    while not await seen():
        assert time.monotonic() < deadline, f"{run.run_id} never recorded {event_type}"
        await asyncio.sleep(0.01)
    return events


def _types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


# --- sleep -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [
        ("250ms", 0.25),
        ("10s", 10),
        ("5m", 300),
        ("2h", 7200),
        ("3d", 3 * 86400),
        ("1h30m", 5400),
        (7, 7),
        (1.5, 1.5),
        (timedelta(minutes=5), 300),
    ],
    ids=str,
)
async def test_sleep_forms_advance_now_in_virtual_time(emulator, duration, seconds) -> None:
    async with emulator(virtual_time=True):
        run = await start(mw.sleep_for, duration)
        slept = await run.result(timeout=60)  # on AWS, 3 days is 288 chained 900 s delays
        assert seconds <= slept < seconds + 1


async def test_sleep_until_an_aware_datetime(emulator) -> None:
    async with emulator(virtual_time=True):
        run = await start(mw.sleep_until, 3600)
        slept = await run.result(timeout=30)
        assert 3600 <= slept < 3602


async def test_naive_datetime_and_bad_strings_raise_value_error_in_the_workflow(emulator) -> None:
    async with emulator():
        errors = await (await start(mw.bad_sleeps)).result(timeout=30)
        assert "timezone-aware" in errors["naive"]
        assert "'soon'" in errors["text"]
        assert "-1" in errors["negative"]


async def test_sleep_outside_a_workflow_is_an_ordinary_sleep(no_world) -> None:
    began = time.monotonic()
    assert await sleep("50ms") is None
    await sleep(0.05)
    elapsed = time.monotonic() - began
    assert 0.1 <= elapsed < 1.0
    with pytest.raises(ValueError, match="timezone-aware"):
        await sleep(datetime(2030, 1, 1))


# --- metadata --------------------------------------------------------------------------------


async def test_step_metadata_across_retries(emulator) -> None:
    async with emulator(virtual_time=True):
        run = await start(mw.metadata_over_retries, 2)
        attempts = await run.result(timeout=30)
        assert [a["attempt"] for a in attempts] == [1, 2, 3]
        assert {a["run_id"] for a in attempts} == {run.run_id}
        assert len({a["step_id"] for a in attempts}) == 1  # an idempotency key
        assert {a["step_name"] for a in attempts} == {"tests.engine.model_workflows:flaky_metadata"}
        started = [a["started_at"] for a in attempts]
        assert all(s.tzinfo is not None for s in started)
        assert started[0] < started[1] < started[2]  # backoff between attempts


async def test_renamed_step_and_workflow_metadata(emulator) -> None:
    async with emulator():
        began = datetime.now(UTC)
        run = await start(mw.renamed_workflow)
        result = await run.result(timeout=30)
        workflow_meta = result["workflow"]
        assert workflow_meta["run_id"] == run.run_id
        assert workflow_meta["workflow_name"] == "model.renamed-workflow"
        assert abs(workflow_meta["started_at"] - began) < timedelta(seconds=2)
        inline, queued, plain = result["steps"]
        for seen in (inline, queued, plain):
            assert seen["workflow"] == workflow_meta  # the same from workflow and every step
            assert seen["step"]["run_id"] == run.run_id
            assert seen["step"]["attempt"] == 1
            assert seen["step"]["started_at"] >= workflow_meta["started_at"]
        assert inline["step"]["step_name"] == queued["step"]["step_name"] == "model.renamed-step"
        assert plain["step"]["step_name"] == "tests.engine.model_workflows:plain_metadata_step"
        assert inline["step"]["step_id"] != queued["step"]["step_id"]


async def test_metadata_outside_a_step_raises_a_clear_error(emulator) -> None:
    with pytest.raises(RuntimeError, match=r"get_step_metadata\(\).*@step"):
        get_step_metadata()
    with pytest.raises(RuntimeError, match=r"get_workflow_metadata\(\)"):
        get_workflow_metadata()
    async with emulator():
        message = await (await start(mw.metadata_in_workflow_code)).result(timeout=30)
        assert "get_step_metadata()" in message and "@step" in message


# --- steps outside workflows -----------------------------------------------------------------


async def test_a_step_outside_a_workflow_is_a_plain_call(no_world) -> None:
    with pytest.raises(ConfigurationError):
        get_world()
    pending = mw.double(21)
    assert inspect.iscoroutine(pending)
    assert await pending == 42
    assert mw.triple(5) == 15  # a plain def step returns its value directly


async def test_a_step_called_from_a_step_is_a_plain_call(emulator) -> None:
    async with emulator():
        run = await start(mw.nested_steps, 2)
        assert await run.result(timeout=30) == 12
        created = [e for e in await run.events() if e["type"] == "step_created"]
        assert [e["step_name"] for e in created] == [
            "tests.engine.model_workflows:double_then_triple"
        ]


def test_create_hook_outside_a_workflow_raises(no_world) -> None:
    with pytest.raises(RuntimeError, match=r"create_hook\(\).*@workflow"):
        create_hook(token="outside")


# --- registration ----------------------------------------------------------------------------


def test_two_functions_under_one_step_name_is_an_error() -> None:
    def first() -> None: ...

    def second() -> None: ...

    step(name="model.duplicate-step")(first)
    with pytest.raises(ValueError, match=r"model\.duplicate-step") as error:
        step(name="model.duplicate-step")(second)
    assert first.__qualname__ in str(error.value)


def test_duplicate_name_error_names_both_functions() -> None:
    async def one() -> None: ...

    async def two() -> None: ...

    workflow(name="model.duplicate-workflow")(one)
    with pytest.raises(ValueError) as error:
        workflow(name="model.duplicate-workflow")(two)
    assert one.__qualname__ in str(error.value) and two.__qualname__ in str(error.value)


def test_two_steps_made_by_one_factory_share_a_default_name_and_are_refused() -> None:
    def make(value: str):
        @step
        async def constant() -> str:
            return value

        return constant

    make("one")
    with pytest.raises(ValueError, match="constant"):
        make("two")


def test_workflow_must_be_async() -> None:
    def not_async() -> None: ...

    with pytest.raises(TypeError, match="async def"):
        workflow(not_async)


def test_negative_max_retries_is_refused() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        step(max_retries=-1)


# --- step failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("key", {"caught": "builtins:KeyError", "args": ("missing-key",)}),
        (
            "custom",
            {"caught": "tests.engine.model_workflows:OutOfStock", "args": ("sku-1 sold out",)},
        ),
        (
            "keyword",
            {
                "caught": "StepFailedError",
                "type_name": "tests.engine.model_workflows:NeedsKeyword",
                "message": "code 7",
            },
        ),
        (
            "local",
            {
                "caught": "StepFailedError",
                "type_name": "tests.engine.model_workflows:_local_exception.<locals>.LocalError",
                "message": "made inside a function",
            },
        ),
    ],
    ids=["builtin", "module-level", "keyword-only-init", "local-class"],
)
async def test_step_exception_arrives_in_the_workflow(emulator, kind, expected) -> None:
    async with emulator():
        run = await start(mw.catch_step_error, kind)
        assert await run.result(timeout=30) == expected


async def test_default_retries_make_four_attempts(emulator) -> None:
    async with emulator(virtual_time=True):
        run = await start(mw.exhaust_default_retries)
        assert await run.result(timeout=30) == [1, 2, 3, 4]
        types = _types(await run.events())
        assert types.count("step_started") == 4
        assert types.count("step_retrying") == 3
        assert types.count("step_failed") == 1


@pytest.mark.parametrize("retry_after", ["soon", -1, "10 parsecs", float("nan"), object()])
def test_retryable_error_refuses_a_bad_retry_after(retry_after) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        RetryableError("busy", retry_after=retry_after)


def test_retryable_error_accepts_the_sleep_forms() -> None:
    for form in ("250ms", "30s", 5, 0.5, timedelta(seconds=3)):
        assert RetryableError("busy", retry_after=form).retry_after == form


# --- run lifecycle ---------------------------------------------------------------------------


async def test_run_status_result_and_get_run(emulator) -> None:
    async with emulator():
        run = await start(mw.wait_for_approval, "lifecycle-1")
        assert run.run_id.startswith("run_")
        assert await run.status() in ("pending", "running")
        await _wait_for_event(run, "hook_created")
        assert await run.status() == "running"
        await resume_hook("lifecycle-1", "yes")
        expected = {"greeting": "hello", "decision": "yes"}
        assert await run.result(timeout=30) == expected
        assert await run.status() == "completed"
        again = get_run(run.run_id)
        assert await again.status() == "completed"
        assert await again.result(timeout=1) == expected


async def test_status_is_running_while_the_first_step_executes(emulator) -> None:
    async with emulator():
        run = await start(mw.gated_first_step, "first-step-gate")
        await _until(lambda: "first-step-gate" in mw.gates)  # the step is waiting at its gate
        try:
            assert await run.status() == "running"
        finally:
            mw.gates["first-step-gate"].set()
            assert await run.result(timeout=30) == "through"


async def test_events_are_typed_timestamped_and_decrypted(emulator) -> None:
    async with emulator():
        run = await start(mw.wait_for_approval, "lifecycle-2")
        await _wait_for_event(run, "hook_created")
        await resume_hook("lifecycle-2", {"ok": True})
        await run.result(timeout=30)
        events = await run.events()
        assert _types(events)[0] == "run_created" and _types(events)[-1] == "run_completed"
        assert all(isinstance(e["created_at"], datetime) for e in events)
        assert all(e["created_at"].tzinfo is not None for e in events)
        by_type = {e["type"]: e for e in events}
        assert by_type["step_completed"]["data"] == "hello"
        assert by_type["hook_received"]["data"] == {"ok": True}
        assert by_type["run_completed"]["data"] == {"greeting": "hello", "decision": {"ok": True}}


async def test_unknown_run_id(emulator) -> None:
    async with emulator():
        run = get_run("run_does_not_exist")
        with pytest.raises(RunNotFoundError, match="run_does_not_exist"):
            await run.status()
        with pytest.raises(RunNotFoundError, match="run_does_not_exist"):
            await run.result(timeout=1)
        with pytest.raises(RunNotFoundError, match="run_does_not_exist"):
            await run.events()
        with pytest.raises(RunNotFoundError, match="run_does_not_exist"):
            await run.cancel()
        with pytest.raises(RunNotFoundError, match="run_does_not_exist"):
            [chunk async for chunk in run.stream()]


async def test_result_timeout_leaves_the_run_going(emulator) -> None:
    async with emulator():
        run = await start(mw.wait_for_approval, "lifecycle-3")
        with pytest.raises(TimeoutError, match=r"run_\w+ is still (pending|running) after 0.2 s"):
            await run.result(timeout=0.2)
        assert await run.status() in ("pending", "running")  # not ended: it goes on
        await _wait_for_event(run, "hook_created")  # 0.2 s need not reach the hook under load
        await resume_hook("lifecycle-3", "late")
        assert (await run.result(timeout=20))["decision"] == "late"


async def test_a_run_that_ends_frees_its_live_hook_tokens(emulator) -> None:
    async with emulator():
        run = await start(mw.leave_hook_open, "left-open")
        assert await run.result(timeout=30) == "done"
        assert "hook_disposed" in _types(await run.events())
        with pytest.raises(HookNotFoundError, match="no live hook") as error:
            await resume_hook("left-open", "too late")
        assert "left-open" not in str(error.value)
        second = await start(mw.wait_for_approval, "left-open")
        await _wait_for_event(second, "hook_created")
        assert await resume_hook("left-open", "mine") == second.run_id
        assert (await second.result(timeout=30))["decision"] == "mine"


# --- child runs ------------------------------------------------------------------------------


async def test_a_step_may_start_a_child_run(emulator) -> None:
    async with emulator():
        run = await start(mw.parent, 21)
        child_id = await run.result(timeout=30)
        assert child_id != run.run_id
        record = await get_world().runs.get(child_id)
        assert record is not None and record.parent_run_id == run.run_id
        assert await get_run(child_id).result(timeout=30) == 42
        assert (await get_world().runs.get(run.run_id)).parent_run_id is None


async def test_start_inside_workflow_code_is_refused(emulator) -> None:
    async with emulator():
        run = await start(mw.start_from_workflow_code)
        message = await run.result(timeout=30)
        assert "start()" in message and "@step" in message
        assert len((await get_world().runs.list(limit=10)).items) == 1  # no child was made


# --- workflow code stays deterministic -------------------------------------------------------


@pytest.mark.parametrize("kind", ["run_in_executor", "to_thread", "open_connection"])
async def test_io_on_the_workflow_loop_fails_the_run(emulator, kind) -> None:
    async with emulator():
        run = await start(mw.does_io, kind)
        with pytest.raises(WorkflowFailedError) as failure:
            await run.result(timeout=30)
        assert failure.value.code == "USER_ERROR"
        assert "move that work into a @step" in failure.value.message


def test_now_random_uuid4_outside_a_workflow_are_the_stdlib_ones() -> None:
    assert abs(now() - datetime.now(UTC)) < timedelta(seconds=1)
    assert now().tzinfo is not None
    assert len({runtime.random() for _ in range(5)}) == 5
    assert all(0 <= runtime.random() < 1 for _ in range(100))
    ids = {runtime.uuid4() for _ in range(5)}
    assert len(ids) == 5 and all(isinstance(u, uuid.UUID) and u.version == 4 for u in ids)


# --- asyncio combinators over steps ----------------------------------------------------------


async def test_wait_for_a_step_that_finishes_first_drops_the_timer(emulator) -> None:
    async with emulator():
        run = await start(mw.wait_for_fast_step)
        assert await run.result(timeout=30) == "in time"
        assert "wait_completed" not in _types(await run.events())


async def test_as_completed_and_wait_first_completed_follow_step_durations(emulator) -> None:
    async with emulator(concurrency=4):
        run = await start(mw.first_completed)
        assert await run.result(timeout=30) == {
            "as_completed": ["fast", "slow"],
            "wait_first": ["fast"],
            "wait_rest": ["slow"],
        }


# --- streams ---------------------------------------------------------------------------------


async def test_named_stream_is_separate_from_the_default_one(emulator) -> None:
    async with emulator():
        run = await start(mw.two_streams)
        await run.result(timeout=30)
        assert [c async for c in run.stream()] == ["to default"]
        logs = [c async for c in run.stream("logs")]
        assert logs == [{"level": "info", "msg": "to logs"}, "second log line"]
        assert [c async for c in run.stream("never-written")] == []


async def test_get_writable_outside_a_step_raises(emulator) -> None:
    with pytest.raises(RuntimeError, match=r"get_writable\(\).*@step"):
        get_writable()
    async with emulator():
        message = await (await start(mw.writable_in_workflow_code)).result(timeout=30)
        assert "get_writable()" in message and "@step" in message


async def test_unserializable_chunk_raises_serialization_error_in_the_step(emulator) -> None:
    async with emulator():
        message = await (await start(mw.unserializable_chunk)).result(timeout=30)
        assert message.startswith("SerializationError") and "lock" in message


async def test_reader_started_before_the_writer_sees_chunks_live(emulator) -> None:
    key = "live-1"
    async with emulator():
        run = await start(mw.live_stream, key)
        received: list = []

        async def read() -> None:
            async for chunk in run.stream():
                received.append(chunk)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.1)
        assert received == [] and not reader.done()
        mw.gates[f"{key}:write"].set()
        await _until(lambda: received == ["one"])
        mw.gates[f"{key}:more"].set()
        await asyncio.wait_for(reader, timeout=20)  # ends because the stream was closed...
        assert received == ["one", "two"]
        assert await run.status() in ("pending", "running")  # ...while the run still goes on
        mw.gates[f"{key}:finish"].set()
        assert await run.result(timeout=30) == "finished"


async def test_a_stream_never_closed_ends_when_the_run_ends(emulator) -> None:
    async with emulator():
        run = await start(mw.unclosed_stream, "unclosed-1")
        received: list = []

        async def read() -> None:
            async for chunk in run.stream():
                received.append(chunk)

        reader = asyncio.create_task(read())
        await _until(lambda: received == ["left open"])
        await asyncio.sleep(0.1)
        assert not reader.done()
        await resume_hook("unclosed-1", "end")
        await asyncio.wait_for(reader, timeout=20)
        assert received == ["left open"]
        assert await run.status() == "completed"


# --- concurrency -----------------------------------------------------------------------------


async def test_the_same_workflow_twice_concurrently(emulator) -> None:
    async with emulator(concurrency=4, virtual_time=True):
        first, second = await start(mw.fan_out, "a"), await start(mw.fan_out, "b")
        one, two = await asyncio.gather(first.result(timeout=30), second.result(timeout=30))
        for run, result, tag in ((first, one, "a"), (second, two, "b")):
            assert result == {
                "items": [f"{tag}-0", f"{tag}-1", f"{tag}-2", f"{tag}-99"],
                "step_run_ids": [run.run_id],
                "run_id": run.run_id,
            }
