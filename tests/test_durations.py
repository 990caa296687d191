"""Duration forms for sleep() and RetryableError(retry_after=...)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from runtime.durations import parse_duration, resolve_wake_time


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (10, 10.0),
        (1.5, 1.5),
        (timedelta(minutes=2, milliseconds=5), 120.005),
        (timedelta(0), 0.0),
        ("250ms", 0.25),
        ("10s", 10.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("3d", 259200.0),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("1h30m", 5400.0),
        ("1d2h3m4s5ms", 93784.005),
        ("1m30s", 90.0),
        ("5ms", 0.005),
        ("  10s ", 10.0),
        ("1h 30m", 5400.0),
        ("0s", 0.0),
    ],
    ids=repr,
)
def test_accepted_durations(value: Any, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)
    assert isinstance(parse_duration(value), float)


@pytest.mark.parametrize(
    "value",
    [
        -1,
        -0.5,
        timedelta(seconds=-1),
        "",
        "   ",
        "10",
        "10x",
        "10 seconds",
        "-5s",
        "5S",
        "s",
        "1h30",
        "1e3s",
        True,
        False,
        float("nan"),
        float("inf"),
        10**400,
        None,
        [10],
        "1.5.5s",
    ],
    ids=repr,
)
def test_rejected_durations(value: Any) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    message = str(info.value)
    assert repr(value)[:20] in message
    assert '"250ms"' in message and "timedelta" in message


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "wake"),
    [
        ("2h", NOW + 7200),
        (30, NOW + 30),
        (timedelta(days=1), NOW + 86400),
        (datetime.fromtimestamp(NOW + 60, UTC), NOW + 60),
        (datetime.fromtimestamp(NOW + 60, timezone(timedelta(hours=-7))), NOW + 60),
        (datetime.fromtimestamp(NOW - 3600, UTC), NOW),
    ],
    ids=repr,
)
def test_resolve_wake_time(value: Any, wake: float) -> None:
    assert resolve_wake_time(value, NOW) == pytest.approx(wake)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_wake_time(datetime(2030, 1, 1), NOW)


def test_wake_time_rejects_bad_durations_too() -> None:
    with pytest.raises(ValueError, match="'soon'"):
        resolve_wake_time("soon", NOW)
