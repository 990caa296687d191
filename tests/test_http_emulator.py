"""`Emulator(invoke="http")`: the function host behind the HTTP app on 127.0.0.1, every
message delivered as a signed request."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from local_emulator import Emulator
from runtime import WorkflowFailedError, start
from runtime.errors import ConfigurationError
from tests.engine import workflows as wf

MODULES = ["tests.engine.workflows"]


async def test_the_run_api_is_served_with_the_emulators_key() -> None:
    async with Emulator(modules=MODULES, world="memory", invoke="http") as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        async with httpx.AsyncClient(base_url=emu.http_url, headers=headers, trust_env=False) as c:
            name = wf.addition.__steplane_workflow__.name
            started = await c.post("/v1/runs", json={"workflow": name, "args": [3, 4]})
            run_id = started.json()["run_id"]
            result = await c.get(f"/v1/runs/{run_id}/result?timeout=10")
            assert result.json()["result"] == 7
            assert (await c.post("/invoke", json={})).status_code == 401  # not signed
        assert emu.workflow_invocations(run_id) == 1
        address = urlsplit(emu.http_url)
    with pytest.raises(OSError):  # the server is gone after the emulator exits
        socket.create_connection((address.hostname, address.port), timeout=1).close()


async def test_a_rejected_message_fails_its_run_at_once() -> None:
    async with Emulator(modules=MODULES, world="memory", invoke="http") as emu:
        run = await start(wf.hold_hook, "rejected-run")
        message = {"v": 1, "kind": "step", "run_id": run.run_id, "step_id": "s", "step": "gone:s"}
        await emu.world.queue.send(message)
        with pytest.raises(WorkflowFailedError) as failure:
            await run.result(timeout=10)
        assert failure.value.code == "RUNTIME_ERROR"
        assert "rejected a step message: unknown step 'gone:s'" in failure.value.message
        for _ in range(100):  # the host ends the run before it answers the emulator's POST
            if any("gone:s" in line for line in emu.errors):
                break
            await asyncio.sleep(0.01)
        assert [line for line in emu.errors if "gone:s" in line] == [
            f"InvocationRejectedError: unknown step 'gone:s': import the module that defines it "
            f"(message for run {run.run_id})"
        ]  # not retried


async def test_http_attributes_need_invoke_http() -> None:
    async with Emulator(modules=MODULES, world="memory") as emu:
        with pytest.raises(ConfigurationError, match="invoke='http'"):
            _ = emu.http_url
    with pytest.raises(ConfigurationError, match="'inprocess' or 'http'"):
        Emulator(world="memory", invoke="grpc")
