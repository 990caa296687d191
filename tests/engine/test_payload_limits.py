"""Payload limits as the seed promises them: 50 MB per value, measured on the user's value
(raw bytes are not inflated by base64), and a total per run (`Limits.max_run_bytes`), both
refused before anything is written and without losing what the run already recorded."""

from __future__ import annotations

import pytest

from runtime import PayloadTooLargeError, RunTooLargeError, WorkflowFailedError, resume_hook, start
from tests.engine import workflows as wf
from tests.engine.test_bad_input import _run_count
from tests.engine.test_scenarios import _wait_for_event

MB = 1024 * 1024
LIMIT = 50 * MB


async def _blob_sizes(emu, run_id: str) -> list[int]:
    return [e.attrs["blob_size"] for e in await emu.world.log.read(run_id) if "blob" in e.attrs]


@pytest.mark.slow
async def test_a_50_mb_bytes_result_round_trips_and_is_stored_without_inflation(
    make_emulator,
) -> None:
    async with make_emulator() as emu:
        run = await start(wf.bytes_result, LIMIT)
        assert await run.result(timeout=120) == LIMIT
        (stored,) = await _blob_sizes(emu, run.run_id)
        assert LIMIT < stored < LIMIT + 1024  # raw bytes, sealed: not the 67 MB of base64


async def test_a_result_one_byte_over_50_mb_fails_the_step_before_anything_is_written(
    make_emulator,
) -> None:
    async with make_emulator() as emu:
        run = await start(wf.bytes_result, LIMIT + 1)
        with pytest.raises(WorkflowFailedError) as error:
            await run.result(timeout=120)
        assert "result of step" in str(error.value)
        assert f"is {LIMIT + 1} bytes, over the {LIMIT} bytes limit" in str(error.value)
        assert await _blob_sizes(emu, run.run_id) == []
        assert await emu.world.blobs.delete_prefix(f"{run.run_id}/") == 0  # no orphan blob


@pytest.mark.slow
async def test_50_mb_of_nested_json_passes(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.nested_json_result, LIMIT)
        assert await run.result(timeout=120) == LIMIT


async def test_the_run_total_refuses_the_result_that_would_pass_it(make_emulator) -> None:
    async with make_emulator() as emu:
        emu.world.limits.max_run_bytes = 350_000
        run = await start(wf.fill_run, 100_000, 10)
        result = await run.result(timeout=30)
        assert result["stored"] == 300_000  # the three results that fit are kept
        assert result["type"] == "RunTooLargeError"
        assert f"run {run.run_id} would store" in result["error"]
        assert "over its limit of 350000 bytes" in result["error"]
        total = (await emu.world.log.read(run.run_id))[-1].attrs["run_bytes"]
        assert 300_000 < total <= 350_000


async def test_racing_results_past_the_run_total_fail_and_the_others_stand(
    make_emulator,
) -> None:
    async with make_emulator() as emu:
        emu.world.limits.max_run_bytes = 250_000
        run = await start(wf.fill_run_at_once, 100_000, 4)
        assert await run.result(timeout=30) == ["RunTooLargeError"] * 2 + ["ok"] * 2


async def test_start_arguments_over_the_run_total_record_nothing(make_emulator) -> None:
    async with make_emulator() as emu:
        emu.world.limits.max_run_bytes = 100_000
        with pytest.raises(RunTooLargeError, match="arguments of workflow"):
            await start(wf.round_trip, b"x" * 100_000)
        assert await _run_count() == 0


async def test_a_hook_payload_over_the_run_total_is_refused_and_the_hook_stays(
    make_emulator,
) -> None:
    async with make_emulator() as emu:
        emu.world.limits.max_run_bytes = 100_000
        run = await start(wf.hold_hook, "full-run")
        await _wait_for_event(run, "hook_created")
        with pytest.raises(PayloadTooLargeError, match=f"run {run.run_id} would store"):
            await resume_hook("full-run", b"y" * 100_000)
        await resume_hook("full-run", "small")
        assert await run.result(timeout=30) == "small"
