"""Workflows of the child-run, timeout, attribute and fork scenarios (tests/engine/test_flow_*.py).

Importable by name: queue messages name code by `module:qualname`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from runtime import (
    FatalError,
    WorkflowFailedError,
    create_hook,
    set_attributes,
    sleep,
    start_child,
    step,
    workflow,
)

calls: defaultdict[str, list[Any]] = defaultdict(list)
fixed = {"bug": True}
"""The fork scenario's "code fix": `charge` fails while `bug` is True."""


@step
async def double(x: int) -> int:
    calls["double"].append(x)
    return 2 * x


@step(max_retries=0)
async def explode(message: str) -> None:
    raise FatalError(message)


@workflow
async def child(x: int) -> int:
    if x < 0:
        await explode(f"negative input {x}")
    return await double(x)


@workflow
async def parent_of_three(xs: list[int]) -> dict[str, Any]:
    """Starts a child per input, then awaits each; a failing child is caught."""
    children = [await start_child(child, x) for x in xs]
    results: dict[str, Any] = {"ok": [], "failed": []}
    for handle in children:
        try:
            results["ok"].append(await handle.result())
        except WorkflowFailedError as failure:
            results["failed"].append([handle.run_id, failure.code, failure.message])
    return results


@workflow
async def waits_for_approval(token: str) -> str:
    return str(await create_hook(token=token))


@workflow
async def parent_of_waiting_child(token: str, cancel_with_parent: bool = True) -> str:
    handle = await start_child(waits_for_approval, token, cancel_with_parent=cancel_with_parent)
    return await handle.result()


@workflow
async def sleeps(duration: str) -> str:
    await sleep(duration)
    return "woke"


@workflow
async def labelled(customer: str, stage: str) -> str:
    set_attributes(customer=customer, stage="new")
    await double(1)
    set_attributes(stage=stage)
    return customer


@step
async def reserve(order: str) -> str:
    calls["reserve"].append(order)
    return f"reserved {order}"


@step(max_retries=0)
async def charge(order: str) -> str:
    calls["charge"].append(order)
    if fixed["bug"]:
        raise FatalError("card declined by a bug")
    return f"charged {order}"


@workflow
async def checkout(order: str) -> list[str]:
    first = await reserve(order)
    second = await reserve(order + "-gift")
    return [first, second, await charge(order)]


@workflow
async def parent_then_hook(token: str) -> list[Any]:
    """Awaits a child, then stays alive on a hook (so a repeated child ending finds it live)."""
    handle = await start_child(child, 5)
    value = await handle.result()
    return [value, await create_hook(token=token)]


@workflow
async def parent_of_slow_child() -> str:
    handle = await start_child(sleeps.with_options(timeout="1h"), "2h")
    try:
        return await handle.result()
    except WorkflowFailedError as failure:
        return f"{failure.code}: {failure.message}"
