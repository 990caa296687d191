"""An in-memory SQS look-alike driven by the World's clock.

Visibility is computed from `clock.time()` on every call, never from timers, so a virtual clock
that a test or the emulator advances by hand is honoured at the next receive. Messages sit in a
heap ordered by (visible_at, push order); entries made stale by a later receive, visibility
change or delete are skipped lazily when they reach the top.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from steplane.runtime.world import Clock, Delivery, check_at_least_one, check_not_negative

_POLL_SECONDS = 0.05
"""How often a long-poll re-reads the clock; catches a virtual clock advanced without a send."""


@dataclass
class _Message:
    message_id: str
    body_json: str
    visible_at: float
    idempotency_key: str | None
    receive_count: int = 0
    receipt: str | None = None
    version: int = 0


class MemoryQueue:
    """At-least-once delivery with delays, visibility timeouts, dedup keys and dead letters."""

    max_delay: float = math.inf

    def __init__(self, clock: Clock, max_receives: int = 5) -> None:
        check_at_least_one("max_receives", max_receives)
        self.clock = clock
        self.max_receives = max_receives
        self._lock = threading.Lock()
        self._messages: dict[str, _Message] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._order = itertools.count()
        self._waiting_keys: dict[str, str] = {}  # idempotency key -> id of a never-received message
        self._dead: list[_Message] = []
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self._closed = False

    # --- protocol -----------------------------------------------------------------------

    async def send(
        self, body: dict[str, Any], *, delay: float = 0.0, idempotency_key: str | None = None
    ) -> None:
        """Queue `body`; dropped if a message with the same key is still waiting to be received.

        The body is stored as JSON: the caller may mutate its dict afterwards, and every
        receive decodes a fresh copy, as a real queue would.
        """
        check_not_negative("delay", delay)
        body_json = json.dumps(body)
        with self._lock:
            if idempotency_key is not None and idempotency_key in self._waiting_keys:
                return
            message = _Message(
                message_id=uuid.uuid4().hex,
                body_json=body_json,
                visible_at=self.clock.time() + delay,
                idempotency_key=idempotency_key,
            )
            self._messages[message.message_id] = message
            if idempotency_key is not None:
                self._waiting_keys[idempotency_key] = message.message_id
            self._schedule(message)
        self._wake_waiters()

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0.0, visibility_timeout: float = 30.0
    ) -> list[Delivery]:
        """Up to `max_messages` visible messages; with `wait_seconds` > 0, long-poll for one."""
        check_at_least_one("max_messages", max_messages)
        check_not_negative("visibility_timeout", visibility_timeout)
        if wait_seconds <= 0:  # the common short poll: no waiter bookkeeping
            return self._take(max_messages, visibility_timeout)[0]
        deadline = time.monotonic() + wait_seconds
        while True:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            # Register before looking, so a send between the look and the wait still wakes us.
            with self._lock:
                self._waiters.add((loop, waiter))
            try:
                deliveries, next_at = self._take(max_messages, visibility_timeout)
                remaining = deadline - time.monotonic()
                if deliveries or remaining <= 0 or self._closed:
                    return deliveries
                pause = min(remaining, _POLL_SECONDS)
                if next_at is not None:
                    pause = min(pause, max(next_at - self.clock.time(), 0.0))
                await asyncio.wait([waiter], timeout=pause)
            finally:
                with self._lock:
                    self._waiters.discard((loop, waiter))

    async def delete(self, delivery: Delivery) -> None:
        """Remove the message if `delivery` holds its current receipt (stale receipts: no-op)."""
        with self._lock:
            message = self._current(delivery)
            if message is not None:
                del self._messages[message.message_id]

    async def change_visibility(self, delivery: Delivery, timeout: float) -> None:
        """Make the message visible again `timeout` seconds from now (0: at once)."""
        check_not_negative("timeout", timeout)
        with self._lock:
            message = self._current(delivery)
            if message is None:
                return
            message.visible_at = self.clock.time() + timeout
            self._schedule(message)
        self._wake_waiters()

    # --- optional capabilities (runtime.world.Queue) ----------------------------------------

    def next_visible_at(self) -> float | None:
        """When the next message becomes visible: a waiting message's delay or an in-flight
        message's visibility timeout (possibly in the past). None when the queue is empty.
        The emulator uses it to skip a virtual clock ahead to the next thing that happens."""
        with self._lock:
            self._drop_stale_heads()
            return self._heap[0][0] if self._heap else None

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        """Bodies of the messages moved aside after `max_receives` receives, oldest first."""
        with self._lock:
            return [json.loads(message.body_json) for message in self._dead]

    def redrive(self) -> int:
        """Move every dead letter back to the queue, visible now with a fresh receive count."""
        with self._lock:
            dead, self._dead = self._dead, []
            now = self.clock.time()
            for message in dead:
                revived = _Message(
                    message_id=message.message_id,
                    body_json=message.body_json,
                    visible_at=now,
                    idempotency_key=None,
                )
                self._messages[revived.message_id] = revived
                self._schedule(revived)
        if dead:
            self._wake_waiters()
        return len(dead)

    async def has_route(self, deployment: str) -> bool:
        """False: every host of a memory World shares this one queue."""
        return False

    # --- extras -----------------------------------------------------------------------------

    def depth(self) -> int:
        """Messages waiting or in flight (dead letters not included)."""
        with self._lock:
            return len(self._messages)

    async def close(self) -> None:
        """Wake every long-poll so it returns at once."""
        self._closed = True
        self._wake_waiters()

    # --- internals ----------------------------------------------------------------------

    def _take(
        self, max_messages: int, visibility_timeout: float
    ) -> tuple[list[Delivery], float | None]:
        """Receive what is visible now; also return when the next message becomes visible."""
        deliveries: list[Delivery] = []
        with self._lock:
            now = self.clock.time()
            while len(deliveries) < max_messages:
                self._drop_stale_heads()
                if not self._heap or self._heap[0][0] > now:
                    break
                _, _, message_id, _ = heapq.heappop(self._heap)
                message = self._messages[message_id]
                key = message.idempotency_key
                if key is not None and self._waiting_keys.get(key) == message_id:
                    # In flight now: a new send with this key is new work, not a duplicate.
                    del self._waiting_keys[key]
                if message.receive_count >= self.max_receives:
                    del self._messages[message_id]
                    self._dead.append(message)
                    continue
                message.receive_count += 1
                message.receipt = uuid.uuid4().hex
                message.visible_at = now + visibility_timeout
                self._schedule(message)
                deliveries.append(
                    Delivery(
                        body=json.loads(message.body_json),
                        receipt=message.receipt,
                        receive_count=message.receive_count,
                        message_id=message_id,
                    )
                )
            self._drop_stale_heads()
            next_at = self._heap[0][0] if self._heap else None
        return deliveries, next_at

    def _schedule(self, message: _Message) -> None:
        """Push the message's current visibility; older heap entries for it become stale."""
        message.version += 1
        entry = (message.visible_at, next(self._order), message.message_id, message.version)
        heapq.heappush(self._heap, entry)

    def _drop_stale_heads(self) -> None:
        while self._heap:
            _, _, message_id, version = self._heap[0]
            message = self._messages.get(message_id)
            if message is not None and message.version == version:
                return
            heapq.heappop(self._heap)

    def _current(self, delivery: Delivery) -> _Message | None:
        """The message `delivery` came from, if its receipt is still the current one."""
        message = self._messages.get(delivery.message_id)
        if message is None or message.receipt != delivery.receipt:
            return None
        return message

    def _wake_waiters(self) -> None:
        """Wake every long-poll, even those on another thread's event loop."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed; nobody waits
                loop.call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
