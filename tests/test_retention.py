"""Retention of ended runs (runtime/engine/retention.py), on the memory and the embedded moto
Worlds: a sweep keeps the N newest ended runs and every live one (and an ended child of a live
parent), purges the rest through `World.purge_run`, and a late or duplicate message for a
purged run is dropped with a log line without bringing any of it back. The listing (the run
API the web UI and `steplane runs list` read) simply no longer shows purged runs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.http import create_app
from local_emulator import Emulator
from runtime import resume_hook, start
from runtime.engine.events import RunStatus
from runtime.engine.messages import StepMessage, WorkflowMessage
from runtime.engine.retention import Retention, SweepResult
from runtime.world import World
from tests.engine import flow_workflows as fw
from tests.engine import workflows as wf

KEY = "retention-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
WORLDS = ["memory", "aws"]
MODULES = ["tests.engine.workflows", "tests.engine.flow_workflows"]


@pytest.fixture(params=WORLDS)
async def emu(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    # Sweeps are made by the tests (`sweep_retention`); the periodic one is kept out of the way.
    options = {"retain_runs": 3, "retain_every": 3600.0}
    async with Emulator(world=request.param, modules=MODULES, **options) as e:
        yield e


async def _listed(world: World) -> list[str]:
    page = await world.runs.list(limit=100)
    assert page.next_cursor is None
    return [record.run_id for record in page.items]


async def _leftovers(world: World, run_id: str) -> dict[str, object]:
    """What the World still holds of a run (empty for a purged one)."""
    left: dict[str, object] = {
        "record": await world.runs.get(run_id),
        "log": await world.log.read(run_id),
        "streams": await world.streams.names(run_id),
    }
    if world.name == "memory":
        left["blobs"] = [k for k in world.blobs._blobs if k.startswith(f"{run_id}/")]  # type: ignore[attr-defined]
    else:
        s3 = world.aws.s3  # type: ignore[attr-defined]
        listed = s3.list_objects_v2(Bucket=world.config.bucket, Prefix=f"{run_id}/")  # type: ignore[attr-defined]
        left["blobs"] = [o["Key"] for o in listed.get("Contents", [])]
    return {name: value for name, value in left.items() if value}


async def _sweep(emu: Emulator, purges: int) -> SweepResult:
    """Sweep until `purges` runs were purged: `result()` may return (it polls the record) a
    moment before the host announces the ending that retention counts. The result of the
    last sweep, with `purged` and `listed` over all of them."""
    total, listed = 0, False
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        result = await emu.sweep_retention()
        total, listed = total + result.purged, listed or result.listed
        if total >= purges or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.01)
    result.purged, result.listed = total, listed
    return result


async def _hook_ready(world: World, token: str) -> None:
    deadline = asyncio.get_running_loop().time() + 20
    while await world.hooks.lookup(token) is None:
        assert asyncio.get_running_loop().time() < deadline, "the hook was never created"
        await asyncio.sleep(0.01)


async def _ended_runs(count: int) -> list[str]:
    """`count` ended runs, oldest first: a stream, a large payload (a blob), attributes."""
    ids = []
    for i in range(count):
        run = await start(wf.streaming, 2) if i % 2 else await start(wf.round_trip, "x" * 70_000)
        await run.result(timeout=30)
        ids.append(run.run_id)
    return ids


async def test_a_sweep_keeps_the_newest_ended_runs_and_every_live_one(emu: Emulator) -> None:
    live = await start(wf.hold_hook, "retention-token")
    ended = await _ended_runs(6)
    assert await _leftovers(emu.world, ended[0])  # a log, a record, a stream or a blob
    result = await _sweep(emu, 3)
    assert (result.ended, result.purged, result.held, result.listed) == (3, 3, 0, True)
    assert set(await _listed(emu.world)) == {live.run_id, *ended[3:]}
    for run_id in ended[:3]:
        assert await _leftovers(emu.world, run_id) == {}, run_id
    for run_id in ended[3:]:
        assert (await emu.world.runs.get(run_id)).status == RunStatus.COMPLETED  # type: ignore[union-attr]
        assert await emu.world.log.read(run_id)
    # The live run was left whole: its hook still routes to it and it completes.
    await _hook_ready(emu.world, "retention-token")
    await resume_hook("retention-token", {"ok": 1})
    assert await live.result(timeout=30) == {"ok": 1}
    # Now 4 ended runs: the one that ended longest ago goes; the one that was live ended last.
    again = await _sweep(emu, 1)
    assert again.purged == 1 and not again.listed  # endings tracked: no listing
    assert set(await _listed(emu.world)) == {live.run_id, *ended[4:]}


async def test_an_ended_child_of_a_live_parent_is_kept(emu: Emulator) -> None:
    parent = await start(fw.parent_then_hook, "parent-token")
    deadline = asyncio.get_running_loop().time() + 20
    child = None
    while child is None and asyncio.get_running_loop().time() < deadline:
        page = await emu.world.runs.list(limit=100)
        child = next((r for r in page.items if r.parent_run_id == parent.run_id), None)
        if child is None or not child.status.is_terminal:
            child = None
            await asyncio.sleep(0.02)
    assert child is not None, "the child never ended"
    await _ended_runs(4)  # the child is now the oldest ended run, beyond the 3 newest
    result = await _sweep(emu, 1)
    assert (result.ended, result.purged, result.held) == (3, 1, 1)
    assert await emu.world.runs.get(child.run_id) is not None
    await resume_hook("parent-token", "go")
    assert (await parent.result(timeout=30))[1] == "go"
    await _sweep(emu, 1)  # the parent ended: now its child may go too
    assert await emu.world.runs.get(child.run_id) is None


async def test_a_duplicate_message_for_a_purged_run_is_dropped_with_a_log_line(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    run = await start(wf.three_steps, 1)
    await run.result(timeout=30)
    codec = await emu.host.codecs.get(run.run_id)
    record = await emu.world.runs.get(run.run_id)
    assert record is not None
    created = next(e for e in await emu.world.log.read(run.run_id) if e.type == "step_created")
    await _ended_runs(3)
    assert (await _sweep(emu, 1)).purged == 1
    step_name = str(created.attrs["step_name"])
    messages = [
        WorkflowMessage(run.run_id, record.workflow_name).body(),
        StepMessage(run.run_id, str(created.correlation_id), step_name, 0).body(),
    ]
    caplog.set_level(logging.INFO, logger="steplane.host")
    for cached in (False, True):
        # A host that still holds the run's data key (another process, in `--reload`) must
        # not bring the run back either: the writes at an empty log's head refuse it.
        if cached:
            emu.host.codecs.remember(codec)
        for body in messages:
            caplog.clear()
            verdict = await emu.host.process(dict(body), receive_count=2)
            assert verdict.outcome == "rejected" and verdict.ended is None, (cached, body)
            assert f"dropped a {body['kind']} message of run {run.run_id}" in caplog.text
            assert await _leftovers(emu.world, run.run_id) == {}, (cached, body)
    assert run.run_id not in await _listed(emu.world)


async def test_a_late_message_through_the_queue_is_settled_and_nothing_comes_back(
    emu: Emulator,
) -> None:
    run = await start(wf.sequential, 2)
    await run.result(timeout=30)
    record = await emu.world.runs.get(run.run_id)
    assert record is not None
    await _ended_runs(3)
    await _sweep(emu, 1)
    key = f"workflow:{run.run_id}"
    before = emu.invocation_counts[key]
    await emu.world.queue.send(WorkflowMessage(run.run_id, record.workflow_name).body())
    deadline = asyncio.get_running_loop().time() + 10
    while emu.invocation_counts[key] == before:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # a retry would come back after 0.2 s (the emulator's backoff)
    assert emu.invocation_counts[key] == before + 1  # settled at once: deleted, not retried
    assert "RunNotFoundError" in emu.errors[-1] and run.run_id in emu.errors[-1]
    assert emu.world.queue.dead_letters == []
    assert await _leftovers(emu.world, run.run_id) == {}


async def test_the_run_api_does_not_show_purged_runs(emu: Emulator) -> None:
    ended = await _ended_runs(4)
    await _sweep(emu, 1)
    app = create_app(emu.world, signing_secret="s", api_keys=[KEY], decrypt_api_keys=[KEY])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://steplane") as http:
        listed = (await http.get("/v1/runs", headers=AUTH)).json()["runs"]
        assert [r["run_id"] for r in listed] == ended[:0:-1]  # newest first, the oldest gone
        assert (await http.get(f"/v1/runs/{ended[0]}", headers=AUTH)).status_code == 404
        assert (await http.get(f"/v1/runs/{ended[1]}", headers=AUTH)).status_code == 200


async def test_purge_run_refuses_a_live_run_and_ignores_an_unknown_one(emu: Emulator) -> None:
    live = await start(wf.hold_hook, "live-token")
    await _hook_ready(emu.world, "live-token")
    with pytest.raises(ValueError, match="only ended runs"):
        await emu.world.purge_run(live.run_id)
    assert not await emu.host.purge_run(live.run_id)  # the host's answer: not purged
    await emu.world.purge_run("run_00000000000000000000000000")
    assert await emu.world.runs.get(live.run_id) is not None
    await resume_hook("live-token", 1)
    assert await live.result(timeout=30) == 1


async def test_the_first_sweep_finds_the_runs_that_ended_before_it(emu: Emulator) -> None:
    """Runs that ended where this process could not see it (before retention started, or
    in another process) are found by listing, the oldest created first."""
    ended = await _ended_runs(5)
    retention = Retention(emu.world, emu.host, keep=2)  # never started: saw no ending
    result = await retention.sweep()
    assert (result.listed, result.purged, result.ended) == (True, 3, 2)
    assert set(await _listed(emu.world)) == set(ended[3:])
    assert (await retention.sweep()).listed is False  # the next one does not list


def test_retain_runs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="retain_runs"):
        Emulator(world="memory", retain_runs=0)


@pytest.mark.parametrize(
    ("flags", "kept"), [([], 1000), (["--retain-runs", "50"], 50), (["--retain-runs", "0"], None)]
)
def test_steplane_dev_retains_1000_ended_runs_unless_told(monkeypatch, flags, kept) -> None:
    from click.testing import CliRunner

    from local_emulator import cli

    seen: dict[str, object] = {}

    async def serve(*args: object, **options: object) -> None:
        seen.update(options)

    monkeypatch.setattr(cli, "serve_dev", serve)
    result = CliRunner().invoke(cli.cli, ["dev", "tests.engine.workflows", *flags])
    assert result.exit_code == 0, result.output
    assert seen["retain_runs"] == kept


async def test_trim_lets_moto_free_a_purged_runs_items() -> None:
    """moto tracks every model object it makes; `trim` forgets those nothing else holds, so
    a purged run's items (and the copies every read made) are freed, and live ones stay."""
    from moto.dynamodb.models.dynamo_type import Item

    from local_emulator.aws.embedded import trim

    async with Emulator(world="aws", modules=MODULES, retain_runs=1) as emu:
        ended = await _ended_runs(3)
        await _sweep(emu, 2)

        def tracked(run_id: str) -> int:
            return sum(run_id in repr(item.hash_key) for item in Item.instances_tracked)

        assert tracked(ended[0]) > 0  # before the trim: still in moto's lists
        trim(emu.world)  # type: ignore[arg-type]
        assert tracked(ended[0]) == 0 and tracked(ended[1]) == 0
        assert tracked(ended[2]) > 0  # the kept run's items are live: tracked still
        assert len(await emu.world.log.read(ended[2])) > 0


