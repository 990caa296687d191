"""A function host process for tests/test_give_up_policy.py's real-process test: it plays
Lambda's event source mapping against the World the environment configures (a moto server),
calling `adapters.lambda_handler.handler` with SQS events built from real queue messages,
until a step kills it with SIGKILL or `--seconds` pass."""

from __future__ import annotations

import os
import signal
import time

from runtime import step, workflow
from tests.lambda_loop import serve_one_batch


@step(max_retries=1)
async def kill_my_host() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@workflow(name="kill-host")
async def kill_host() -> None:
    await kill_my_host()


def main(seconds: float) -> None:
    import asyncio

    from adapters import lambda_handler

    queue = lambda_handler.get_host().world.queue  # the World the handler serves
    deadline = time.monotonic() + seconds
    loop = asyncio.new_event_loop()
    while time.monotonic() < deadline:
        if not serve_one_batch(loop, queue, visibility=1):
            time.sleep(0.1)
