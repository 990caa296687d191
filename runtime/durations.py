"""Duration forms accepted by `sleep()` and `RetryableError(retry_after=...)`.

One parser so both APIs accept exactly the same things: int/float seconds, `timedelta`, and
strings such as "250ms", "10s", "5m", "2h", "3d", "1.5s" or "1h30m"; `resolve_wake_time` also
takes an aware `datetime` as an absolute wake-up time.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

ACCEPTED = (
    'accepted: seconds as a non-negative int or float, a timedelta, or a string like "250ms", '
    '"10s", "5m", "2h", "3d", "1.5s" or "1h30m"'
)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)")


def parse_duration(value: Any) -> float:
    """Seconds in `value`; ValueError naming the value and the accepted forms otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {ACCEPTED}")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int too big for a float is no usable duration either
            seconds = math.inf
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        kind = type(value).__qualname__
        raise ValueError(f"invalid duration {value!r} of type {kind}: {ACCEPTED}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must be finite and not negative; {ACCEPTED}")
    return seconds


def _parse_text(text: str) -> float:
    total, pos, stripped = 0.0, 0, text.strip()
    while pos < len(stripped):
        match = _PART.match(stripped, pos)
        if match is None:
            break
        total += float(match[1]) * _UNIT_SECONDS[match[2]]
        pos = match.end()
    if not stripped or pos != len(stripped):
        raise ValueError(f"invalid duration {text!r}: {ACCEPTED}")
    return total


def resolve_wake_time(value: Any, now: float) -> float:
    """Epoch seconds when a sleep of `value` begun at `now` ends; a past datetime ends at `now`."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"cannot sleep until {value!r}: the datetime must be timezone-aware "
                "(e.g. datetime.now(timezone.utc) + timedelta(hours=1))"
            )
        return max(now, value.timestamp())
    return now + parse_duration(value)
