"""The run's payload total carried on the log (engine/run_bytes.py): exact from any batch end,
tolerant of logs written before it, refused past the limit, hidden from public attributes."""

from __future__ import annotations

import pytest

from runtime.engine.events import Event
from runtime.engine.run_bytes import RUN_BYTES, RunBudget, stamp, stored_bytes, total_after
from runtime.errors import PayloadTooLargeError, RunTooLargeError


def event(payload: bytes | None = None, **attrs: object) -> Event:
    return Event("step_completed", "evt_1", 0.0, "step_1", attrs, payload)


def test_stored_bytes_counts_inline_and_offloaded_payloads() -> None:
    assert stored_bytes(event(b"x" * 10)) == 10
    assert stored_bytes(event(blob="run/evt", blob_size=5000)) == 5000
    assert stored_bytes(event()) == 0


def test_the_last_event_of_a_batch_carries_the_total_and_readers_take_it() -> None:
    batch = stamp("run_1", [event(b"x" * 10), event(blob="k", blob_size=90)], 400, limit=1000)
    assert RUN_BYTES not in batch[0].attrs and batch[-1].attrs[RUN_BYTES] == 500
    assert total_after(batch) == 500  # a reader that starts mid-log still ends exact
    assert total_after([event(b"y" * 7)], total_after(batch)) == 507
    assert RUN_BYTES not in batch[-1].public_attrs
    restamped = stamp("run_1", batch, 0, limit=None)  # after a conflict: from the new head
    assert restamped[-1].attrs[RUN_BYTES] == 100


def test_a_log_from_before_the_total_is_summed() -> None:
    assert total_after([event(b"x" * 3), event(blob="k", blob_size=4)]) == 7


def test_past_the_limit_nothing_is_stamped_but_ending_is_never_refused() -> None:
    with pytest.raises(RunTooLargeError) as error:
        stamp("run_1", [event(b"x" * 200)], 900, limit=1000)
    assert "run run_1 would store 1100 bytes" in str(error.value)
    assert isinstance(error.value, PayloadTooLargeError)
    assert stamp("run_1", [event(b"x" * 200)], 900, limit=None)[-1].attrs[RUN_BYTES] == 1100


def test_the_budget_counts_the_sealed_size() -> None:
    budget = RunBudget("run_1", 900, 1000)
    budget.check(b"x" * 71, "the result")  # + 29 bytes of nonce, tag and version
    with pytest.raises(RunTooLargeError, match="with the result, over its limit of 1000"):
        budget.check(b"x" * 72, "the result")
