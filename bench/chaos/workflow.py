"""The workflow the chaos harness runs: sequential steps, a gather and a durable sleep.

Every step body appends its step id to a ledger file (`STEPLANE_CHAOS_LEDGER`) before doing
its work, so the driver can count how often each step really executed: steps run at least
once, and the ledger measures the "more than once" that crashes and redeliveries cost.
"""

from __future__ import annotations

import asyncio
import os

from runtime import get_step_metadata, sleep, step, workflow

LEDGER_ENV = "STEPLANE_CHAOS_LEDGER"


def _note_execution() -> None:
    path = os.environ.get(LEDGER_ENV)
    if path:
        # One short O_APPEND write per execution: atomic across processes.
        with open(path, "a", encoding="utf-8") as ledger:
            ledger.write(get_step_metadata().step_id + "\n")


@step
async def add(x: int, y: int) -> int:
    _note_execution()
    return x + y


@step
async def mul(x: int, y: int) -> int:
    _note_execution()
    return x * y


@workflow(name="chaos_order")
async def chaos_order(n: int) -> int:
    a = await add(n, 1)
    b = await mul(a, 2)
    c, d = await asyncio.gather(add(b, 3), mul(b, 5))
    await sleep(1)
    return await add(c, d)


def expected_result(n: int) -> int:
    """What `chaos_order(n)` returns: (2(n+1) + 3) + 10(n+1)."""
    return 12 * n + 15


STEPS_PER_RUN = 5
WAITS_PER_RUN = 1
