"""Workflows for the decoding and silent-wrong-result tests (importable: messages name them)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import threading
from typing import Any

from runtime import create_hook, step, workflow
from tests.security.models import Order, Point


@dataclasses.dataclass
class Receipt:
    """Defined in a workflow module, named in no hint: allowed by the module rule."""

    order_id: str
    cents: int


class NotAClass:
    pass


@step
async def price(order: Order, origin: Point | None = None) -> dict[str, Point]:
    return {"origin": origin or Point(0, 0), "count": Point(len(order.lines), 0)}


@step
async def make_receipt(order_id: str) -> Any:
    return Receipt(order_id, 1999)


@workflow
async def order_flow(order: Order) -> dict[str, Any]:
    priced = await price(order, Point(1, 2))
    return {"priced": priced, "receipt": await make_receipt(order.order_id), "order": order}


@workflow
async def two_payloads(token: str) -> list[Any]:
    hook = create_hook(token=token)
    first = await hook
    second = await hook
    return [first, second]


@step
async def add_one(x: int) -> int:
    return x + 1


@step
def plain_add_one(x: int) -> int:
    return x + 1


@workflow
async def step_from_thread(kind: str) -> Any:
    """Calls a step off the workflow's own thread in one of several ways."""
    before = await add_one(0)
    out: list[Any] = []

    def capture(call: Any) -> Any:
        def run() -> None:
            try:
                out.append(call())
            except Exception as error:  # the workflow swallows it: the run fails anyway
                out.append(repr(error))

        return run

    if kind == "thread":
        worker = threading.Thread(target=capture(lambda: add_one(1)))
    elif kind == "plain-def-thread":
        worker = threading.Thread(target=capture(lambda: plain_add_one(1)))
    elif kind == "copied-context":
        context = contextvars.copy_context()
        worker = threading.Thread(target=capture(lambda: context.run(add_one, 1)))
    else:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(add_one, 1)
            try:
                out.append(future.result())
            except Exception as error:
                out.append(repr(error))
        return [before, out]
    worker.start()
    worker.join()
    return [before, repr(out)]


@step
def threads_inside_a_step(x: int) -> int:
    """A step may use threads; steps it calls there are plain calls."""
    out: list[int] = []
    worker = threading.Thread(target=lambda: out.append(plain_add_one(x)))
    worker.start()
    worker.join()
    return out[0]


@workflow
async def threads_in_step(x: int) -> int:
    return await threads_inside_a_step(x)


@workflow
async def sleeper() -> str:
    await asyncio.sleep(3600)
    return "woke"


@workflow
async def signed_hook(token: str, secret: str) -> Any:
    return await create_hook(token=token, webhook_secret=secret)


@workflow
async def custom_header_hook(token: str, secret: str) -> Any:
    return await create_hook(
        token=token, webhook_secret=secret, signature_header="X-Hub-Signature-256"
    )
