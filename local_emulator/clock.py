"""Clocks for the emulator: real time, or real time plus a skip-ahead offset (virtual time)."""

from __future__ import annotations

import time


class VirtualClock:
    """Moves with real time, and jumps forward when the emulator has nothing to do but wait,
    so durable sleeps and retry delays complete at once while `now()` stays consistent."""

    def __init__(self) -> None:
        self._offset = 0.0

    def time(self) -> float:
        return time.time() + self._offset

    def advance_to(self, when: float) -> None:
        self._offset += max(0.0, when - self.time())

    def advance(self, seconds: float) -> None:
        self._offset += max(0.0, seconds)
