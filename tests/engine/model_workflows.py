"""Workflows and steps for the programming-model tests (`test_programming_model.py`).

An importable module, because queue messages name code by `module:qualname`. Steps run
in-process on the emulator, so they can leave side effects in `calls` and wait on `gates`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from runtime import (
    StepFailedError,
    create_hook,
    get_step_metadata,
    get_workflow_metadata,
    get_writable,
    now,
    set_attributes,
    sleep,
    start,
    step,
    workflow,
)

calls: defaultdict[str, list[Any]] = defaultdict(list)
gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)


def _step_meta() -> dict[str, Any]:
    meta = get_step_metadata()
    return {
        "run_id": meta.run_id,
        "step_id": meta.step_id,
        "step_name": meta.step_name,
        "attempt": meta.attempt,
        "started_at": meta.started_at,
    }


def _workflow_meta() -> dict[str, Any]:
    meta = get_workflow_metadata()
    return {
        "run_id": meta.run_id,
        "workflow_name": meta.workflow_name,
        "started_at": meta.started_at,
    }


# --- sleep -----------------------------------------------------------------------------------


@workflow
async def sleep_for(duration: Any) -> float:
    """Seconds `now()` moved across one `sleep(duration)`."""
    before = now()
    await sleep(duration)
    return (now() - before).total_seconds()


@workflow
async def sleep_until(seconds: float) -> float:
    """Sleeps until an aware datetime (in a non-UTC zone) `seconds` from now."""
    before = now()
    await sleep(now().astimezone(timezone(timedelta(hours=5))) + timedelta(seconds=seconds))
    return (now() - before).total_seconds()


@workflow
async def bad_sleeps() -> dict[str, str]:
    errors = {}
    for label, value in {
        "naive": datetime(2030, 1, 1),
        "text": "soon",
        "negative": -1,
    }.items():
        try:
            await sleep(value)
        except ValueError as error:
            errors[label] = str(error)
    return errors


# --- metadata --------------------------------------------------------------------------------


@step
async def flaky_metadata(failures: int) -> list[dict[str, Any]]:
    seen = calls[f"meta:{get_step_metadata().run_id}"]
    seen.append(_step_meta())
    if get_step_metadata().attempt <= failures:
        raise RuntimeError("not yet")
    return seen


@workflow
async def metadata_over_retries(failures: int) -> list[dict[str, Any]]:
    return await flaky_metadata(failures)


@step(name="model.renamed-step")
async def renamed_step() -> dict[str, Any]:
    return {"step": _step_meta(), "workflow": _workflow_meta()}


@step
def plain_metadata_step() -> dict[str, Any]:
    return {"step": _step_meta(), "workflow": _workflow_meta()}


@workflow(name="model.renamed-workflow")
async def renamed_workflow() -> dict[str, Any]:
    inline = await renamed_step()  # a lone step runs inline in the workflow invocation
    queued = await asyncio.gather(renamed_step(), plain_metadata_step())  # these are queued
    return {"workflow": _workflow_meta(), "steps": [inline, *queued]}


@workflow
async def metadata_in_workflow_code() -> str:
    try:
        get_step_metadata()
    except RuntimeError as error:
        return str(error)
    return "no error"


# --- steps outside workflows -----------------------------------------------------------------


@step
async def double(x: int) -> int:
    return 2 * x


@step
def triple(x: int) -> int:
    return 3 * x


@step
async def double_then_triple(x: int) -> int:
    return triple(await double(x))  # steps called from a step are plain calls


@workflow
async def nested_steps(x: int) -> int:
    return await double_then_triple(x)


# --- step failures ---------------------------------------------------------------------------


class OutOfStock(Exception):
    """A module-level exception the workflow can rebuild."""


class NeedsKeyword(Exception):
    """Cannot be rebuilt: its constructor takes a keyword-only argument."""

    def __init__(self, *, code: int) -> None:
        super().__init__(f"code {code}")
        self.code = code


def _local_exception() -> Exception:
    class LocalError(Exception):
        pass

    return LocalError("made inside a function")


@step(max_retries=0)
async def raise_kind(kind: str) -> None:
    if kind == "key":
        raise KeyError("missing-key")
    if kind == "custom":
        raise OutOfStock("sku-1 sold out")
    if kind == "keyword":
        raise NeedsKeyword(code=7)
    raise _local_exception()


@workflow
async def catch_step_error(kind: str) -> dict[str, Any]:
    try:
        await raise_kind(kind)
    except StepFailedError as error:
        return {
            "caught": "StepFailedError",
            "type_name": error.type_name,
            "message": error.message,
        }
    except Exception as error:
        kind = type(error)
        return {"caught": f"{kind.__module__}:{kind.__qualname__}", "args": error.args}
    return {"caught": None}


@step
async def always_fails() -> None:
    calls[f"always:{get_step_metadata().run_id}"].append(get_step_metadata().attempt)
    raise ValueError("still broken")


@workflow
async def exhaust_default_retries() -> list[int]:
    try:
        await always_fails()
    except ValueError:
        return calls[f"always:{get_workflow_metadata().run_id}"]
    return []


# --- hooks and run lifecycle -----------------------------------------------------------------


@step
async def give(value: Any) -> Any:
    return value


@workflow
async def wait_for_approval(token: str) -> dict[str, Any]:
    greeting = await give("hello")
    decision = await create_hook(token=token)
    return {"greeting": greeting, "decision": decision}


@workflow
async def leave_hook_open(token: str) -> str:
    create_hook(token=token)  # never awaited nor disposed
    return await give("done")


@step
async def wait_at_gate(key: str) -> str:
    await gates[key].wait()
    return "through"


@workflow
async def gated_first_step(key: str) -> str:
    return await wait_at_gate(key)


# --- child runs ------------------------------------------------------------------------------


@workflow
async def child(n: int) -> int:
    return await double(n)


@step
async def start_child(n: int) -> str:
    return (await start(child, n)).run_id


@workflow
async def parent(n: int) -> str:
    return await start_child(n)


@workflow
async def start_from_workflow_code() -> str:
    try:
        await start(child, 1)
    except RuntimeError as error:
        return str(error)
    return "started"


# --- I/O on the workflow loop ----------------------------------------------------------------


def _compute() -> int:
    return 42


@workflow
async def does_io(kind: str) -> Any:
    if kind == "run_in_executor":
        return await asyncio.get_running_loop().run_in_executor(None, _compute)
    if kind == "to_thread":
        return await asyncio.to_thread(_compute)
    _, writer = await asyncio.open_connection("127.0.0.1", 9)
    writer.close()
    return "connected"


# --- asyncio combinators over steps ----------------------------------------------------------


@step
async def take(seconds: float, label: str) -> str:
    await asyncio.sleep(seconds)
    return label


@workflow
async def wait_for_fast_step() -> str:
    return await asyncio.wait_for(take(0, "in time"), timeout=60)


@workflow
async def first_completed() -> dict[str, Any]:
    order = [await f for f in asyncio.as_completed([take(0.3, "slow"), take(0, "fast")])]
    slow = asyncio.ensure_future(take(0.3, "slow"))
    fast = asyncio.ensure_future(take(0, "fast"))
    done, pending = await asyncio.wait([slow, fast], return_when=asyncio.FIRST_COMPLETED)
    first = [task.result() for task in done]
    rest = [await task for task in pending]
    return {"as_completed": order, "wait_first": first, "wait_rest": rest}


# --- streams ---------------------------------------------------------------------------------


@step
async def write_two_streams() -> None:
    default, logs = get_writable(), get_writable("logs")
    await default.write("to default")
    await logs.write({"level": "info", "msg": "to logs"})
    await logs.write("second log line")
    await default.close()
    await logs.close()


@workflow
async def two_streams() -> None:
    await write_two_streams()


@step
async def write_unserializable() -> str:
    writer = get_writable()
    try:
        await writer.write(threading.Lock())
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return "written"


@workflow
async def unserializable_chunk() -> str:
    return await write_unserializable()


@workflow
async def writable_in_workflow_code() -> str:
    try:
        get_writable()
    except RuntimeError as error:
        return str(error)
    return "no error"


@step
async def gated_writer(key: str) -> str:
    writer = get_writable()
    await gates[f"{key}:write"].wait()
    await writer.write("one")
    await gates[f"{key}:more"].wait()
    await writer.write("two")
    await writer.close()
    await gates[f"{key}:finish"].wait()
    return "finished"


@workflow
async def live_stream(key: str) -> str:
    return await gated_writer(key)


@step
async def write_without_close(chunk: str) -> None:
    await get_writable().write(chunk)


@workflow
async def unclosed_stream(token: str) -> str:
    await write_without_close("left open")
    return await create_hook(token=token)


# --- concurrency -----------------------------------------------------------------------------


@step
async def tagged(tag: str, i: int) -> dict[str, Any]:
    await asyncio.sleep(0.05)
    return {"item": f"{tag}-{i}", "run_id": get_step_metadata().run_id}


@workflow
async def fan_out(tag: str) -> dict[str, Any]:
    parts = await asyncio.gather(*(tagged(tag, i) for i in range(3)))
    await sleep("1s")
    last = await tagged(tag, 99)
    return {
        "items": [p["item"] for p in [*parts, last]],
        "step_run_ids": sorted({p["run_id"] for p in [*parts, last]}),
        "run_id": get_workflow_metadata().run_id,
    }


# --- running ahead of the log (engine/workflow_invocation.py, `_run_ahead`) --------------------


@step
async def counted_gate(key: str) -> str:
    calls[f"gate:{key}"].append(1)
    await gates[key].wait()
    return "through"


@workflow
async def open_hook_then_gated_step(token: str, key: str) -> str:
    create_hook(token=token)  # left open: a payload to it is recorded, nothing waits for it
    await sleep(0.01)  # recorded with the hook: the step is then a lone new command, inline
    return await counted_gate(key)


@workflow
async def label_after_gated_step(key: str) -> str:
    through = await counted_gate(key)
    set_attributes(after=through)  # recorded with the ending
    return through
