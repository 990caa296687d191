"""Workflows the browser suite runs on `steplane dev`: one that completes, one that fails
after retries, one waiting on a hook, one streaming, one that waits to be cancelled, one that
sets attributes."""

from __future__ import annotations

import asyncio
import os

from runtime import RetryableError, create_hook, get_writable, set_attributes, step, workflow


@step
async def validate(order: str) -> str:
    return order.upper()


@step
async def charge(order: str, cents: int) -> dict:
    return {"order": order, "charged": cents}


@step
async def ship(order: str) -> str:
    return f"shipped {order}"


@workflow(name="ui.checkout")
async def checkout(order: str) -> dict:
    checked = await validate(order)
    receipt = await charge(checked, 1999)
    return {"receipt": receipt, "shipping": await ship(checked)}


@step(max_retries=2)
async def flaky_card(order: str) -> None:
    raise RetryableError(f"card declined for {order}", retry_after=0.2)


@workflow(name="ui.declined")
async def declined(order: str) -> None:
    await validate(order)
    await flaky_card(order)


@workflow(name="ui.approval")
async def approval(order: str) -> dict:
    await validate(order)
    decision = await create_hook(metadata={"order": order})
    return {"order": order, "decision": decision, "shipping": await ship(order)}


@step
async def write_chunks(count: int, gap: float, until: str | None = None) -> int:
    """`count` chunks `gap` seconds apart; with `until` (a file path), at least `count` and
    then more until that file exists (at most 300), so a test decides when the stream ends."""
    writer = get_writable()
    index = 0
    while index < count or (until is not None and not os.path.exists(until) and index < 300):
        await writer.write(f"chunk-{index:02d}")
        index += 1
        await asyncio.sleep(gap)
    await writer.close()
    return index


@workflow(name="ui.streaming")
async def streaming(count: int, gap: float, until: str | None = None) -> int:
    return await write_chunks(count, gap, until)


@workflow(name="ui.hold")
async def hold(token: str) -> object:
    return await create_hook(token=token)


@workflow(name="ui.tagged")
async def tagged(customer: str) -> str:
    set_attributes(customer=customer, stage="paid")
    return await validate(customer)
