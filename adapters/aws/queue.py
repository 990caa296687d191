"""The work queue on SQS: a standard queue with a dead-letter queue behind a redrive policy
(`maxReceiveCount` = `max_receives`, set by the infra template).

Bodies are JSON; every message carries a `not_before` attribute (clock time it is due) and,
when the engine gave one, its idempotency key (`idem`, for people reading the queue).

SQS does the timing: `DelaySeconds = ceil(delay)` (at most 900; longer waits are chained by
the engine), visibility timeouts are whole seconds, and a receive long-polls (at most 20 s a
call). A message that arrives before its `not_before` anyway (sent by a host whose clock is
ahead) is hidden until it is due. Idempotency keys are not enforced: standard queues cannot
deduplicate, and the engine is safe under duplicate messages.

Deployments (docs/deployments.md): each live deployment D has a queue of its own,
`{queue}-{D}`, which only D's hosts consume (on AWS: an event source mapping to D's Lambda
version). A body with `"dep": D` is sent to D's queue when it exists (looked up once, a miss
again after `ROUTE_MISS_SECONDS`), else to the main queue; `has_route(D)` says which.

The emulator's queue on moto (local_emulator/aws/queue.py) extends this one to follow a
virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from typing import Any

from steplane.runtime.world import Clock, Delivery, check_at_least_one, check_not_negative

from .clients import AwsClients, error_code

MAX_DELAY = 900
MAX_VISIBILITY = 43_200
MAX_LONG_POLL = 20
_POLL_SECONDS = 0.05
_EARLY_TOLERANCE = 0.001
_GONE = {"ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight"}
_NO_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
ROUTE_MISS_SECONDS = 30.0
"""How long a deployment without a queue of its own is remembered as such."""


def deployment_queue_name(queue: str, deployment: str) -> str:
    """The name of deployment `deployment`'s own queue, beside the main queue `queue` (a
    name or a URL)."""
    return f"{queue.rstrip('/').rsplit('/', 1)[-1]}-{deployment}"


def whole_seconds(seconds: float, cap: int) -> int:
    """SQS's whole seconds for a duration: rounded up, within [0, cap]."""
    return max(0, min(cap, math.ceil(seconds - 1e-9)))


