"""AWS fault injection through botocore's event hooks, for the chaos harness.

Two kinds, each at half the configured rate, on every call the World's clients make:

- "before": the call fails before it reaches AWS (`before-call` raises a ClientError);
  nothing was applied, the caller sees an error.
- "lost":   the call was applied, then its response is lost (`after-call` raises); the caller
  sees an error although the write happened, the nastier case for idempotency.

Raised outside botocore's retry loop, so they reach the engine as a real outage would after
retries ran out.
"""

from __future__ import annotations

import random
from typing import Any

from botocore.exceptions import ClientError


class FaultInjector:
    def __init__(self, rate: float, seed: int, record: Any = None) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.counts = {"before": 0, "lost": 0, "calls": 0}
        self._record = record

    def install(self, clients: list[Any]) -> None:
        for client in clients:
            client.meta.events.register("before-call", self._before_call)
            client.meta.events.register("after-call", self._after_call)

    def _roll(self, kind: str, operation: str) -> None:
        if self.random.random() < self.rate / 2:
            self.counts[kind] += 1
            if self._record is not None:
                self._record(kind, operation)
            error = {"Code": "InternalFailure", "Message": f"chaos: injected {kind} fault"}
            raise ClientError({"Error": error, "ResponseMetadata": {}}, operation)

    def _before_call(self, model: Any = None, **_: Any) -> None:
        self.counts["calls"] += 1
        self._roll("before", getattr(model, "name", "?"))

    def _after_call(self, model: Any = None, http_response: Any = None, **_: Any) -> None:
        if http_response is not None and http_response.status_code >= 300:
            return  # already failed: nothing was applied to lose
        self._roll("lost", getattr(model, "name", "?"))
