"""In-process token buckets for the hook webhook: per token and per client address.

The webhook is the one route reachable without an API key, so it is where guessing tokens
and flooding a run with payloads would happen. Each key (a token's digest, a client address)
gets a bucket of `burst` requests refilled at `per_second`; an empty bucket means 429 with
`Retry-After`. Buckets live in this process only: N processes behind a load balancer admit
up to N times the rate. Use an API gateway's throttling for a fleet-wide limit.

Configured with `create_app(webhook_token_rate=..., webhook_client_rate=...)` or
`STEPLANE_WEBHOOK_TOKEN_RATE` / `STEPLANE_WEBHOOK_CLIENT_RATE` as "PER_SECOND/BURST"
(e.g. "10/20"); "off" disables a limit.
"""

from __future__ import annotations

import collections
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

TOKEN_RATE_ENV = "STEPLANE_WEBHOOK_TOKEN_RATE"
CLIENT_RATE_ENV = "STEPLANE_WEBHOOK_CLIENT_RATE"


@dataclass(frozen=True)
class Rate:
    """`per_second` requests on average, up to `burst` at once."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not self.per_second > 0 or self.burst < 1:
            raise ValueError(f"a rate needs per_second > 0 and burst >= 1, got {self}")

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """ "10/20" -> Rate(10, 20); "10" -> Rate(10, 10); "off" -> None."""
        text = text.strip().lower()
        if text in ("off", "none", "0"):
            return None
        rate, _, burst = text.partition("/")
        try:
            per_second = float(rate)
            return cls(per_second, int(burst) if burst else max(1, math.ceil(per_second)))
        except ValueError:
            raise ValueError(
                f"expected a rate as 'PER_SECOND/BURST' or 'off', got {text!r}"
            ) from None


DEFAULT_TOKEN_RATE = Rate(10, 20)
DEFAULT_CLIENT_RATE = Rate(50, 100)


def rate_from_env(name: str, default: Rate | None) -> Rate | None:
    value = os.environ.get(name)
    return default if not value else Rate.parse(value)


class RateLimiter:
    """Token buckets by key; at most `max_keys` buckets (the least recently used go first,
    which only ever makes a limit more lenient, never stricter)."""

    def __init__(
        self, rate: Rate, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0.0 if allowed, else seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.pop(key, (float(self.rate.burst), now))
            tokens = min(self.rate.burst, tokens + (now - updated) * self.rate.per_second)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate.per_second
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return wait
