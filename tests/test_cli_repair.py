"""`steplane runs repair` and `steplane dlq list|redrive` as a user runs them, against the AWS
World on a moto server (no consumer: the test looks at what the commands leave in the queues)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.aws import AwsWorld
from runtime import start
from runtime.world import RealClock
from tests.conftest import MotoServer, aws_server_world, installed
from tests.engine import workflows as wf
from tests.test_cli import STEPLANE


@pytest.fixture
async def world(moto_server: MotoServer) -> AsyncIterator[AwsWorld]:
    async with installed(await aws_server_world(RealClock())) as built:
        yield built


def steplane(world: AwsWorld, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLANE_")}
    env |= {
        "STEPLANE_WORLD": "aws",
        "STEPLANE_STACK": world.config.prefix,  # server_stack_world names it so
        "AWS_ENDPOINT_URL": str(world.config.endpoint_url),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": world.config.region,
        "COLUMNS": "200",  # rich wraps tables to the terminal width
    }
    return subprocess.run([STEPLANE, *args], capture_output=True, text=True, timeout=60, env=env)


def sqs(world: AwsWorld) -> Any:
    return world.aws.sqs


def drain(world: AwsWorld, url: str) -> list[dict[str, Any]]:
    """Receive and delete everything visible in a queue (bounded)."""
    bodies = []
    for _ in range(20):
        messages = (
            sqs(world).receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        )
        if not messages:
            return bodies
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            sqs(world).delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


async def test_repair_resends_the_lost_first_message_of_a_run(world: AwsWorld) -> None:
    run = await start(wf.addition, 1, 2)
    assert [b["run_id"] for b in drain(world, world.config.queue)] == [run.run_id]  # lost

    done = steplane(world, "runs", "repair", run.run_id)
    assert done.returncode == 0, done.stderr
    assert f"{run.run_id} (pending): re-sent 1 message(s)" in done.stdout
    (resent,) = drain(world, world.config.queue)
    assert resent["run_id"] == run.run_id and resent["kind"] == "workflow"


async def test_repair_stalled_rewakes_every_stalled_run_and_reports_counts(world) -> None:
    runs = [await start(wf.addition, n, n) for n in range(3)]
    drain(world, world.config.queue)

    done = steplane(world, "runs", "repair", "--stalled", "--stall-seconds", "0", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"checked": 3, "rewoken": 3, "errors": 0}
    assert sorted(b["run_id"] for b in drain(world, world.config.queue)) == sorted(
        r.run_id for r in runs
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("runs", "repair"), "give either RUN_ID or --stalled"),
        (("runs", "repair", "run_x", "--stalled"), "give either RUN_ID or --stalled"),
        (("runs", "repair", "run_x", "--stall-seconds", "5"), "--stall-seconds goes with"),
        (("runs", "repair", "run_nosuchrun"), "no run 'run_nosuchrun'"),
    ],
)
async def test_bad_repair_requests_are_one_clear_line(world, args, error) -> None:
    done = steplane(world, *args)
    assert done.returncode != 0
    assert error in done.stderr
    assert "Traceback" not in done.stderr


async def test_dlq_list_shows_dead_letters_with_their_runs_and_redrive_moves_them(world) -> None:
    run = await start(wf.addition, 4, 5)
    drain(world, world.config.queue)
    dead = world.config.dead_letter_queue  # the stack gives URLs
    body = {"v": 1, "kind": "workflow", "run_id": run.run_id, "workflow": "gone:wf"}
    sqs(world).send_message(QueueUrl=dead, MessageBody=json.dumps(body))
    sqs(world).send_message(QueueUrl=dead, MessageBody="not json at all")

    listed = steplane(world, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = sorted(json.loads(listed.stdout), key=lambda r: r["kind"])
    assert [(r["kind"], r["run_id"], r["run_status"]) for r in rows] == [
        ("malformed", None, None),
        ("workflow", run.run_id, "pending"),
    ]
    assert rows[1]["target"] == "gone:wf"
    table = steplane(world, "dlq", "list")
    assert run.run_id in table.stdout and "gone:wf" in table.stdout

    moved = steplane(world, "dlq", "redrive")
    assert moved.returncode == 0, moved.stderr
    assert "redrove 2 message(s)" in moved.stdout
    assert drain(world, world.config.dead_letter_queue) == []
    work = world.config.queue
    received = sqs(world).receive_message(QueueUrl=work, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == sorted([json.dumps(body), "not json at all"])
    assert "no dead letters" in steplane(world, "dlq", "list").stdout


async def test_runs_list_filters_by_attribute_and_fork_errors_are_one_line(world) -> None:
    tagged, other = await start(wf.addition, 1, 2), await start(wf.addition, 3, 4)
    await world.runs.set_attributes(tagged.run_id, {"customer": "c-7"})
    await world.runs.set_attributes(other.run_id, {"customer": "c-8"})
    listed = steplane(world, "runs", "list", "--attr", "customer=c-7", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [tagged.run_id]
    forked = steplane(world, "runs", "fork", tagged.run_id, "--from-step", "2")
    assert forked.returncode == 1
    assert forked.stderr.strip().splitlines() == [
        f"Error: run {tagged.run_id} has no step 2 (its steps: none)"
    ]
