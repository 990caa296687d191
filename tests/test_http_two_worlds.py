"""Two Worlds served from one process: one HTTP app per World, each acting through its own
client, never through the process's current World.

Two emulators run side by side (the in-memory World and the AWS World on moto in-process),
each serving its app with uvicorn on 127.0.0.1 and delivering its queue's messages to it over
signed HTTP. Only one of the two Worlds can be the current one; both apps work all the same.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from adapters.http import create_app
from adapters.memory import MemoryWorld
from local_emulator import Emulator
from runtime.config import get_world, set_world
from runtime.errors import ConfigurationError
from tests.engine import workflows as wf

MODULES = ["tests.engine.workflows"]
ADDITION = wf.addition.__steplane_workflow__.name
HOLD_HOOK = wf.hold_hook.__steplane_workflow__.name


def _api(emu: Emulator) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    return httpx.AsyncClient(base_url=emu.http_url, headers=headers, trust_env=False)


async def _start(api: httpx.AsyncClient, workflow: str, *args: object) -> str:
    started = await api.post("/v1/runs", json={"workflow": workflow, "args": list(args)})
    assert started.status_code == 201, started.text
    return started.json()["run_id"]


async def _result(api: httpx.AsyncClient, run_id: str) -> object:
    answer = (await api.get(f"/v1/runs/{run_id}/result?timeout=20")).json()
    assert answer["status"] == "completed", answer
    return answer["result"]


async def _hook_created(api: httpx.AsyncClient, run_id: str) -> None:
    for _ in range(500):
        events = (await api.get(f"/v1/runs/{run_id}/events")).json()["events"]
        if any(e["type"] == "hook_created" for e in events):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{run_id} never created its hook")


async def _serve(api: httpx.AsyncClient, n: int, token: str, payload: str) -> dict[str, object]:
    """Start `n` additions and a run waiting on `token`, resume it, wait for all of them."""
    sums = [_start(api, ADDITION, i, 100) for i in range(n)]
    holding = await _start(api, HOLD_HOOK, token)
    run_ids = await asyncio.gather(*sums)
    await _hook_created(api, holding)
    resumed = await api.post(f"/v1/hooks/{token}", json=payload)  # no API key: the token
    assert resumed.json() == {"run_id": holding}
    results = await asyncio.gather(*(_result(api, run_id) for run_id in run_ids))
    assert results == [i + 100 for i in range(n)]
    assert await _result(api, holding) == payload
    return {"runs": {*run_ids, holding}, "holding": holding}


async def test_two_worlds_one_app_each_concurrently() -> None:
    async with (
        Emulator(modules=MODULES, world="memory", invoke="http") as memory,
        Emulator(modules=MODULES, world="aws", invoke="http") as aws,
        _api(memory) as memory_api,
        _api(aws) as aws_api,
    ):
        assert get_world() is aws.world  # only one World can be current; both apps serve
        same_token = "shared:token"  # one token, two Worlds: two different hooks
        served_memory, served_aws = await asyncio.gather(
            _serve(memory_api, 5, same_token, "to memory"),
            _serve(aws_api, 5, same_token, "to aws"),
        )
        for api, served, other in (
            (memory_api, served_memory, served_aws),
            (aws_api, served_aws, served_memory),
        ):
            listed = (await api.get("/v1/runs?limit=100")).json()["runs"]
            assert {r["run_id"] for r in listed} == served["runs"]
            missing = await api.get(f"/v1/runs/{other['holding']}")
            assert missing.status_code == 404
        for emu, served in ((memory, served_memory), (aws, served_aws)):
            stored = await emu.runtime_client.list(limit=100)
            assert {r.run_id for r in stored.items} == served["runs"]


async def test_an_app_leaves_the_current_world_alone() -> None:
    previous = set_world(None)
    first, second = MemoryWorld(), MemoryWorld()
    try:
        create_app(first, signing_secret="s", api_keys=["k"])
        create_app(second, signing_secret="s", api_keys=["k"])
        assert set_world(None) is None  # neither app installed its World
    finally:
        set_world(previous)
        await first.close()
        await second.close()


def test_an_app_without_a_world_says_how_to_give_it_one(monkeypatch) -> None:
    for name in ("STEPLANE_WORLD", "STEPLANE_STACK"):
        monkeypatch.delenv(name, raising=False)
    ctx = create_app(signing_secret="s" * 32).state.steplane
    with pytest.raises(ConfigurationError, match=r"create_app\(world=\.\.\.\).*STEPLANE_WORLD"):
        _ = ctx.world
