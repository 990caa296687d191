"""Lambda's SQS event source mapping, played in a test's function host process: one receive
from the World's queue, the batch through `adapters.lambda_handler.handler` as an SQS event,
and the delete of every message the handler did not report as failed (tests/kill_host.py,
tests/trace_host.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any


def serve_one_batch(loop: asyncio.AbstractEventLoop, queue: Any, visibility: float) -> bool:
    """One batch, as above; False when the queue had nothing to deliver."""
    from adapters import lambda_handler

    deliveries = loop.run_until_complete(
        queue.receive(max_messages=10, visibility_timeout=visibility)
    )
    if not deliveries:
        return False
    records = [
        {
            "messageId": d.message_id,
            "receiptHandle": d.receipt,
            "body": json.dumps(d.body),
            "attributes": {"ApproximateReceiveCount": str(d.receive_count)},
            "eventSource": "aws:sqs",
        }
        for d in deliveries
    ]
    result = lambda_handler.handler({"Records": records}, None)
    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    for delivery in deliveries:
        if delivery.message_id not in failed:
            loop.run_until_complete(queue.delete(delivery))
    return True
