"""One presentation (runtime/describe.py) behind `Run.events()`, the HTTP run API and the CLI.

A run that retries a step, fans out, streams and waits on a hook is looked at through
`Run.events()`/`Run.timeline()` and the HTTP API on the same World: the dicts are the same.
The CLI side (`runs show --json`, `runs events --json`, `hooks list --json`, `runs streams`)
is compared on a deployed stack in tests/test_cli_inspect.py, the web UI's use of the same
shapes in tests/browser.
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
from runtime.describe import REDACTED, event_json, iso, run_summary, timeline
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
    assert hook["received"] == 0
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
        served_events = served["events"]
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
    assert len(hook_row["received_at"]) == 1 and hook_row["disposed_at"] is not None
    assert at(hook_row["created_at"]) <= at(hook_row["received_at"][0])
    assert at(hook_row["received_at"][0]) <= at(hook_row["disposed_at"])
    assert served["started_at"] == served_events[0]["created_at"]  # run_created
    assert served["ended_at"] == served_events[-1]["created_at"]  # run_completed
    made = sorted([*served["steps"], *served["waits"], *served["hooks"]], key=lambda r: r["seq"])
    assert [r.get("step_name", "hook").rsplit(":", 1)[-1] for r in made] == [
        "flaky", "pack", "label", "report", "hook"
    ]  # fmt: skip
    for row in made:
        assert served_events[row["seq"]]["type"] in ("step_created", "hook_created")
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


async def test_decrypted_hook_created_never_shows_the_token_or_the_webhook_secret(
    emu: Emulator, api: httpx.AsyncClient
) -> None:
    """Decrypting shows a hook's metadata and webhook header, but its token and webhook
    secret are bearer secrets: `Run.events()` and `?decrypt=true` show `REDACTED`. Between
    its two payloads the hook is listed with one received."""
    token, secret = "redact-me:tok-7f3a", "whsec_redact-me-9c1d"
    run = await emu.runtime_client.start(obs.signed_hook, token, secret)
    await wait_for_live_hook(emu, run)
    await emu.runtime_client.resume_hook(token, "first")
    deadline = time.monotonic() + 20
    while not any(e["type"] == "hook_received" for e in await run.events(decrypt=False)):
        assert time.monotonic() < deadline, "the first payload was never recorded"
        await asyncio.sleep(0.02)
    [hook] = (await api.get("/v1/hooks")).json()["hooks"]
    assert (hook["run_id"], hook["workflow"], hook["received"]) == (run.run_id, "signed_hook", 1)

    served = (await api.get(f"/v1/runs/{run.run_id}/events?decrypt=true")).json()["events"]
    for events in (served, [event_json(e) for e in await run.events(decrypt=True)]):
        [created] = [e for e in events if e["type"] == "hook_created"]
        assert created["data"]["token"] == REDACTED
        assert created["data"]["webhook"]["secret"] == REDACTED
        assert created["data"]["webhook"]["header"]  # what to sign with stays visible
        assert created["data"]["metadata"] == {"for": "redaction"}
        rest = [e for e in events if e["type"] != "run_created"]  # the input holds both
        assert token not in str(rest) and secret not in str(rest)
    await emu.runtime_client.resume_hook(token, "second")  # the token still works
    assert await run.result(timeout=20) == ["first", "second"]


def test_the_timeline_of_waits_hooks_a_conflict_and_a_step_in_flight() -> None:
    """Hand-made logs: every row kind, delivery times, a back-off, what stays open."""
    from runtime.engine.events import Event

    def event(seq: int, type: str, t: float, key: str | None = None, **attrs: object) -> Event:
        return Event(type, f"evt_{seq}", t, key, attrs, seq=seq)

    log = [
        event(0, "run_created", 100.0, workflow_name="wf"),
        event(1, "wait_created", 101.0, "wait_1", resume_at=105.0),
        event(2, "wait_completed", 105.2, "wait_1"),
        event(3, "hook_created", 106.0, "hook_2"),
        event(4, "hook_received", 107.0, "hook_2"),
        event(5, "hook_received", 108.0, "hook_2"),
        event(6, "hook_disposed", 108.5, "hook_2"),
        event(7, "hook_conflict", 108.6, "hook_3", message="token tok_12345678 is held"),
        event(8, "step_created", 109.0, "step_4", step_name="m:slow"),
        event(9, "step_started", 109.1, "step_4", attempt=1),
        event(10, "step_retrying", 109.5, "step_4", attempt=1, step_name="m:slow",
              error_type="builtins.OSError", retry_at=110.5),
    ]  # fmt: skip
    shown = timeline(log)
    assert (shown["started_at"], shown["ended_at"]) == (iso(100.0), None)
    [wait] = shown["waits"]
    assert wait == {
        "wait_id": "wait_1",
        "seq": 1,
        "created_at": iso(101.0),
        "resume_at": iso(105.0),
        "completed_at": iso(105.2),
    }
    hook, conflict = shown["hooks"]
    assert hook["received_at"] == [iso(107.0), iso(108.0)]
    assert (hook["seq"], hook["disposed_at"], hook["conflict"]) == (3, iso(108.5), None)
    assert conflict["conflict"] == "token tok_12345678 is held" and conflict["received_at"] == []
    [step] = shown["steps"]
    assert (step["seq"], step["status"], step["ended_at"]) == (8, "retrying", None)
    [attempt] = step["attempts"]
    assert attempt == {
        "attempt": 1,
        "started_at": iso(109.1),
        "ended_at": iso(109.5),
        "outcome": "retrying",
        "error_type": "builtins.OSError",
        "retry_at": iso(110.5),  # the back-off: from ended_at to retry_at
    }
    ended = timeline([*log, event(11, "run_cancelled", 110.0)])
    assert ended["ended_at"] == iso(110.0) and ended["steps"][0]["ended_at"] is None
