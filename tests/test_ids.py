"""Prefixed ULIDs and random tokens."""

from __future__ import annotations

import re
import threading

import pytest

from runtime.ids import CROCKFORD, new_id, new_token

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _ms(ulid: str) -> int:
    return int("".join(f"{CROCKFORD.index(c):05b}" for c in ulid[:10]), 2)


def test_format() -> None:
    run_id = new_id("run")
    prefix, _, ulid = run_id.partition("_")
    assert prefix == "run"
    assert ULID.match(ulid)
    assert ulid[0] in "01234567"  # 128 bits fit in 26 chars: the first holds 3 bits


def test_timestamp_is_encoded_from_now() -> None:
    ulid = new_id("evt", now=1_700_000_000.123).split("_", 1)[1]
    assert _ms(ulid) == 1_700_000_000_123
    assert new_id("x", now=0).startswith("x_0000000000")


def test_later_ids_sort_after_earlier_ones() -> None:
    made = [new_id("evt") for _ in range(5000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_same_millisecond_is_monotonic() -> None:
    made = [new_id("evt", now=1_700_000_000.0) for _ in range(1000)]
    assert made == sorted(made)
    assert len(set(made)) == 1000


def test_virtual_clock_orders_ids() -> None:
    assert new_id("a", now=2_000_000_000.0) < new_id("a", now=2_000_000_000.002)


def test_unique_across_threads() -> None:
    made: list[str] = []

    def work() -> None:
        made.extend(new_id("s") for _ in range(1000))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 4000


@pytest.mark.parametrize("now", [-1.0, 2.0**48])
def test_time_outside_the_ulid_range(now: float) -> None:
    with pytest.raises(ValueError, match="ULID range"):
        new_id("x", now=now)


def test_tokens() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)  # 24 bytes = 192 bits
