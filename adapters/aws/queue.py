"""The work queue on SQS: a standard queue with a dead-letter queue behind a redrive policy
(`maxReceiveCount` = `max_receives`, set by `resources.py` / the infra template).

Bodies are JSON; every message carries a `not_before` attribute (clock time it is due).

With the real clock (production) SQS does the timing: `DelaySeconds = ceil(delay)` (at most
900; longer waits are chained by the engine), visibility timeouts are whole real seconds, and
a message that arrives before `not_before` anyway is hidden until it is due.

With any other clock (the emulator's virtual clock, a test's manual one) SQS cannot know the
time, so this object keeps the clock-dependent state in process:
- a delayed message waits here, not in SQS, until the clock reaches `not_before`; then it is
  sent. (Hiding early messages in SQS instead would cost a receive each time, and SQS moves a
  message to the dead-letter queue after `max_receives` receives: a long sleep would die.)
- a received message's visibility deadline is kept in clock time; once the clock passes it,
  `ChangeMessageVisibility(0)` makes the message visible again. The SQS-side timeout is the
  same number of real seconds, a backstop that never fires first with the virtual clock (it
  moves at least as fast as real time).
- `next_visible_at()` (the emulator's skip-ahead) is the earliest of those two.
- a waiting `receive` returns early, empty, when this process deletes a message or sets one
  aside: its consumer may now be idle and want to skip ahead, instead of sitting out its poll
  (each 900-s hop of a chained sleep would otherwise cost the emulator's 50 ms poll).
Such a clock lives in one process, so this is only for the emulator and tests; delayed
messages held here are lost when the World closes.

Idempotency keys: SQS standard queues cannot deduplicate. When this process is the queue's
only consumer (`AwsConfig.sole_consumer`, or any non-real clock), a send whose key belongs to
a message this object sent and has not yet seen received is dropped, as the memory World
does. Otherwise keys are ignored: the engine is safe under duplicate messages.

Receipts: a delete or visibility change with a receipt older than the one this object last
received for the message is a no-op (moto, unlike SQS, would honour a stale receipt).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from runtime.world import Clock, Delivery, RealClock, check_at_least_one, check_not_negative

from .clients import AwsClients, error_code

MAX_DELAY = 900
MAX_VISIBILITY = 43_200
_POLL_SECONDS = 0.05
_EARLY_TOLERANCE = 0.001
_REMEMBERED_RECEIPTS = 65_536
_SENT, _SETTLED = "sent", "settled"
_GONE = {"ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight"}


@dataclass
class _Held:
    body_json: str
    not_before: float
    key: str | None
    token: str


def _whole_seconds(seconds: float, cap: int) -> int:
    return max(0, min(cap, math.ceil(seconds - 1e-9)))


class SqsQueue:
    max_delay: float = float(MAX_DELAY)

    def __init__(
        self, aws: AwsClients, clock: Clock, max_receives: int, *, sole_consumer: bool = False
    ) -> None:
        check_at_least_one("max_receives", max_receives)
        self._aws = aws
        self.clock = clock
        self.max_receives = max_receives
        self.sole_consumer = sole_consumer
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()
        self._order = itertools.count()
        self._held: list[tuple[float, int, _Held]] = []
        self._in_flight: dict[str, tuple[str, float]] = {}  # message id -> (receipt, due)
        self._receipts: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._waiting_keys: dict[str, str] = {}  # key -> message id (or held token)
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[str]]] = set()
        self._closed = False

    @property
    def _real(self) -> bool:
        return isinstance(self.clock, RealClock)

    @property
    def _long_polls(self) -> bool:
        """SQS waits for messages (WaitTimeSeconds); an in-process moto would wait holding its
        lock (moto_lock.py), so there this object's own wake-ups and short polls do it."""
        return self._real and not self._aws.in_process_moto

    @property
    def _dedupe(self) -> bool:
        return self.sole_consumer or not self._real

    # --- protocol -------------------------------------------------------------------------

    async def send(
        self, body: dict[str, Any], *, delay: float = 0.0, idempotency_key: str | None = None
    ) -> None:
        check_not_negative("delay", delay)
        body_json = json.dumps(body)
        not_before = self.clock.time() + delay
        key = idempotency_key if self._dedupe else None
        token = f"pending:{next(self._order)}"
        hold = not self._real and delay > 0
        with self._lock:
            if key is not None:
                if key in self._waiting_keys:
                    return  # the same work is still waiting
                self._waiting_keys[key] = token
            if hold:
                held = _Held(body_json, not_before, key, token)
                heapq.heappush(self._held, (not_before, next(self._order), held))
        if hold:
            return  # not visible before the clock moves; receives re-read the clock
        try:
            message_id = await self._aws.call(
                self._send_sync, body_json, not_before, delay, idempotency_key
            )
        except BaseException:
            self._forget_key(key, token)
            raise
        self._rename_key(key, token, message_id)
        self._wake_waiters()

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0.0, visibility_timeout: float = 30.0
    ) -> list[Delivery]:
        """Up to `max_messages` (at most 10 per call, SQS's limit) visible messages."""
        check_at_least_one("max_messages", max_messages)
        check_not_negative("visibility_timeout", visibility_timeout)
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[str] = loop.create_future()
            with self._lock:  # register first: a send during the receive still wakes us
                self._waiters.add((loop, waiter))
            try:
                remaining = deadline - time.monotonic()
                long_poll = int(min(remaining, 20)) if self._long_polls and remaining >= 1 else 0
                deliveries = await self._aws.call(
                    self._receive_sync, min(max_messages, 10), visibility_timeout, long_poll
                )
                remaining = deadline - time.monotonic()
                if deliveries or remaining <= 0 or self._closed:
                    return deliveries
                await asyncio.wait([waiter], timeout=min(remaining, _POLL_SECONDS))
                if not self._real and waiter.done() and waiter.result() == _SETTLED:
                    # A consumer settled a message (deleted it or set it aside) and may now
                    # be idle and want to skip the virtual clock ahead: return rather than
                    # sit out the wait (its next receive looks at SQS again).
                    return []
            finally:
                with self._lock:
                    self._waiters.discard((loop, waiter))

    async def delete(self, delivery: Delivery) -> None:
        """Delete the message; a stale receipt (it was received again since) is a no-op."""
        if self._stale(delivery):
            return
        try:
            await self._aws.call(
                self._aws.sqs.delete_message,
                QueueUrl=self._url("queue"),
                ReceiptHandle=delivery.receipt,
            )
        except Exception as error:
            if error_code(error) not in _GONE:
                raise
        with self._lock:
            if self._receipts.get(delivery.message_id) == delivery.receipt:
                del self._receipts[delivery.message_id]
            self._in_flight.pop(delivery.message_id, None)
        self._wake_waiters(_SETTLED)

    async def change_visibility(self, delivery: Delivery, timeout: float) -> None:
        """Visible again `timeout` seconds from now (0: at once); extends a long step's lease."""
        check_not_negative("timeout", timeout)
        if self._stale(delivery):
            return
        try:
            await self._aws.call(
                self._aws.sqs.change_message_visibility,
                QueueUrl=self._url("queue"),
                ReceiptHandle=delivery.receipt,
                VisibilityTimeout=_whole_seconds(timeout, MAX_VISIBILITY),
            )
        except Exception as error:
            if error_code(error) not in _GONE:
                raise
            return
        if not self._real:
            with self._lock:
                if timeout > 0:
                    due = self.clock.time() + timeout
                    self._in_flight[delivery.message_id] = (delivery.receipt, due)
                else:
                    self._in_flight.pop(delivery.message_id, None)
        self._wake_waiters(_SENT if timeout == 0 else _SETTLED)

    # --- emulator and operator extras (not in the protocol) ---------------------------------

    def next_visible_at(self) -> float | None:
        """Clock time at which the next held message is due or an in-flight message's
        visibility ends (maybe in the past); None when nothing is tracked (real clock)."""
        with self._lock:
            times = [due for _, due in self._in_flight.values()]
            if self._held:
                times.append(self._held[0][0])
        return min(times) if times else None

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
        with self._lock:
            held = len(self._held)
        return held + sum(int(value) for value in attributes.values())

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        """Bodies of the messages in the dead-letter queue (blocking; a debugging aid)."""
        return [_body(m["Body"]) for m in self._drain_dead(lambda _: None)]

    def redrive(self) -> int:
        """Move every dead letter back to the work queue, due now (blocking)."""

        def resend(message: dict[str, Any]) -> None:
            self._send_sync(message["Body"], self.clock.time(), 0.0, None)

        moved = self._drain_dead(resend, delete=True)
        if moved:
            self._wake_waiters()
        return len(moved)

    async def close(self) -> None:
        """Wake every receive so it returns; delayed messages held in process are dropped."""
        self._closed = True
        self._wake_waiters()

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

    def _send_sync(self, body_json: str, not_before: float, delay: float, key: str | None) -> str:
        attributes = {"not_before": {"DataType": "Number", "StringValue": repr(not_before)}}
        if key is not None:
            attributes["idem"] = {"DataType": "String", "StringValue": key}
        answer = self._aws.sqs.send_message(
            QueueUrl=self._url("queue"),
            MessageBody=body_json,
            DelaySeconds=_whole_seconds(delay, MAX_DELAY) if self._real else 0,
            MessageAttributes=attributes,
        )
        return str(answer["MessageId"])

    def _receive_sync(self, count: int, visibility: float, wait: int) -> list[Delivery]:
        now = self.clock.time()
        if not self._real:
            self._release_due(now)
            self._expire_visibility(now)
        answer = self._aws.sqs.receive_message(
            QueueUrl=self._url("queue"),
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            VisibilityTimeout=_whole_seconds(visibility, MAX_VISIBILITY),
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        )
        now = self.clock.time()
        deliveries = []
        for message in answer.get("Messages", []):
            message_id, receipt = message["MessageId"], message["ReceiptHandle"]
            attributes = message.get("MessageAttributes", {})
            key = attributes.get("idem", {}).get("StringValue")
            not_before = float(attributes.get("not_before", {}).get("StringValue", "-inf"))
            with self._lock:
                waiting = self._waiting_keys.get(key) if key is not None else None
                if waiting == message_id or (waiting or "").startswith("pending:"):
                    # In flight: the key is free for new work. ("pending": received before
                    # its send returned; the send's rename then finds the key gone.)
                    del self._waiting_keys[key]  # type: ignore[arg-type]
            if not_before > now + _EARLY_TOLERANCE:
                self._hide_early(message_id, receipt, not_before - now)
                continue
            with self._lock:
                self._receipts[message_id] = receipt
                self._receipts.move_to_end(message_id)
                while len(self._receipts) > _REMEMBERED_RECEIPTS:
                    self._receipts.popitem(last=False)
                if not self._real:
                    self._in_flight[message_id] = (receipt, now + visibility)
            deliveries.append(
                Delivery(
                    body=_body(message["Body"]),
                    receipt=receipt,
                    receive_count=int(message["Attributes"]["ApproximateReceiveCount"]),
                    message_id=message_id,
                )
            )
        return deliveries

    def _hide_early(self, message_id: str, receipt: str, remaining: float) -> None:
        """A message that is not due yet (a delay over 900 s, or sent by another clock)."""
        real_seconds = _whole_seconds(remaining, MAX_VISIBILITY) if self._real else 1
        with contextlib.suppress(Exception):
            self._aws.sqs.change_message_visibility(
                QueueUrl=self._url("queue"), ReceiptHandle=receipt, VisibilityTimeout=real_seconds
            )
        if not self._real:
            with self._lock:
                self._in_flight[message_id] = (receipt, self.clock.time() + remaining)

    def _release_due(self, now: float) -> None:
        """Send the held messages whose time has come (non-real clock)."""
        with self._lock:
            due = []
            while self._held and self._held[0][0] <= now:
                due.append(heapq.heappop(self._held)[2])
        for held in due:
            try:
                message_id = self._send_sync(held.body_json, held.not_before, 0.0, held.key)
            except BaseException:
                with self._lock:
                    heapq.heappush(self._held, (held.not_before, next(self._order), held))
                raise
            self._rename_key(held.key, held.token, message_id)

    def _expire_visibility(self, now: float) -> None:
        """Make visible the received messages whose clock-time visibility has ended."""
        with self._lock:
            expired = [(m, receipt) for m, (receipt, due) in self._in_flight.items() if due <= now]
            for message_id, _ in expired:
                del self._in_flight[message_id]
        for _, receipt in expired:
            try:
                self._aws.sqs.change_message_visibility(
                    QueueUrl=self._url("queue"), ReceiptHandle=receipt, VisibilityTimeout=0
                )
            except Exception as error:
                if error_code(error) not in _GONE:
                    raise

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

    # --- process state ----------------------------------------------------------------------

    def _stale(self, delivery: Delivery) -> bool:
        with self._lock:
            current = self._receipts.get(delivery.message_id)
        return current is not None and current != delivery.receipt

    def _rename_key(self, key: str | None, token: str, message_id: str) -> None:
        if key is None:
            return
        with self._lock:
            if self._waiting_keys.get(key) == token:
                self._waiting_keys[key] = message_id

    def _forget_key(self, key: str | None, token: str) -> None:
        if key is None:
            return
        with self._lock:
            if self._waiting_keys.get(key) == token:
                del self._waiting_keys[key]

    def _wake_waiters(self, reason: str = _SENT) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_resolve, waiter, reason)


def _body(text: str) -> Any:
    """The decoded body; a body that is not JSON is handed on as its text, so the function
    host rejects it (and says why) instead of the receive failing for the whole batch."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _resolve(waiter: asyncio.Future[str], reason: str) -> None:
    if not waiter.done():
        waiter.set_result(reason)
