"""Every example runs with `steplane run`, the way a new user runs it, and does what it says."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local_emulator import Emulator
from runtime import HookNotFoundError, resume_hook, start

ROOT = Path(__file__).resolve().parents[1]
STEPLANE = shutil.which("steplane", path=str(Path(sys.executable).parent)) or "steplane"


def steplane_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STEPLANE, "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["examples.checkout:checkout", "o-1"], {"status": "paid"}),
        (["examples.checkout:checkout", "o-2", "250000"], {"status": "cancelled"}),
        (["--virtual-time", "examples.approval:approval", "inv-1", "99"], {"status": "expired"}),
        (["examples.streaming:report", "3"], {"parts": 3, "sum_of_squares": 14}),
        (["examples.etl:etl", "12"], {"loaded": 12}),
        (["--virtual-time", "examples.continue_as_new:ticker", "0", "0"], {"batch": 0}),
    ],
    ids=["checkout", "checkout-compensated", "approval-expired", "streaming", "etl", "ticker"],
)
def test_steplane_run_example(args: list[str], expected: dict) -> None:
    done = steplane_run(*args)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert expected.items() <= result.items()


def test_steplane_run_failure_is_one_line_and_exit_1() -> None:
    done = steplane_run("examples.checkout:checkout")  # missing order_id
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "Error: TypeError: workflow 'checkout': missing a required argument: 'order_id'"
    ]


async def test_approval_approved_by_a_person() -> None:
    from examples.approval import approval

    async with Emulator(world="memory", virtual_time=False):
        run = await start(approval, "inv-7", 300)
        while True:
            try:
                await resume_hook("approval:inv-7", {"approved": True, "by": "dana"})
                break
            except HookNotFoundError:  # the workflow has not created it yet
                await asyncio.sleep(0.02)
        result = await run.result(timeout=10)
        assert result["status"] == "approved"
        assert result["booked"] == "inv-7 booked (300 EUR, approved by dana)"


async def test_streaming_progress_read_live() -> None:
    from examples.streaming import report

    async with Emulator(world="memory"):
        run = await start(report, 4)
        chunks = [chunk async for chunk in run.stream()]
        assert chunks[-1] == "done"
        assert [c["part"] for c in chunks[:-1]] == [1, 2, 3, 4]
        assert (await run.result(timeout=10))["sum_of_squares"] == 30


async def test_ticker_continues_through_successors() -> None:
    from examples.continue_as_new import ticker

    async with Emulator(world="memory", virtual_time=True) as emu:
        run = await start(ticker, 0, 2)
        batches = []
        while run is not None:
            result = await run.result(timeout=10)
            batches.append(result["batch"])
            if result["next_run"] is None:
                break
            record = await emu.world.runs.get(result["next_run"])
            assert record is not None and record.parent_run_id == run.run_id
            run = type(run)(result["next_run"], emu.world)
        assert batches == [0, 1, 2]
