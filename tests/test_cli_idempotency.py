"""`steplane hooks resume --idempotency-key`: a retried command delivers its payload once."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from local_emulator import Emulator, cli_runs
from local_emulator.cli import cli
from runtime import start
from tests.engine import workflows as wf
from tests.engine.test_scenarios import _wait_for_event


async def test_a_retried_resume_with_a_key_delivers_once(monkeypatch) -> None:
    async with Emulator(modules=["tests.engine.workflows"], world="memory") as emu:

        async def keep_open() -> None:  # the command closes its World; this one is the test's
            return None

        monkeypatch.setattr(emu.world, "close", keep_open)
        monkeypatch.setattr(cli_runs, "open_world", lambda: emu.world)
        run = await start(wf.three_payloads, "cli:1")
        await _wait_for_event(run, "hook_created")

        def resume(payload: str, key: str) -> str:
            args = ["hooks", "resume", "cli:1", payload, "--idempotency-key", key]
            done = CliRunner().invoke(cli, args)
            assert done.exit_code == 0, done.output
            return done.output.strip()

        for _ in range(3):
            assert (
                await asyncio.to_thread(resume, '"one"', "k-1") == f"delivered to run {run.run_id}"
            )
        await asyncio.to_thread(resume, '"two"', "k-2")
        await asyncio.to_thread(resume, '"three"', "k-3")
        assert (await run.result(timeout=10))["payloads"] == ["one", "two", "three"]