class SqsQueue:
    max_delay: float = float(MAX_DELAY)

    def __init__(self, aws: AwsClients, clock: Clock, max_receives: int) -> None:
        check_at_least_one("max_receives", max_receives)
        self._aws = aws
        self.clock = clock
        self.max_receives = max_receives
        self._urls: dict[str, str] = {}
        self._routes: dict[str, tuple[str | None, float]] = {}
        self._closed = False

    # --- protocol -------------------------------------------------------------------------

    async def send(
        self, body: dict[str, Any], *, delay: float = 0.0, idempotency_key: str | None = None
    ) -> None:
        check_not_negative("delay", delay)
        dep = body.get("dep")
        await self._aws.call(
            self._send_sync,
            json.dumps(body),
            self.clock.time() + delay,
            whole_seconds(delay, MAX_DELAY),
            idempotency_key,
            dep if isinstance(dep, str) else None,
        )

    async def has_route(self, deployment: str) -> bool:
        return await self._aws.call(self._route_sync, deployment) is not None

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0.0, visibility_timeout: float = 30.0
    ) -> list[Delivery]:
        """Up to `max_messages` (at most 10 per call, SQS's limit) visible messages."""
        check_at_least_one("max_messages", max_messages)
        check_not_negative("visibility_timeout", visibility_timeout)
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        return await self._poll(min(max_messages, 10), visibility_timeout, deadline)

    async def _poll(self, count: int, visibility: float, deadline: float) -> list[Delivery]:
        """Receive until a message comes or `deadline` (monotonic) passes: SQS long polls."""
        while True:
            remaining = deadline - time.monotonic()
            long_poll = int(min(remaining, MAX_LONG_POLL)) if remaining >= 1 else 0
            deliveries = await self._aws.call(self._receive_sync, count, visibility, long_poll)
            remaining = deadline - time.monotonic()
            if deliveries or remaining <= 0 or self._closed:
                return deliveries
            if not long_poll:
                await asyncio.sleep(min(remaining, _POLL_SECONDS))

    async def delete(self, delivery: Delivery) -> None:
        try:
            await self._aws.call(
                self._aws.sqs.delete_message,
                QueueUrl=self._url("queue"),
                ReceiptHandle=delivery.receipt,
            )
        except Exception as error:
            if error_code(error) not in _GONE:
                raise

    async def change_visibility(self, delivery: Delivery, timeout: float) -> None:
        """Visible again `timeout` seconds from now (0: at once); extends a long step's lease."""
        check_not_negative("timeout", timeout)
        await self._aws.call(self._set_visibility_sync, delivery.receipt, timeout)

    def next_visible_at(self) -> float | None:
        """None: SQS keeps the time of delays and visibility (see `runtime.world.Queue`)."""
        return None

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        """Bodies of the messages in the dead-letter queue (blocking)."""
        return [_body(m["Body"]) for m in self._drain_dead(lambda _: None)]

    def redrive(self) -> int:
        """Move every dead letter back to the work queue, due now (blocking)."""

        def resend(message: dict[str, Any]) -> None:
            self._send_sync(message["Body"], self.clock.time(), 0, None)

        return len(self._drain_dead(resend, delete=True))

    # --- operator extras ----------------------------------------------------------------------

    def depth(self) -> int:
        """Messages waiting or in flight (approximate, as SQS counts; dead letters excluded)."""
        attributes = self._aws.sqs.get_queue_attributes(
            QueueUrl=self._url("queue"),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    async def close(self) -> None:
        """Receives return after their current poll."""
        self._closed = True

    # --- blocking internals (on the client pool) ---------------------------------------------

    def _url(self, which: str) -> str:
        url = self._urls.get(which)
        if url is None:
            config = self._aws.config
            name = config.queue if which == "queue" else config.dead_letter_queue
            if name.startswith(("https://", "http://")):
                url = name
            else:
                url = self._aws.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            self._urls[which] = url
        return url

    def _route_sync(self, deployment: str) -> str | None:
        """The URL of `deployment`'s own queue, or None when it has none."""
        url, checked_at = self._routes.get(deployment, (None, -math.inf))
        if url is not None or time.monotonic() - checked_at < ROUTE_MISS_SECONDS:
            return url
        name = deployment_queue_name(self._aws.config.queue, deployment)
        try:
            url = self._aws.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except Exception as error:
            if error_code(error) not in _NO_QUEUE:
                raise
            url = None
        self._routes[deployment] = (url, time.monotonic())
        return url

    def _send_sync(
        self,
        body_json: str,
        not_before: float,
        delay_seconds: int,
        key: str | None,
        dep: str | None = None,
    ) -> str:
        attributes = {"not_before": {"DataType": "Number", "StringValue": repr(not_before)}}
        if key is not None:
            attributes["idem"] = {"DataType": "String", "StringValue": key}
        routed = self._route_sync(dep) if dep is not None else None
        answer = self._aws.sqs.send_message(
            QueueUrl=routed or self._url("queue"),
            MessageBody=body_json,
            DelaySeconds=delay_seconds,
            MessageAttributes=attributes,
        )
        return str(answer["MessageId"])

    def _receive_sync(self, count: int, visibility: float, wait: int) -> list[Delivery]:
        answer = self._aws.sqs.receive_message(
            QueueUrl=self._url("queue"),
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            VisibilityTimeout=whole_seconds(visibility, MAX_VISIBILITY),
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        )
        now = self.clock.time()
        received = (self._accept(m, now, visibility) for m in answer.get("Messages", []))
        return [delivery for delivery in received if delivery is not None]

    def _accept(self, message: dict[str, Any], now: float, visibility: float) -> Delivery | None:
        """The delivery of a received message, or None when it is not due yet (then it is
        hidden until it is)."""
        remaining = not_before(message) - now
        if remaining > _EARLY_TOLERANCE:
            self._hide_early(message, remaining)
            return None
        return Delivery(
            body=_body(message["Body"]),
            receipt=message["ReceiptHandle"],
            receive_count=int(message["Attributes"]["ApproximateReceiveCount"]),
            message_id=message["MessageId"],
        )

    def _hide_early(self, message: dict[str, Any], remaining: float) -> None:
        with contextlib.suppress(Exception):
            self._set_visibility_sync(message["ReceiptHandle"], remaining)

    def _set_visibility_sync(self, receipt: str, timeout: float) -> bool:
        """Change a received message's visibility; False when it is gone (deleted, or its
        receipt expired)."""
        try:
            self._aws.sqs.change_message_visibility(
                QueueUrl=self._url("queue"),
                ReceiptHandle=receipt,
                VisibilityTimeout=whole_seconds(timeout, MAX_VISIBILITY),
            )
        except Exception as error:
            if error_code(error) not in _GONE:
                raise
            return False
        return True

    def _drain_dead(self, handle: Any, *, delete: bool = False) -> list[dict[str, Any]]:
        """Every dead letter once: received with a lease, handled, then deleted or released."""
        url = self._url("dead")
        seen: dict[str, dict[str, Any]] = {}
        while True:
            answer = self._aws.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
            )
            fresh = [m for m in answer.get("Messages", []) if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen[message["MessageId"]] = message
                handle(message)
        for message in seen.values():
            if delete:
                self._aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                self._aws.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        return list(seen.values())


def not_before(message: dict[str, Any]) -> float:
    """The clock time a received message is due (-inf for one without the attribute)."""
    attributes = message.get("MessageAttributes", {})
    return float(attributes.get("not_before", {}).get("StringValue", "-inf"))


def _body(text: str) -> Any:
    """The decoded body; a body that is not JSON is handed on as its text, so the function
    host rejects it (and says why) instead of the receive failing for the whole batch."""
    try:
        return json.loads(text)
    except ValueError:
        return text
