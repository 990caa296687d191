"""The emulator's SQS queue: the production `SqsQueue` timed by the World's clock.

The emulator's virtual clock (or a test's manual one) is not SQS's time, so this queue keeps
the clock-dependent state in process; it is right only for a queue this process alone
consumes (the emulator, `steplane dev`, the tests):
- a delayed message waits here, not in SQS, until the clock reaches `not_before`; then it is
  sent. (Hiding early messages in SQS instead would cost a receive each time, and SQS moves a
  message to the dead-letter queue after `max_receives` receives: a long sleep would die.)
- a received message's visibility deadline is kept in clock time; once the clock passes it,
  `ChangeMessageVisibility(0)` makes the message visible again. The SQS-side timeout is the
  same number of real seconds, a backstop that never fires first (a virtual clock moves at
  least as fast as real time).
- `next_visible_at()` (the emulator's skip-ahead) is the earliest of those two.
- a waiting `receive` polls every 50 ms, never long-polls (an in-process moto would wait
  holding its lock, moto_lock.py), wakes when this process sends, and returns early, empty,
  when this process deletes a message or sets one aside: its consumer may now be idle and
  want to skip ahead, instead of sitting out its poll (each 900-s hop of a chained sleep
  would otherwise cost a poll). Once the queue is quiet (`QUIET_AFTER_SECONDS` with nothing
  held, in flight, sent or received here) it asks every `QUIET_POLL_SECONDS` instead: the
  polls only look for messages other processes sent (`steplane runs ...` against `steplane
  dev`), and an idle emulator's 20 receives a second were most of its CPU.
- idempotency keys: a send whose key belongs to a message this object sent and has not yet
  seen received is dropped, as the memory World does.
- receipts: a delete or visibility change with a receipt older than the one this object last
  received for the message is a no-op (moto, unlike SQS, would honour a stale receipt).
Delayed messages held here are lost when the World closes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from steplane.adapters.aws.clients import AwsClients
from steplane.adapters.aws.queue import SqsQueue
from steplane.runtime.world import Clock, Delivery, check_not_negative

_POLL_SECONDS = 0.05
QUIET_AFTER_SECONDS = 2.0
QUIET_POLL_SECONDS = 0.25
"""How soon a quiet queue sees a message another process sent: at most this late."""
_REMEMBERED_RECEIPTS = 65_536
_SENT, _SETTLED = "sent", "settled"


@dataclass
class _Held:
    body_json: str
    not_before: float
    key: str | None
    token: str


class ClockedSqsQueue(SqsQueue):
    """An `SqsQueue` whose delays and visibility follow the World's clock (module docstring)."""

    def __init__(self, aws: AwsClients, clock: Clock, max_receives: int) -> None:
        super().__init__(aws, clock, max_receives)
        self._lock = threading.Lock()
        self._order = itertools.count()
        self._held: list[tuple[float, int, _Held]] = []
        self._in_flight: dict[str, tuple[str, float]] = {}  # message id -> (receipt, due)
        self._receipts: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._waiting_keys: dict[str, str] = {}  # key -> message id (or held token)
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[str]]] = set()
        self._sends = 0  # messages this process made visible (sent, released, expired)
        self._sends_when_drained = -1  # `_sends` when a receive last left the queue empty
        self._drained_at = 0.0  # monotonic time of that receive
        self._stirred_at = time.monotonic()  # the last send, delivery or settle here

    # --- protocol -------------------------------------------------------------------------

    async def send(
        self, body: dict[str, Any], *, delay: float = 0.0, idempotency_key: str | None = None
    ) -> None:
        check_not_negative("delay", delay)
        body_json = json.dumps(body)
        due = self.clock.time() + delay
        key = idempotency_key
        token = f"pending:{next(self._order)}"
        with self._lock:
            if key is not None:
                if key in self._waiting_keys:
                    return  # the same work is still waiting
                self._waiting_keys[key] = token
            if delay > 0:
                held = _Held(body_json, due, key, token)
                heapq.heappush(self._held, (due, next(self._order), held))
                return  # not visible before the clock moves; receives re-read the clock
        try:
            message_id = await self._aws.call(self._send_sync, body_json, due, 0, key)
        except BaseException:
            self._forget_key(key, token)
            raise
        self._rename_key(key, token, message_id)
        self._wake_waiters()

    async def _poll(self, count: int, visibility: float, deadline: float) -> list[Delivery]:
        """Short polls, woken by this process's sends and settles (module docstring)."""
        while True:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[str] = loop.create_future()
            with self._lock:  # register first: a send during the receive still wakes us
                self._waiters.add((loop, waiter))
                drained = self._sends == self._sends_when_drained
            try:
                remaining = deadline - time.monotonic()
                if drained and not self._closed and not self._due():
                    # The last receive emptied the queue and nothing was sent or fell due
                    # since: wait for a send before asking again (it would find nothing
                    # but what another process sent). A receive that may not wait (the
                    # virtual-time emulator when idle) is answered empty until then.
                    ask_in = self._drained_at + self._ask_every() - time.monotonic()
                    if remaining > 0:
                        await asyncio.wait([waiter], timeout=min(remaining, max(ask_in, 0.0)))
                        if waiter.done() and waiter.result() == _SETTLED:
                            return []
                        if waiter.done():
                            continue  # woken by a send: a fresh waiter for the receive
                    if ask_in > max(remaining, 0.0):
                        return []  # not yet time to ask again
                sends = self._sends
                deliveries = await self._aws.call(self._receive_sync, count, visibility, 0)
                if len(deliveries) < count:
                    with self._lock:
                        self._sends_when_drained = sends
                        self._drained_at = time.monotonic()
                if deliveries:
                    self._stirred_at = time.monotonic()
                remaining = deadline - time.monotonic()
                if deliveries or remaining <= 0 or self._closed:
                    return deliveries
                await asyncio.wait([waiter], timeout=min(remaining, _POLL_SECONDS))
                if waiter.done() and waiter.result() == _SETTLED:
                    return []  # a consumer settled a message and may want to skip ahead
            finally:
                with self._lock:
                    self._waiters.discard((loop, waiter))

    async def delete(self, delivery: Delivery) -> None:
        """Delete the message; a stale receipt (it was received again since) is a no-op."""
        if self._stale(delivery):
            return
        await super().delete(delivery)
        with self._lock:
            if self._receipts.get(delivery.message_id) == delivery.receipt:
                del self._receipts[delivery.message_id]
            self._in_flight.pop(delivery.message_id, None)
        self._wake_waiters(_SETTLED)

    async def change_visibility(self, delivery: Delivery, timeout: float) -> None:
        check_not_negative("timeout", timeout)
        if self._stale(delivery):
            return
        if not await self._aws.call(self._set_visibility_sync, delivery.receipt, timeout):
            return
        with self._lock:
            if timeout > 0:
                self._in_flight[delivery.message_id] = (
                    delivery.receipt,
                    self.clock.time() + timeout,
                )
            else:
                self._in_flight.pop(delivery.message_id, None)
        self._wake_waiters(_SENT if timeout == 0 else _SETTLED)

    def next_visible_at(self) -> float | None:
        """Clock time at which the next held message is due or an in-flight message's
        visibility ends (maybe in the past); None when nothing is tracked."""
        with self._lock:
            times = [due for _, due in self._in_flight.values()]
            if self._held:
                times.append(self._held[0][0])
        return min(times) if times else None

    async def has_route(self, deployment: str) -> bool:
        """False: this queue is one process's alone, so it routes to no other host."""
        return False

    def _ask_every(self) -> float:
        """How often a drained queue asks SQS again: `QUIET_POLL_SECONDS` once quiet."""
        with self._lock:
            tracked = bool(self._held or self._in_flight)
        quiet = not tracked and time.monotonic() - self._stirred_at >= QUIET_AFTER_SECONDS
        return QUIET_POLL_SECONDS if quiet else _POLL_SECONDS

    def _due(self) -> bool:
        """A held message or an in-flight one's visibility is due: a receive would act."""
        next_visible = self.next_visible_at()
        return next_visible is not None and next_visible <= self.clock.time()

    def redrive(self) -> int:
        moved = super().redrive()
        if moved:
            self._wake_waiters()
        return moved

    def depth(self) -> int:
        """Messages waiting (held here included) or in flight; dead letters excluded."""
        with self._lock:
            held = len(self._held)
        return held + super().depth()

    async def close(self) -> None:
        """Wake every receive so it returns; delayed messages held in process are dropped."""
        await super().close()
        self._wake_waiters()

    # --- blocking internals (on the client pool) ---------------------------------------------

    def _receive_sync(self, count: int, visibility: float, wait: int) -> list[Delivery]:
        now = self.clock.time()
        self._release_due(now)
        self._expire_visibility(now)
        return super()._receive_sync(count, visibility, wait)

    def _accept(self, message: dict[str, Any], now: float, visibility: float) -> Delivery | None:
        message_id, receipt = message["MessageId"], message["ReceiptHandle"]
        key = message.get("MessageAttributes", {}).get("idem", {}).get("StringValue")
        with self._lock:
            waiting = self._waiting_keys.get(key) if key is not None else None
            if waiting == message_id or (waiting or "").startswith("pending:"):
                # In flight: the key is free for new work. ("pending": received before
                # its send returned; the send's rename then finds the key gone.)
                del self._waiting_keys[key]  # type: ignore[arg-type]
        delivery = super()._accept(message, now, visibility)
        if delivery is not None:
            with self._lock:
                self._receipts[message_id] = receipt
                self._receipts.move_to_end(message_id)
                while len(self._receipts) > _REMEMBERED_RECEIPTS:
                    self._receipts.popitem(last=False)
                self._in_flight[message_id] = (receipt, now + visibility)
        return delivery

    def _hide_early(self, message: dict[str, Any], remaining: float) -> None:
        """Sent by another clock: hidden for a real second at a time, due in clock time."""
        with contextlib.suppress(Exception):
            self._set_visibility_sync(message["ReceiptHandle"], 1)
        with self._lock:
            self._in_flight[message["MessageId"]] = (
                message["ReceiptHandle"],
                self.clock.time() + remaining,
            )

    def _release_due(self, now: float) -> None:
        """Send the held messages whose time has come."""
        with self._lock:
            due = []
            while self._held and self._held[0][0] <= now:
                due.append(heapq.heappop(self._held)[2])
        for held in due:
            try:
                message_id = self._send_sync(held.body_json, held.not_before, 0, held.key)
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
            self._set_visibility_sync(receipt, 0)

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
            self._stirred_at = time.monotonic()
            if reason == _SENT:
                self._sends += 1
            waiters = list(self._waiters)
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_resolve, waiter, reason)


def _resolve(waiter: asyncio.Future[str], reason: str) -> None:
    if not waiter.done():
        waiter.set_result(reason)
