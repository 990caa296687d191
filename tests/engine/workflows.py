"""Workflows and steps the engine scenarios run (the Vercel world-testing set, in Python).

They live in an importable module because queue messages name code by `module:qualname`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from typing import Any

from runtime import (
    FatalError,
    HookConflictError,
    PayloadTooLargeError,
    RetryableError,
    SerializationError,
    create_hook,
    get_step_metadata,
    get_workflow_metadata,
    get_writable,
    now,
    random,
    sleep,
    start,
    step,
    uuid4,
    workflow,
)

# Side effects tests can inspect (steps run in-process on the emulator).
calls: defaultdict[str, list[Any]] = defaultdict(list)


# --- addition and fan-out --------------------------------------------------------------------


@step
async def add(a: int, b: int) -> int:
    return a + b


@workflow
async def addition(a: int, b: int) -> int:
    return await add(a, b)


@workflow
async def three_steps(x: int) -> int:
    x = await add(x, 1)
    x = await add(x, 10)
    return await add(x, 100)


@step
async def echo_step_id(i: int) -> tuple[int, str]:
    return i, get_step_metadata().step_id


@workflow
async def gather_then_sequence() -> list[str]:
    first = await asyncio.gather(*(echo_step_id(i) for i in range(5)))
    rest = [await echo_step_id(100 + i) for i in range(15)]
    assert [i for i, _ in first] == list(range(5))
    return [step_id for _, step_id in [*first, *rest]]


@workflow
async def no_steps() -> str:
    return "done"


@workflow
async def sequential(n: int) -> int:
    total = 0
    for i in range(n):
        total = await add(total, i)
    return total


@workflow
async def sleep_then_step() -> int:
    await sleep("1s")
    return await add(20, 22)


# --- values ----------------------------------------------------------------------------------


@step
async def identity(value: Any) -> Any:
    return value


@workflow
async def round_trip(value: Any) -> Any:
    return await identity(value)


# --- hooks -----------------------------------------------------------------------------------


@workflow
async def three_payloads(token: str) -> dict[str, Any]:
    hook = create_hook(token=token, metadata={"purpose": "test", "n": 3})
    received = [await hook for _ in range(3)]
    hook.dispose()
    return {"payloads": received, "metadata": hook.metadata}


@workflow
async def iterate_hook(token: str) -> list[Any]:
    received = []
    async with create_hook(token=token) as hook:
        async for payload in hook:
            if payload == "stop":
                break
            received.append(payload)
    return received


@workflow
async def hold_hook(token: str) -> Any:
    return await create_hook(token=token)


@workflow
async def random_token_hook() -> Any:
    hook = create_hook()
    await identity(hook.token)  # records the token where a test can read it
    return await hook


# --- retries and failures --------------------------------------------------------------------


@step(max_retries=2)
async def retry_after_two_seconds() -> list[float]:
    meta = get_step_metadata()
    calls[f"retry:{meta.run_id}"].append(meta.started_at.timestamp())
    if meta.attempt == 1:
        raise RetryableError("not yet", retry_after="2s")
    return calls[f"retry:{meta.run_id}"]


@step
async def fatal() -> None:
    calls["fatal"].append(get_step_metadata().attempt)
    raise FatalError("card declined")


@workflow
async def retry_then_fatal() -> dict[str, Any]:
    starts = await retry_after_two_seconds()
    try:
        await fatal()
    except FatalError as error:
        return {"starts": starts, "caught": str(error)}
    return {"starts": starts, "caught": None}


class PaymentDeclined(Exception):
    pass


@step(max_retries=2)
async def charge(order: str) -> None:
    calls[f"charge:{order}"].append(get_step_metadata().attempt)
    raise PaymentDeclined(f"declined {order}")


@step
async def release_stock(order: str) -> str:
    calls[f"release:{order}"].append(True)
    return f"released {order}"


@workflow
async def checkout_with_compensation(order: str) -> dict[str, Any]:
    try:
        await charge(order)
    except PaymentDeclined as error:
        return {"compensated": await release_stock(order), "error": str(error)}
    return {"compensated": None}


@step(max_retries=0)
async def always_unknown_failure() -> None:
    raise ConnectionResetError("peer went away")


@workflow
async def step_failure_uncaught() -> None:
    await always_unknown_failure()


@workflow
async def raises_in_workflow(message: str) -> None:
    await add(1, 1)
    raise ValueError(message)


# --- sleeps, cancel, determinism, divergence -------------------------------------------------


@workflow
async def long_sleep() -> str:
    await add(1, 2)
    await sleep("1h")
    await add(3, 4)
    return "woke"


@workflow
async def deterministic_values() -> dict[str, Any]:
    values = [now(), random(), uuid4(), get_workflow_metadata().run_id]
    recorded = await identity(values)  # recorded in the first invocation
    await sleep("2s")  # the next invocation replays `values`
    return {"same": values == recorded, "values": values}


VERSION = {"branch": "a"}


@step
async def branch_a() -> str:
    return "a"


@step
async def branch_b() -> str:
    return "b"


@workflow
async def evolving(token: str) -> str:
    first = await (branch_a() if VERSION["branch"] == "a" else branch_b())
    await create_hook(token=token)
    return first


# --- parallelism, plain def steps ------------------------------------------------------------


RENDEZVOUS: set[int] = set()


@step
async def meet(i: int, party: int) -> int:
    """Waits until `party` steps have arrived: it can only return if they run at the same time
    (a timing-free proof of parallelism; a wall-clock bound flakes on a loaded machine)."""
    RENDEZVOUS.add(i)
    deadline = time.monotonic() + 20
    while len(RENDEZVOUS) < party:
        if time.monotonic() > deadline:
            raise FatalError(f"only {len(RENDEZVOUS)} of {party} steps were running at once")
        await asyncio.sleep(0.01)
    return i


@workflow
async def four_meet_in_parallel() -> list[int]:
    return list(await asyncio.gather(*(meet(i, 4) for i in range(4))))


@step
def blocking_step(seconds: float) -> str:
    time.sleep(seconds)
    return threading.current_thread().name


@workflow
async def plain_def_step(seconds: float) -> str:
    return await blocking_step(seconds)


# --- asyncio inside workflows ----------------------------------------------------------------


@workflow
async def asyncio_timers() -> dict[str, Any]:
    started = now()
    await asyncio.sleep(30)
    slept = (now() - started).total_seconds()
    timed_out = False
    try:
        await asyncio.wait_for(
            create_hook(token=f"never:{get_workflow_metadata().run_id}"), timeout=60
        )
    except TimeoutError:
        timed_out = True
    async with asyncio.timeout(600):
        quick = await add(1, 1)
    task = asyncio.create_task(add(2, 2))
    done = [await f for f in asyncio.as_completed([add(3, 3), task])]
    finished, _ = await asyncio.wait([asyncio.ensure_future(add(5, 5))])
    return {
        "slept": slept,
        "timed_out": timed_out,
        "quick": quick,
        "as_completed": sorted(done),
        "wait": [f.result() for f in finished],
    }


# --- streams and child runs ------------------------------------------------------------------


@step
async def write_progress(count: int) -> int:
    writer = get_writable()
    for i in range(count):
        await writer.write({"progress": i})
    await writer.write(b"\x00raw")
    await writer.write("done")
    await writer.close()
    return count


@workflow
async def streaming(count: int) -> int:
    return await write_progress(count)


@step
async def start_child(n: int) -> str:
    run = await start(countdown, n)
    return run.run_id


@workflow
async def countdown(n: int) -> dict[str, Any]:
    """Continues itself: each run starts its successor with a smaller n (no growing log)."""
    child = await start_child(n - 1) if n > 0 else None
    return {"n": n, "child": child}


# --- bad input -------------------------------------------------------------------------------


@step
async def returns_lock() -> Any:
    return threading.Lock()


@workflow
async def bad_values() -> dict[str, str]:
    out = {}
    try:
        identity(threading.Lock())
    except SerializationError as error:
        out["argument"] = str(error)
    try:
        await returns_lock()
    except SerializationError as error:
        out["result"] = str(error)
    return out


@workflow
async def try_hook(token: str) -> str:
    try:
        return await create_hook(token=token)
    except HookConflictError as error:
        return f"conflict: {error}"


@step
def write_from_a_thread(count: int) -> int:
    writer = get_writable("thread")
    for i in range(count):
        writer.write_sync(i)
    writer.close_sync()
    return count


@workflow
async def plain_def_stream(count: int) -> int:
    return await write_from_a_thread(count)


@workflow
async def wait_on_step_calls() -> list[int]:
    done, pending = await asyncio.wait([add(1, 1), add(2, 2)])
    assert not pending
    return sorted(f.result() for f in done)


# --- payload limits --------------------------------------------------------------------------


@step
async def make_bytes(size: int) -> bytes:
    return b"\xa5" * size


@step
async def make_nested_json(size: int) -> dict[str, Any]:
    """Nested JSON-able data whose compact JSON text is exactly `size` bytes."""
    rows: list[dict[str, Any]] = [
        {"id": i, "tags": ["a", "b"], "text": "x" * 1000} for i in range(size // 1100)
    ]
    value = {"rows": rows}
    rows[-1]["text"] += "y" * (size - len(json.dumps(value, separators=(",", ":"))))
    return value


@workflow
async def bytes_result(size: int) -> int:
    value = await make_bytes(size)
    return len(value) if value == b"\xa5" * size else -1


@workflow
async def nested_json_result(size: int) -> int:
    value = await make_nested_json(size)
    return len(json.dumps(value, separators=(",", ":")))


@workflow
async def fill_run(size: int, steps: int) -> dict[str, Any]:
    """Results of `size` bytes one after another until the run's budget refuses one."""
    stored = 0
    try:
        for _ in range(steps):
            stored += len(await make_bytes(size))
    except PayloadTooLargeError as error:
        return {"stored": stored, "error": str(error), "type": type(error).__name__}
    return {"stored": stored, "error": None}


@workflow
async def fill_run_at_once(size: int, steps: int) -> list[str]:
    """`steps` results of `size` bytes racing for the run's budget."""
    results = await asyncio.gather(
        *(make_bytes(size) for _ in range(steps)), return_exceptions=True
    )
    return sorted(type(r).__name__ if isinstance(r, Exception) else "ok" for r in results)


# --- cancelling a long run of inline steps -----------------------------------------------------


@step
async def counted(i: int) -> int:
    calls["counted"].append(i)
    return i


@step(timeout=600)  # longer than any inline budget: every call goes through the queue
async def counted_slowly(i: int) -> int:
    calls["counted"].append(i)
    await asyncio.sleep(0.01)
    return i


@workflow
async def fan_out_counted(n: int) -> int:
    return len(await asyncio.gather(*(counted_slowly(i) for i in range(n))))


@workflow
async def many_counted_steps(n: int) -> int:
    for i in range(n):
        await counted(i)
    return n


@workflow
async def parallel_adds(n: int) -> int:
    return sum(await asyncio.gather(*(add(i, 0) for i in range(n))))
