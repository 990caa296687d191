"""`EmulatedAwsWorld`: the AWS World with the emulator's queue (queue.py).

The emulator's clock may be virtual and the emulator (or a test) is the queue's only consumer,
so delays, visibility, idempotency keys and stale receipts are handled in this process instead
of by SQS; everything else is the production World, unchanged.
"""

from __future__ import annotations

from steplane.adapters.aws import AwsWorld

from .queue import ClockedSqsQueue

LOCAL_LOG_CACHE_BYTES = 16 * 1024 * 1024
"""The log cache of an emulator's or `steplane dev`'s World (a Lambda's: 64 MB): a local host
lives for days and serves every run, so its part of the process's memory is kept small
(docs/architecture.md, "Memory of a long-running host")."""


class EmulatedAwsWorld(AwsWorld):
    """An `AwsWorld` whose queue follows the World's clock (see queue.py)."""

    queue_type = ClockedSqsQueue
