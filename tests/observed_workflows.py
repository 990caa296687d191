"""Workflows the observability tests look at: every kind of thing a run shows from outside.

`observed` retries a step once, fans out to two parallel steps, writes a stream, and waits on
a hook: one run has every shape of runtime/describe.py in it (steps with several attempts,
a hook, a stream, sealed values) and, traced, spans for every invocation kind.
"""

from __future__ import annotations

import asyncio

from runtime import RetryableError, create_hook, get_step_metadata, get_writable, step, workflow


@step(max_retries=2)
async def flaky(order: str) -> str:
    """Fails its first attempt (retried 50 ms later), then succeeds."""
    if get_step_metadata().attempt == 1:
        raise RetryableError("the first attempt always fails", retry_after="50ms")
    return f"checked {order}"


@step
async def pack(order: str) -> str:
    return f"packed {order}"


@step
async def label(order: str) -> str:
    return f"labelled {order}"


@step
async def report(order: str, parts: int) -> int:
    writer = get_writable()
    for part in range(parts):
        await writer.write({"part": part, "order": order})
    await writer.write(b"\x00end")
    await writer.close()
    return parts


@workflow(name="observed")
async def observed(order: str, wait_for_hook: bool = True) -> dict:
    checked = await flaky(order)
    packed, labelled = await asyncio.gather(pack(order), label(order))
    parts = await report(order, 3)
    decision = None
    if wait_for_hook:
        decision = await create_hook(token=f"observe:{order}", metadata={"order": order})
    return {"steps": [checked, packed, labelled], "parts": parts, "decision": decision}


@workflow(name="fan_out_three")
async def fan_out_three(order: str) -> list[str]:
    """Three steps with a fan-out: one, then two in parallel (the tracing test's run)."""
    first = await pack(order)
    second, third = await asyncio.gather(label(order), label(order + "-b"))
    return [first, second, third]


@step
async def trickle(parts: int, pause: float) -> int:
    """Writes `parts` chunks `pause` seconds apart: a stream a reader follows live."""
    writer = get_writable("progress")
    for part in range(parts):
        await asyncio.sleep(pause)
        await writer.write(f"part {part}")
    await writer.close()
    return parts


@workflow(name="trickling")
async def trickling(parts: int, pause: float) -> int:
    return await trickle(parts, pause)


@workflow(name="signed_hook")
async def signed_hook(token: str, secret: str) -> list[object]:
    """Takes two payloads on a hook whose webhook needs a signature: its `hook_created` holds
    two secrets, and between the payloads the hook is live with one received."""
    hook = create_hook(token=token, webhook_secret=secret, metadata={"for": "redaction"})
    return [await hook, await hook]
