"""Ending a run (runtime/engine/lifecycle.py `apply_run_ending`): once the run's record says it
ended, everything outside the log is done, so what `result()` returns is safe to act on."""

from __future__ import annotations

import asyncio
from typing import Any

from local_emulator import Emulator
from runtime import resume_hook, start
from runtime.world import HookOwner
from tests.engine import model_workflows as mw
from tests.engine import workflows as wf


async def _until_held(emu: Emulator, token: str, *, tries: int) -> None:
    """Wait (up to `tries` polls 10 ms apart) until a live hook holds `token`."""
    for _ in range(tries):
        if await emu.world.hooks.lookup(token) is not None:
            return
        await asyncio.sleep(0.01)


async def test_a_hook_token_is_free_when_result_returns(monkeypatch) -> None:
    async with Emulator(modules=["tests.engine.workflows"], world="memory") as emu:
        release = emu.world.hooks.release

        async def slow_release(owner: HookOwner) -> Any:
            await asyncio.sleep(0.2)  # a slow World call between the ending's writes
            return await release(owner)

        monkeypatch.setattr(emu.world.hooks, "release", slow_release)
        run = await start(wf.hold_hook, "ending-token")
        await _until_held(emu, "ending-token", tries=200)
        await resume_hook("ending-token", "paid")
        assert await run.result(timeout=10) == "paid"
        assert await emu.world.hooks.lookup("ending-token") is None


async def test_a_reader_that_sees_its_stream_end_sees_the_run_ended(monkeypatch) -> None:
    """An unclosed stream is closed by the run's ending; a reader ending on that close then
    asks the run's status, which must already say how the run ended."""
    async with Emulator(modules=["tests.engine.model_workflows"], world="memory") as emu:
        close = emu.world.streams.close
        statuses_at_close: list[str] = []

        async def close_and_look(run_id: str, name: str) -> None:
            await close(run_id, name)
            statuses_at_close.append(str((await emu.world.runs.get(run_id)).status))

        monkeypatch.setattr(emu.world.streams, "close", close_and_look)
        run = await start(mw.unclosed_stream, "ending-stream")
        await _until_held(emu, "ending-stream", tries=500)
        await resume_hook("ending-stream", "end")
        assert await run.result(timeout=10) == "end"
        assert statuses_at_close == ["completed"]
