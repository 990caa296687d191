"""No run ever hangs on a message that cannot succeed: the function host's give-up policy
(runtime/engine/give_up.py), on the Lambda path (`adapters.lambda_handler.handler` fed real-shaped
SQS events) and on the emulator. Every poison case ends its run `failed` with a specific code
and a one-line reason, and innocent runs in the same batch complete."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from local_emulator import Emulator
from runtime import WorkflowFailedError, get_world, start, step, workflow
from runtime.engine.host import FunctionHost
from tests.conftest import installed
from tests.engine import workflows as wf
from tests.test_lambda_handler import LambdaDriver, call, sqs_record

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


class Killed(BaseException):
    """Models a host killed mid-step: it escapes everything, like a dead process."""


killed_attempts: list[int] = []


@step(max_retries=1)
async def exits(code: int) -> None:
    raise SystemExit(code)


@workflow
async def calls_exit() -> str:
    try:
        await exits(3)
    except Exception as error:  # the workflow sees a step failure it can handle
        return f"caught {error}"
    return "not reached"


@step(max_retries=2)
async def crashes_host() -> None:
    raise AssertionError("replaced by the test")


@workflow
async def crashing() -> None:
    await crashes_host()


async def _failure(run: Any, timeout: float = 20) -> WorkflowFailedError:
    with pytest.raises(WorkflowFailedError) as failure:
        await run.result(timeout=timeout)
    assert "\n" not in failure.value.message
    return failure.value


def _poison(run_id: str, case: str) -> dict[str, Any]:
    if case == "unknown-workflow":
        return {"v": 1, "kind": "workflow", "run_id": run_id, "workflow": "gone:wf"}
    if case == "unknown-step":
        return {"v": 1, "kind": "step", "run_id": run_id, "step_id": "s", "step": "gone:s"}
    return {"v": 1, "kind": "teleport", "run_id": run_id}  # malformed, naming a run


POISON = {
    "unknown-workflow": "unknown workflow 'gone:wf'",
    "unknown-step": "unknown step 'gone:s'",
    "malformed": "malformed message: unknown kind 'teleport'",
}


# --- the Lambda path ------------------------------------------------------------------------


@pytest.fixture
async def lambda_world(monkeypatch: pytest.MonkeyPatch) -> Any:
    from adapters.memory import MemoryWorld

    async with installed(MemoryWorld()) as built:
        yield built


@pytest.mark.parametrize("case", list(POISON))
async def test_lambda_poison_ends_its_run_and_spares_the_batch(lambda_world, case) -> None:
    victim = await start(wf.hold_hook, f"victim-{case}")
    innocent = [await start(wf.addition, i, 1) for i in range(2)]
    deliveries = await lambda_world.queue.receive(max_messages=10)
    records = [sqs_record(json.dumps(d.body), d.receive_count) for d in deliveries]
    poisoned = sqs_record(json.dumps(_poison(victim.run_id, case)))
    result = await call({"Records": [records[0], poisoned, *records[1:]]})
    assert result == {"batchItemFailures": []}  # settled at once, never retried
    failure = await _failure(victim, timeout=2)
    assert failure.code == "RUNTIME_ERROR"
    assert POISON[case] in failure.message
    assert [await run.result(timeout=2) for run in innocent] == [1, 2]


async def test_lambda_batch_with_a_step_raising_system_exit(lambda_world) -> None:
    async with LambdaDriver(virtual_time=True) as driver:
        exiting = await start(calls_exit)
        innocent = [await start(wf.three_steps, i) for i in range(3)]
        result = await exiting.result(timeout=20)
        assert result.startswith("caught step ") and "SystemExit: 3" in result
        assert [await run.result(timeout=20) for run in innocent] == [111, 112, 113]
        assert driver.world.queue.dead_letters == []


async def test_lambda_corrupted_log_item_fails_the_run(lambda_world) -> None:
    run = await start(wf.hold_hook, "corrupt-me")
    [delivery] = await lambda_world.queue.receive()
    assert (await call({"Records": [sqs_record(json.dumps(delivery.body))]})) == {
        "batchItemFailures": []
    }
    log = lambda_world.log._logs[run.run_id]  # tamper with the stored run_created payload
    log[0] = replace(log[0], payload=bytes(b ^ 1 for b in log[0].payload))
    from adapters import lambda_handler

    lambda_handler.get_host().forget_instances()  # a cold instance replays the log
    body = json.dumps({"v": 1, "kind": "workflow", "run_id": run.run_id, "workflow": "x"})
    body = body.replace('"x"', json.dumps(wf.hold_hook.__steplane_workflow__.name))
    assert (await call({"Records": [sqs_record(body)]})) == {"batchItemFailures": []}
    record = await lambda_world.runs.get(run.run_id)
    assert (record.status, record.error_code) == ("failed", "CORRUPTED_EVENT_LOG")


async def test_lambda_message_failing_every_delivery_ends_the_run(
    lambda_world, monkeypatch
) -> None:
    from runtime.engine.workflow_invocation import WorkflowInvocation

    async def broken(self: Any) -> None:
        raise ConnectionError("throttled")

    run = await start(wf.addition, 1, 2)
    monkeypatch.setattr(WorkflowInvocation, "run", broken)
    max_receives = lambda_world.queue.max_receives
    for receive in range(1, max_receives + 1):
        [delivery] = await lambda_world.queue.receive(max_messages=1, visibility_timeout=0)
        assert delivery.receive_count == receive
        result = await call({"Records": [sqs_record(json.dumps(delivery.body), receive)]})
        if receive < max_receives:
            assert result["batchItemFailures"], "retried until the last receive"
        else:
            assert result == {"batchItemFailures": []}
            await lambda_world.queue.delete(delivery)
    failure = await _failure(run, timeout=2)
    assert failure.code == "MAX_DELIVERIES_EXCEEDED"
    assert failure.message.endswith("last error: ConnectionError: throttled")


# --- the emulator ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(POISON))
async def test_emulator_poison_ends_its_run(case) -> None:
    async with Emulator(world="memory", modules=["tests.engine.workflows"]) as emu:
        victim = await start(wf.hold_hook, f"emu-{case}")
        await emu.world.queue.send(_poison(victim.run_id, case))
        innocent = await start(wf.three_steps, 5)
        failure = await _failure(victim, timeout=10)
        assert failure.code == "RUNTIME_ERROR" and POISON[case] in failure.message
        assert await innocent.result(timeout=10) == 116
        assert emu.workflow_invocations(victim.run_id) >= 1


async def test_emulator_step_that_always_kills_its_host_fails_the_run(monkeypatch) -> None:
    import runtime.engine.step_invocation
    import runtime.engine.workflow_invocation

    real = runtime.engine.step_invocation.run_attempt

    async def kill(step_def: Any, *args: Any, **kwargs: Any) -> Any:
        if step_def.name.endswith("crashes_host"):
            killed_attempts.append(kwargs["attempt"])
            raise Killed()
        return await real(step_def, *args, **kwargs)

    monkeypatch.setattr(runtime.engine.step_invocation, "run_attempt", kill)
    monkeypatch.setattr(runtime.engine.workflow_invocation, "run_attempt", kill)
    killed_attempts.clear()
    async with Emulator(world="memory", virtual_time=True) as emu:
        run = await start(crashing)
        innocent = await start(wf.addition, 2, 2)
        failure = await _failure(run)
        assert failure.code == "RUNTIME_ERROR"
        assert "ended without recording an outcome" in failure.message
        assert "crashes_host" in failure.message
        assert await innocent.result(timeout=10) == 4
        lost = [e for e in await run.events() if e["type"] in ("step_retrying", "step_failed")]
        assert [e["attempt"] for e in lost] == [1, 2, 3]  # max_retries=2: three attempts
        assert emu.world.queue.dead_letters == []


async def test_emulator_keeps_polling_after_a_non_json_message() -> None:
    async with Emulator(world="aws", modules=["tests.engine.workflows"]) as emu:
        queue = get_world().queue
        emu.client("sqs").send_message(QueueUrl=queue._url("queue"), MessageBody="{not json")
        await asyncio.sleep(0.2)
        run = await start(wf.three_steps, 1)
        assert await run.result(timeout=10) == 112
        assert any("not JSON" in line or "expected an object" in line for line in emu.errors)


async def test_host_process_never_raises_for_a_poisoned_message() -> None:
    from adapters.memory import MemoryWorld

    world = MemoryWorld()
    host = FunctionHost(world)
    for raw in (
        b"\xff\xfe",
        "[]",
        {"v": 1, "kind": "workflow", "run_id": "run_0", "workflow": "x"},
    ):
        verdict = await host.process(raw)
        assert verdict.outcome == "rejected" and verdict.ended is None
    await world.close()


# --- a real process, killed with SIGKILL mid-step, against a moto server ---------------------


async def test_a_step_that_sigkills_its_host_process_fails_its_run(moto_server) -> None:
    import os
    import subprocess
    import sys
    import time

    from runtime import get_run, set_world
    from runtime.world import RealClock
    from tests.conftest import aws_server_world
    from tests.kill_host import kill_host

    world = await aws_server_world(RealClock())
    previous = set_world(world)
    env = {
        **os.environ,
        "PYTHONPATH": os.getcwd(),
        "STEPLANE_WORLD": "aws",
        "STEPLANE_MODULES": "tests.kill_host",
        "STEPLANE_STACK": world.config.prefix,  # server_stack_world names it so
        "AWS_ENDPOINT_URL": world.config.endpoint_url or "",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    try:
        run = await start(kill_host)
        kills = 0
        deadline = time.monotonic() + 90
        while (await run.status()) not in ("failed", "completed"):
            assert time.monotonic() < deadline, "the run never ended"
            host = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from tests.kill_host import main; main(10)",
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            code = await host.wait()
            kills += code == -9
        failure = await _failure(get_run(run.run_id), timeout=5)
        assert failure.code == "RUNTIME_ERROR"
        assert "ended without recording an outcome" in failure.message
        assert kills >= 2  # the inline attempt and at least one queued one died with the host
    finally:
        set_world(previous)
        await world.close()


async def test_unreadable_dynamodb_log_item_fails_the_run_record() -> None:
    """A tampered DynamoDB item cannot even be read to append at its head: the run record
    still ends `failed` with CORRUPTED_EVENT_LOG, and the message is settled."""
    from adapters.aws import AwsWorld
    from runtime import set_world
    from runtime.world import RealClock
    from tests.conftest import aws_inprocess_world

    world = await aws_inprocess_world(RealClock())
    previous = set_world(world)
    try:
        run = await start(wf.hold_hook, "tampered")
        [delivery] = await world.queue.receive()
        assert (await FunctionHost(world).process(delivery.body)).outcome == "ok"
        table = world.config.events_table
        item = world.aws.dynamodb.get_item(
            TableName=table, Key={"run_id": {"S": run.run_id}, "pos": {"N": "1"}}
        )["Item"]
        item["ev"] = {"B": b"\x00garbage"}
        world.aws.dynamodb.put_item(TableName=table, Item=item)
        cold = AwsWorld(world.config, world.clock)  # a cold process: no cached log
        try:
            verdict = await FunctionHost(cold).process(delivery.body)
        finally:
            await cold.close()
        assert (verdict.outcome, verdict.ended) == ("rejected", "CORRUPTED_EVENT_LOG")
        record = await world.runs.get(run.run_id)
        assert (record.status, record.error_code) == ("failed", "CORRUPTED_EVENT_LOG")
    finally:
        set_world(previous)
        await world.close()