async def test_a_purged_runs_late_messages_are_settled_over_the_lambda_handler(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The production path: SQS delivers a purged run's workflow and step messages again (at
    least once) to the Lambda handler, which settles them (no batch item failure, so no
    retry and no dead letter) and writes nothing."""
    from adapters import lambda_handler
    from adapters.memory import MemoryWorld
    from tests.conftest import installed
    from tests.test_lambda_handler import sqs_event, sqs_record

    monkeypatch.setenv("STEPLANE_API_KEYS", "lambda-key")
    world = MemoryWorld()
    async with installed(world):
        run = await start(wf.three_steps, 1)
        first = await world.queue.receive(max_messages=10)
        answer = await asyncio.to_thread(lambda_handler.handler, sqs_event(first), None)
        assert answer["batchItemFailures"] == []
        assert await run.result(timeout=10) == 112  # 1 + 1 + 10 + 100, inline
        record = await world.runs.get(run.run_id)
        assert record is not None
        created = next(e for e in await world.log.read(run.run_id) if e.type == "step_created")
        await world.purge_run(run.run_id)
        bodies = [
            WorkflowMessage(run.run_id, record.workflow_name).body(),
            StepMessage(
                run.run_id, str(created.correlation_id), created.attrs["step_name"], 0
            ).body(),
        ]
        records = [sqs_record(json.dumps(body), receive_count=2) for body in bodies]
        caplog.set_level(logging.INFO, logger="steplane.host")
        answer = await asyncio.to_thread(lambda_handler.handler, {"Records": records}, None)
        assert answer["batchItemFailures"] == []  # settled: SQS deletes them
        assert caplog.text.count(f"of run {run.run_id}") >= 2
        assert await _leftovers(world, run.run_id) == {}
