"""One presentation (runtime/describe.py) behind `Run.events()`, the HTTP run API and the CLI.

A run that retries a step, fans out, streams and waits on a hook is looked at through
`Run.events()`/`Run.timeline()` and the HTTP API on the same World: the dicts are the same.
The CLI side (`runs show --json`, `runs events --json`, `hooks list --json`, `runs streams`)
is compared on a deployed stack in tests/test_cli_inspect.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from adapters.http import create_app
from local_emulator import Emulator
from runtime.describe import event_json, run_summary
from runtime.runs import Run
from tests import observed_workflows as obs

KEY = "presentation-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(modules=["tests.observed_workflows"], world="memory") as emulator:
        yield emulator


@pytest.fixture
async def api(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(emu.world, signing_secret="s", api_keys=[KEY], decrypt_api_keys=[KEY])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s", headers=AUTH) as c:
        yield c


def at(iso: str) -> datetime:
    """A shown time back as a datetime (always ISO 8601 with its UTC offset)."""
    parsed = datetime.fromisoformat(iso)
    assert parsed.tzinfo is not None
    return parsed


async def wait_for_live_hook(emu: Emulator, run: Run, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not any(e.run_id == run.run_id for e in (await emu.world.hooks.list()).items):
        assert time.monotonic() < deadline, f"{run.run_id} never created its hook"
        assert not (await run.record()).status.is_terminal, await run.events()
        await asyncio.sleep(0.02)


async def test_run_events_timeline_and_hooks_are_the_same_dicts_through_the_api(
    emu: Emulator, api: httpx.AsyncClient
) -> None:
    run = await emu.runtime_client.start(obs.observed, "o-1")
    await wait_for_live_hook(emu, run)

    hooks = (await api.get("/v1/hooks")).json()
    [hook] = [h for h in hooks["hooks"] if h["run_id"] == run.run_id]
    assert hook["workflow"] == "observed" and hook["token_fingerprint"].startswith("tok_")
    assert "observe:o-1" not in str(hooks)  # the token is a bearer secret: fingerprint only
    assert 0 <= hook["age_seconds"] < 20
    assert datetime.fromisoformat(hook["created_at"]).tzinfo is not None

    await emu.runtime_client.resume_hook("observe:o-1", {"ok": True})
    result = await run.result(timeout=20)
    assert result["decision"] == {"ok": True} and result["parts"] == 3

    summary = (await api.get(f"/v1/runs/{run.run_id}")).json()
    assert summary == run_summary(await run.record())
    assert summary["status"] == "completed" and summary["workflow"] == "observed"

    for decrypt in (False, True):
        served = (await api.get(f"/v1/runs/{run.run_id}/events?decrypt={decrypt}")).json()
        described = await run.events(decrypt=decrypt)
        assert served["events"] == [event_json(e) for e in described]
        assert all(isinstance(e["created_at"], datetime) for e in described)
    sealed = [e["data"] for e in (await run.events(decrypt=False)) if "data" in e]
    assert sealed and all(d["encrypted"] is True and d["size"] > 28 for d in sealed)
    assert "o-1" not in str(sealed)

    served = (await api.get(f"/v1/runs/{run.run_id}/timeline")).json()
    assert served == {"run_id": run.run_id, **await run.timeline()}
    steps = {s["step_name"].rsplit(":", 1)[-1]: s for s in served["steps"]}
    assert sorted(steps) == ["flaky", "label", "pack", "report"]
    assert [a["outcome"] for a in steps["flaky"]["attempts"]] == ["retrying", "completed"]
    assert steps["flaky"]["attempts"][0]["error_type"].endswith("RetryableError")
    assert all(s["status"] == "completed" for s in served["steps"])
    for step in served["steps"]:
        for attempt in step["attempts"]:
            assert at(attempt["started_at"]) <= at(attempt["ended_at"])
    [hook_row] = served["hooks"]
    assert hook_row["payloads"] == 1 and hook_row["disposed_at"] is not None
    assert (await api.get("/v1/hooks")).json()["hooks"] == []  # disposed with the run


async def test_blob_values_are_summarised_by_the_codec_not_by_attribute_names(
    emu: Emulator, api: httpx.AsyncClient
) -> None:
    """A value over the inline limit lives in the blob store: its summary names the blob and
    the ciphertext size, and no storage attribute (`blob_size`) leaks into the event."""
    big = "x" * (emu.world.limits.inline_payload_bytes + 10)
    run = await emu.runtime_client.start(obs.observed, big, False)
    await run.result(timeout=20)
    [created] = [e for e in (await api.get(f"/v1/runs/{run.run_id}/events")).json()["events"]][:1]
    assert created["type"] == "run_created"
    assert created["data"]["blob"].startswith(run.run_id + "/")
    assert created["data"]["size"] > len(big)
    assert "blob_size" not in created and "run_bytes" not in created


async def test_the_api_refuses_a_bad_hook_cursor_and_pages(
    emu: Emulator, api: httpx.AsyncClient
) -> None:
    runs = [await emu.runtime_client.start(obs.observed, f"p-{i}") for i in range(3)]
    for run in runs:
        await wait_for_live_hook(emu, run)
    first = (await api.get("/v1/hooks?limit=2")).json()
    assert len(first["hooks"]) == 2 and first["next_cursor"]
    second = (await api.get(f"/v1/hooks?limit=2&cursor={first['next_cursor']}")).json()
    listed = {h["run_id"] for h in first["hooks"] + second["hooks"]}
    assert listed == {r.run_id for r in runs}
    bad = await api.get("/v1/hooks?cursor=nonsense")
    assert bad.status_code == 400 and "invalid cursor" in bad.json()["error"]
    assert (await api.get("/v1/hooks", headers={"Authorization": "Bearer no"})).status_code == 401
    for run in runs:
        await run.cancel()


async def test_the_timeline_shows_waits_and_a_step_that_failed_for_good() -> None:
    from runtime.errors import WorkflowFailedError
    from tests.engine import workflows as wf

    async with Emulator(
        modules=["tests.engine.workflows"], world="memory", virtual_time=True
    ) as emu:
        slept = await emu.runtime_client.start(wf.sleep_then_step)
        assert await slept.result(timeout=20) == 42
        failed = await emu.runtime_client.start(wf.step_failure_uncaught)
        with pytest.raises(WorkflowFailedError):
            await failed.result(timeout=20)
        waited, broke = await slept.timeline(), await failed.timeline()
    [wait] = waited["waits"]
    assert at(wait["resume_at"]) <= at(wait["completed_at"])
    [step] = waited["steps"]
    assert step["status"] == "completed" and at(step["created_at"]) >= at(wait["completed_at"])
    [step] = broke["steps"]
    assert step["status"] == "failed" and step["ended_at"] is not None
    [attempt] = step["attempts"]
    assert attempt["outcome"] == "failed" and attempt["error_type"].endswith("ConnectionResetError")
    assert attempt["retry_at"] is None
