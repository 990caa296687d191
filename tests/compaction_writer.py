"""A log writer process for tests/test_aws_compaction.py's real-process test: it appends
one-event batches to a run's log on the moto server the config names, and is killed with
SIGKILL the moment it starts to write the compacted object (after the crossing batch's item
is written), as a Lambda instance killed there would be."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

from adapters.aws import AwsConfig, AwsWorld
from runtime.engine.events import Event, EventType


def killed(*_: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(config: dict[str, Any], run_id: str, length: int) -> None:
    world = AwsWorld(AwsConfig(**config))
    world.log._put_compacted = killed  # type: ignore[method-assign]
    for position in range(length):
        event = Event(EventType.STEP_COMPLETED, f"evt_{position}", 1.0, "c", {"n": position}, b"x")
        await world.log.append(run_id, position, [event])
    await asyncio.sleep(5)  # the kill comes from the pool thread; never reached otherwise


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
