"""AwsWorld: the production World on DynamoDB, S3, SQS and KMS (or moto, their emulation).

Each store is one module (log, runs, hooks, blobs, streams, queue, keys); this one builds them
on one set of boto3 clients. `world_from_env()` is what `STEPLANE_WORLD=aws` resolves to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from steplane.runtime.engine.events import Event
from steplane.runtime.world import Clock, QueueClock, RealClock, RunRecord

from .blobs import S3BlobStore
from .clients import AwsClients, write_items
from .config import AwsConfig
from .coordination import DynamoCoordinationStore
from .hooks import DynamoHookRegistry
from .keys import KmsKeyProvider
from .log import DynamoEventLog
from .queue import SqsQueue
from .runs import DynamoRunStore
from .streams import DynamoStreamStore


class AwsWorld:
    """A World (see `runtime.world.World`) whose stores are AWS services."""

    name = "aws"
    clock = QueueClock()
    queue_type: type[SqsQueue] = SqsQueue
    """The queue's class: the emulator's AWS World has one timed by its clock instead of SQS."""

    def __init__(
        self,
        config: AwsConfig | None = None,
        clock: Clock | None = None,
        *,
        on_close: list[Callable[[], object]] | None = None,
        sign_requests: bool = True,
    ) -> None:
        """`sign_requests=False` is for a mock in this process alone (the embedded moto),
        which checks no signature: signing is then CPU spent for nothing."""
        self.config = config if config is not None else AwsConfig.from_env()
        self.limits = self.config.limits
        self.aws = AwsClients(self.config, signed=sign_requests)
        self.log = DynamoEventLog(self.aws)
        self.runs = DynamoRunStore(self.aws)
        self.hooks = DynamoHookRegistry(self.aws)
        self.blobs = S3BlobStore(self.aws)
        self.streams = DynamoStreamStore(self.aws, self.blobs)
        self.queue = self.queue_type(
            self.aws, clock if clock is not None else RealClock(), self.config.max_receives
        )
        self.keys = KmsKeyProvider(self.aws)
        self.coordination = DynamoCoordinationStore(self.aws)
        self._on_close = list(on_close or [])
        self._closed = False

    def prepare_clients(self) -> None:
        """Make the clients every queue message needs (DynamoDB for the run and its log, KMS
        for its data key) now rather than on first use: the Lambda handler's cold start does
        it while the collector is paused (adapters/lambda_handler.py). S3 and SQS stay lazy."""
        self.aws.dynamodb, self.aws.kms  # noqa: B018 - made on first access

    @property
    def calls(self) -> dict[str, int]:
        """AWS API calls made so far, by "service.Operation" (the benchmark's cost metric)."""
        return dict(self.aws.calls)

    @property
    def batched_writes(self) -> int:
        """Durable writes made inside BatchWriteItem calls (`calls` counts each call once)."""
        return self.aws.batched_writes

    def reset_calls(self) -> None:
        self.aws.reset_calls()

    async def create_run(self, record: RunRecord, events: Sequence[Event]) -> None:
        """The record and the log's first batch in one BatchWriteItem across the two tables
        (runtime.world.World.create_run): a start makes one call fewer (a round trip on AWS,
        a call's CPU on the embedded moto). Unconditional, which a fresh run id allows; a
        batch too big for an item (spilled to S3 first) is written as `append` writes it."""
        first = self.log.first_batch(record.run_id, events)
        if first is None:
            await self.runs.create(record)
            await self.log.append(record.run_id, 0, events)
            return
        item, encoded = first
        requests: dict[str, list[dict[str, Any]]] = {
            self.config.runs_table: [{"PutRequest": {"Item": self.runs.record_item(record)}}],
            self.config.events_table: [{"PutRequest": {"Item": item}}],
        }
        await self.aws.call(write_items, self.aws, requests)
        self.log.written(record.run_id, 0, len(events), encoded)

    async def purge_run(self, run_id: str) -> None:
        """Delete everything an ended run left: log, streams, blobs, then its record.

        Retention for a long-lived deployment or emulator (moto keeps every item it is given
        until reset). Refuses a run that has not ended; safe to repeat after a failure."""
        record = await self.runs.get(run_id)
        if record is not None and not record.status.is_terminal:
            raise ValueError(f"run {run_id} is {record.status}: only ended runs can be purged")
        await self.log.delete_run(run_id)
        await self.streams.delete_run(run_id)
        await self.blobs.delete_prefix(f"{run_id}/")
        await self.runs.delete(run_id)

    async def close(self) -> None:
        """Release receives, the thread pool and the clients; then run `on_close` hooks
        (the emulator stops its embedded moto there). Idempotent.

        With hooks, the calls in flight are waited for first: a hook may tear down what they
        talk to, and a call that outlived an in-process moto would go to the network, fail
        and be retried by botocore into the next moto of the process (the next emulator of
        a test suite), taking its messages. Without hooks nothing waits (a long poll on AWS
        may take 20 s)."""
        if self._closed:
            return
        self._closed = True
        await self.queue.close()
        if self._on_close:
            await asyncio.to_thread(self.aws.close, wait=True)
        else:
            self.aws.close()
        for hook in self._on_close:
            hook()


def world_from_env() -> AwsWorld:
    """The AWS World configured by the environment (see `config.py`), or by the outputs of
    the CloudFormation stack `STEPLANE_STACK` names (see `stack_outputs.py`)."""
    from .stack_outputs import config_from_environment

    return AwsWorld(config_from_environment())
