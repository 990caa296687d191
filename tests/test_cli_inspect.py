"""`steplane hooks list`, `steplane runs streams`, `runs show/events --json` and `steplane web`
as a user runs them: against a deployed stack on a moto server (`STEPLANE_STACK`), whose
workflows an emulator in this process executes.

The CLI prints what the HTTP API serves for the same World (runtime/describe.py behind both).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.aws import AwsWorld
from adapters.http import create_app
from local_emulator import Emulator
from runtime.describe import event_json
from runtime.world import RealClock
from tests import observed_workflows as obs
from tests.conftest import MotoServer, aws_server_world
from tests.test_cli import STEPLANE
from tests.test_cli import steplane as steplane_in
from tests.test_cli_repair import steplane

KEY = "inspect-key"


@pytest.fixture
async def stack(moto_server: MotoServer) -> AsyncIterator[tuple[AwsWorld, Emulator]]:
    world = await aws_server_world(RealClock())
    try:
        async with Emulator(world=world, modules=["tests.observed_workflows"]) as emu:
            yield world, emu
    finally:
        await world.close()


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


async def cli(world: AwsWorld, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in another process, without blocking this process's emulator."""
    return await asyncio.to_thread(steplane, world, *args)


async def started_with_live_hook(world: AwsWorld, emu: Emulator, order: str):
    run = await emu.runtime_client.start(obs.observed, order)
    deadline = time.monotonic() + 30
    while not (await world.hooks.list()).items:
        assert time.monotonic() < deadline, "the run never created its hook"
        await asyncio.sleep(0.05)
    return run


async def test_cli_shows_what_the_api_serves_on_a_deployed_stack(stack) -> None:
    world, emu = stack
    run = await started_with_live_hook(world, emu, "o-7")
    listed = json.loads(ok(await cli(world, "hooks", "list", "--json")))
    [hook] = listed["hooks"]
    assert (hook["run_id"], hook["workflow"], hook["received"]) == (run.run_id, "observed", 0)
    assert hook["token_fingerprint"].startswith("tok_") and "observe:o-7" not in str(listed)
    assert listed["next_cursor"] is None

    chunks = ok(await cli(world, "runs", "streams", run.run_id, "--json"))
    assert [json.loads(line) for line in chunks.splitlines()] == [
        {"index": 0, "data": {"part": 0, "order": "o-7"}},
        {"index": 1, "data": {"part": 1, "order": "o-7"}},
        {"index": 2, "data": {"part": 2, "order": "o-7"}},
        {"index": 3, "data": {"$t": "bytes", "v": "AGVuZA=="}},
    ]
    audits = await asyncio.to_thread(
        world.aws.s3.list_objects_v2, Bucket=world.config.bucket, Prefix=f"audit/{run.run_id}/"
    )
    assert audits["KeyCount"] == 1  # reading the chunks left an audit record

    ok(await cli(world, "hooks", "resume", "observe:o-7", '{"ok": true}'))
    result = await run.result(timeout=30)

    app = create_app(world, signing_secret="s", api_keys=[KEY], decrypt_api_keys=[KEY])
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://s", headers=headers) as c:
        served_run = (await c.get(f"/v1/runs/{run.run_id}")).json()
        served_timeline = (await c.get(f"/v1/runs/{run.run_id}/timeline")).json()
        served_events = (await c.get(f"/v1/runs/{run.run_id}/events?decrypt=true")).json()
    shown = json.loads(ok(await cli(world, "runs", "show", run.run_id, "--json", "--decrypt")))
    assert shown == {
        **served_run,
        "input": {"args": ["o-7"], "kwargs": {}},
        "outcome": result,  # plain JSON types: tagged JSON is the value itself
        "steps": served_timeline["steps"],
    }
    events = json.loads(ok(await cli(world, "runs", "events", run.run_id, "--json", "--decrypt")))
    assert events == served_events["events"] == [event_json(e) for e in await run.events()]


@pytest.mark.slow  # the --json shapes are checked by the test above; these are the tables
async def test_cli_tables_and_a_missing_stream_on_a_deployed_stack(stack) -> None:
    world, emu = stack
    run = await started_with_live_hook(world, emu, "o-8")
    table = ok(await cli(world, "hooks", "list"))
    assert run.run_id in table and "observed" in table and "observe:o-8" not in table
    missing = await cli(world, "runs", "streams", run.run_id, "--namespace", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"Error: run {run.run_id} has no stream 'nope' (its streams: default)"
    ]
    await run.cancel()
    assert (await world.hooks.list()).items == []  # the hook went with its run


def test_inspection_errors_are_one_line(tmp_path: Path) -> None:
    """Without a World, or with a bad argument: one line each."""
    done = steplane_in("hooks", "list", cwd=tmp_path)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: ConfigurationError: no World to talk to")
    web = steplane_in("web", cwd=tmp_path)
    assert web.stderr.strip() == (
        "Error: ConfigurationError: no `steplane dev` running in this directory: start "
        "`steplane dev MODULE` first"
    )
    bad = steplane_in("runs", "streams", "run_x", "--namespace", "", cwd=tmp_path)
    assert bad.returncode == 2 and "namespace" in bad.stderr


async def test_follow_prints_chunks_as_they_come_until_the_stream_closes(stack) -> None:
    world, emu = stack
    run = await emu.runtime_client.start(obs.trickling, 4, 0.3)
    follow = asyncio.create_task(
        cli(world, "runs", "streams", run.run_id, "--namespace", "progress", "--follow", "-s", "1")
    )
    assert await run.result(timeout=30) == 4
    done = await asyncio.wait_for(follow, 60)
    assert ok(done).splitlines() == ["[1] part 1", "[2] part 2", "[3] part 3"]  # resumed at 1
    assert "following stream 'progress'" in done.stderr
    assert "3 chunk(s); the stream has ended" in done.stderr


def test_web_prints_the_url_of_the_running_dev(tmp_path: Path) -> None:
    """`steplane web` finds `steplane dev` through its state file, as every command does (this
    process stands in for the dev process: the file names a live pid)."""
    state = tmp_path / ".steplane" / "dev.json"
    state.parent.mkdir()
    state.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "endpoint_url": "http://127.0.0.1:1",
                "prefix": "steplane-dev",
                "region": "us-east-1",
                "api_url": "http://127.0.0.1:8787",
                "api_key": "k",
            }
        )
    )
    done = steplane_in("web", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "http://127.0.0.1:8787/\n", "")

    opened = tmp_path / "opened.txt"  # `--open` hands the URL to $BROWSER (webbrowser's rule)
    browser = f"{sys.executable} -c \"import sys; open('{opened}', 'w').write(sys.argv[1])\" %s"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLANE_")}
    done = subprocess.run(
        [STEPLANE, "web", "--open"],
        cwd=tmp_path,
        env=env | {"BROWSER": browser},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "http://127.0.0.1:8787/\n"
    assert opened.read_text() == "http://127.0.0.1:8787/"
