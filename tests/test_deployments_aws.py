"""Deployment pinning on a moto server, the issue's done-when: two host processes hold two
versions of one workflow module (v1, v2; tests/deploy_versions.py), each playing its Lambda
version with the event source mapping on its deployment's own queue
(local_emulator/version_host.py, the production `lambda_handler` inside). Runs started before
v2 is deployed (sleeping, waiting on a hook, mid-fan-out) complete on v1 with v1's results;
runs started after complete on v2; nothing diverges; and once v1's runs have ended,
`deploy --prune` removes v1's queue and mapping (and keeps them while it still has runs).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from infra.deploy import deploy
from local_emulator.cli import cli
from runtime import Client
from runtime.config import world_from_env
from runtime.deployment import set_deployment_id
from runtime.engine.upgrade import live_runs_by_deployment

from . import deploy_versions

STACK = "pins"
MODULE = "pinwf"
REPO = Path(__file__).resolve().parent.parent
READY_SECONDS = 60


@pytest.fixture
def endpoint(deploy_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", deploy_endpoint)
    monkeypatch.setenv("STEPLANE_STACK", STACK)
    monkeypatch.delenv("STEPLANE_WORLD", raising=False)
    return deploy_endpoint


def deploy_version(url: str, deployment: str, *, prune: bool = False) -> Any:
    """`steplane deploy` of `deployment` (the function itself stays out: moto cannot run it;
    our host processes play its versions)."""
    return deploy(
        STACK,
        endpoint_url=url,
        vendor=False,
        progress=lambda _: None,
        parameters={"WithFunction": "false"},
        deployment_id=deployment,
        prune=prune,
    )


class VersionHost:
    """One `version_host` process with `code` on its path."""

    def __init__(self, deployment: str, code: Path, logs: Path) -> None:
        self.deployment = deployment
        self.log = logs / f"host-{deployment}.log"
        env = {
            **os.environ,
            "STEPLANE_WORLD": "aws",
            "STEPLANE_MODULES": MODULE,
            "STEPLANE_LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join([str(code), str(REPO)]),
        }
        command = [sys.executable, "-m", "steplane.local_emulator.version_host"]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [*command, "--deployment", deployment, "--label", deployment],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=code,
            )

    async def serving(self) -> None:
        """Wait until it receives from its deployment's queue."""
        deadline = time.monotonic() + READY_SECONDS
        while "serving" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"host {self.deployment} never started serving"
            await asyncio.sleep(0.05)

    def handled(self, run_id: str) -> bool:
        return run_id in self.log.read_text()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def until(predicate: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def count(client: Client, run_id: str, event_type: str) -> int:
    return sum(e["type"] == event_type for e in await client.get_run(run_id).events())


async def steplane_cli(*args: str) -> Result:
    """`steplane ARGS` in this process (its World: the one `STEPLANE_STACK` names)."""
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


def queue_names(url: str) -> set[str]:
    sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1")
    return {u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", [])}


async def test_runs_finish_on_the_deployment_that_started_them(
    endpoint: str, tmp_path: Path
) -> None:
    dirs = deploy_versions.write_versions(tmp_path / "code", MODULE)
    gate = tmp_path / "gate"
    token = f"approve-{uuid.uuid4().hex}"
    hosts: list[VersionHost] = []
    deploy_version(endpoint, "v1")
    world = world_from_env()
    client = Client(world)
    try:
        # Both processes start now (v2's waits for its queue, as its code may be ready first).
        hosts += [VersionHost(version, dirs[version], tmp_path) for version in ("v1", "v2")]
        await hosts[0].serving()
        v1 = deploy_versions.load(dirs["v1"], MODULE)  # what this process starts runs with
        set_deployment_id("v1")  # a client configured for the newest deployment: v1
        sleeping = await client.start(v1.pinned_sleeper, "ann", 8)
        hooked = await client.start(v1.pinned_hook, token)
        fanning = await client.start(v1.pinned_fanout, str(gate), 3)
        movable = await client.start(v1.pinned_hook, f"{token}-moved")  # replays on v2
        diverging = await client.start(v1.pinned_diverger, "cy", 3600)  # does not
        await until(lambda: count(client, sleeping.run_id, "wait_created"), "the sleep")
        for run in (hooked, movable):
            await until(lambda run=run: count(client, run.run_id, "hook_created"), "a hook")
        await until(lambda: count(client, diverging.run_id, "wait_created"), "the diverger")

        async def in_flight() -> bool:  # all three queued, each held by v1 at its gate
            created = await count(client, fanning.run_id, "step_created")
            return created == 3 and hosts[0].log.read_text().count("step ") == 3

        await until(in_flight, "the fan-out")

        deployed = await asyncio.to_thread(
            deploy_version, endpoint, "v2", prune=True
        )  # v1 has live runs: kept
        assert deployed.deployments == ["v1", "v2"] and deployed.pruned == []
        assert {"pins-work-v1", "pins-work-v2"} <= queue_names(endpoint)
        await hosts[1].serving()
        v2 = deploy_versions.load(dirs["v2"], MODULE)
        set_deployment_id("v2")
        fresh = await client.start(v2.pinned_sleeper, "bob", 0.5)
        assert await count(client, sleeping.run_id, "wait_completed") == 0  # still asleep

        # v2's code is what this process has loaded now: check and move v1's runs onto it.
        checked = await steplane_cli(
            "replay-check", "--deployment", "v2", "--module", MODULE, "--json",
            "--runs", movable.run_id, "--runs", diverging.run_id,
        )  # fmt: skip
        assert checked.exit_code == 1, checked.output  # one would diverge
        reports = {r["run_id"]: r for r in json.loads(checked.stdout)}
        assert reports[movable.run_id]["ok"] and not reports[diverging.run_id]["ok"]
        assert reports[diverging.run_id]["command_id"].startswith("step_1")
        to_v2 = ("--to", "v2", "--module", MODULE)
        refused = await steplane_cli("runs", "upgrade", diverging.run_id, *to_v2)
        assert refused.exit_code == 1 and "not upgraded" in refused.output
        assert "would diverge on deployment v2" in refused.output
        moved = await steplane_cli("runs", "upgrade", movable.run_id, *to_v2, "--json")
        assert moved.exit_code == 0, moved.output
        assert json.loads(moved.stdout)["deployment"] == "v2"
        await client.resume_hook(f"{token}-moved", "late")
        assert await movable.result(timeout=60) == {"got": "late", "version": "v2"}
        await client.cancel(diverging.run_id)  # v1 has no run left once the others end

        gate.touch()
        await client.resume_hook(token, {"ok": True})
        results = {
            name: await client.get_run(run.run_id).result(timeout=60)
            for name, run in {
                "sleeping": sleeping,
                "hooked": hooked,
                "fanning": fanning,
                "fresh": fresh,
            }.items()
        }
        assert results["sleeping"] == {
            "a": "v1 hello ann",
            "b": "v1:V1 HELLO ANN",
            "version": "v1",
        }
        assert results["hooked"] == {"got": {"ok": True}, "version": "v1"}
        assert results["fanning"] == {"parts": [f"v1-part{i}" for i in range(3)], "version": "v1"}
        assert results["fresh"] == {"a": "v2 hello bob", "b": "v2:V2 HELLO BOB", "version": "v2"}
        v1_host, v2_host = hosts
        for run in (sleeping, hooked, fanning):
            assert v1_host.handled(run.run_id) and not v2_host.handled(run.run_id)
            assert (await run.record()).deployment == "v1"
        assert v2_host.handled(fresh.run_id) and not v1_host.handled(fresh.run_id)
        assert (await fresh.record()).deployment == "v2"
        assert await live_runs_by_deployment(world) == {}

        pruned = await asyncio.to_thread(deploy_version, endpoint, "v2", prune=True)
        assert pruned.pruned == ["v1"] and pruned.deployments == ["v2"]
        names = queue_names(endpoint)
        assert "pins-work-v1" not in names and "pins-work-v2" in names
    finally:
        set_deployment_id(None)
        for host in hosts:
            host.stop()
        await world.close()
