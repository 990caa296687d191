"""OpenTelemetry spans (extra `otel`), read back with the SDK's in-memory exporter.

A run reads as one trace: run > invocation > step attempt, across the queue (fan-out, retries,
a hook's wake) and across processes (a message handled by another host joins the same trace
through its `trace` field). No attribute carries a user value. Without the package, nothing of
it is imported and messages stay as they were.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the `otel` extra is not installed")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from local_emulator import Emulator
from runtime.engine import tracing
from runtime.engine.host import FunctionHost
from runtime.engine.messages import parse_message
from tests import observed_workflows as obs
from tests.test_presentation import wait_for_live_hook

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_tracer_provider(None)
        provider.shutdown()


def by_kind(finished) -> dict[str, list]:
    kinds: dict[str, list] = {"run": [], "invocation": [], "step": []}
    for span in finished:
        kinds[span.name.split(" ")[0].removeprefix("steplane.")].append(span)
    return kinds


def assert_one_nested_trace(finished, run_id: str) -> dict[str, list]:
    kinds = by_kind(finished)
    [run] = kinds["run"]
    assert run.attributes["steplane.run_id"] == run_id and run.parent is None
    assert {s.context.trace_id for s in finished} == {run.context.trace_id}  # one trace
    invocations = {s.context.span_id: s for s in kinds["invocation"]}
    for invocation in kinds["invocation"]:
        assert invocation.parent.span_id == run.context.span_id  # run > invocation
        assert invocation.attributes["steplane.run_id"] == run_id
        assert invocation.attributes["steplane.outcome"] == "ok"
    for step in kinds["step"]:
        assert step.parent.span_id in invocations  # invocation > step attempt
        assert step.attributes["steplane.run_id"] == run_id
    return kinds


async def test_a_three_step_run_with_a_fan_out_is_one_trace(spans: InMemorySpanExporter) -> None:
    async with Emulator(modules=["tests.observed_workflows"], world="memory") as emu:
        run = await emu.runtime_client.start(obs.fan_out_three, "o-secret")
        result = await run.result(timeout=20)
    assert result == ["packed o-secret", "labelled o-secret", "labelled o-secret-b"]
    finished = spans.get_finished_spans()
    kinds = assert_one_nested_trace(finished, run.run_id)
    steps = sorted(s.attributes["steplane.step_name"].rsplit(":", 1)[-1] for s in kinds["step"])
    assert steps == ["label", "label", "pack"]
    assert all(s.attributes["steplane.outcome"] == "completed" for s in kinds["step"])
    kinds_of_invocation = sorted(
        s.attributes["steplane.invocation.kind"] for s in kinds["invocation"]
    )
    assert kinds_of_invocation.count("step") == 2  # the fan-out went through the queue
    assert "workflow" in kinds_of_invocation
    for span in finished:  # ids, names and counters only: never a user value
        assert "o-secret" not in json.dumps(dict(span.attributes), default=str)
        assert "o-secret" not in span.name
        assert not span.events  # no exception events (their messages may hold user values)


async def test_retries_and_a_hook_wake_stay_in_the_run_trace(spans: InMemorySpanExporter) -> None:
    async with Emulator(modules=["tests.observed_workflows"], world="memory") as emu:
        run = await emu.runtime_client.start(obs.observed, "o-2")
        await wait_for_live_hook(emu, run)
        tracing.run_traces(emu.world)._known.clear()  # as in a process that never saw the run
        await emu.runtime_client.resume_hook("observe:o-2", {"ok": True})
        await run.result(timeout=20)
    kinds = assert_one_nested_trace(spans.get_finished_spans(), run.run_id)
    flaky = [s for s in kinds["step"] if s.attributes["steplane.step_name"].endswith("flaky")]
    assert [
        (s.attributes["steplane.attempt"], s.attributes["steplane.outcome"]) for s in flaky
    ] == [
        (1, "retrying"),
        (2, "completed"),
    ]
    assert flaky[0].status.status_code.name == "ERROR"
    assert flaky[0].status.description == "retrying"  # the error's message is never recorded


async def test_a_message_handled_in_another_process_joins_the_run_trace(
    spans: InMemorySpanExporter,
) -> None:
    """The message carries the run span's context; a host that never saw the run (another
    process: its own World object, its own caches) parents its invocation to it."""
    from adapters.memory import MemoryWorld
    from runtime.client import Client

    world = MemoryWorld()
    run = await Client(world).start(obs.fan_out_three, "o-3")
    [delivery] = await world.queue.receive()
    message = parse_message(delivery.body)
    assert tracing.valid_traceparent(message.trace)
    (created,) = (await world.log.read(run.run_id))[:1]
    assert created.attrs["trace"] == message.trace  # also on the run_created event

    other_process = FunctionHost(world)
    await other_process.handle(delivery.body)
    [run_span] = by_kind(spans.get_finished_spans())["run"]
    [invocation] = by_kind(spans.get_finished_spans())["invocation"]
    assert invocation.parent.span_id == run_span.context.span_id
    sent = await world.queue.receive(max_messages=10)
    assert sent and all(d.body["trace"] == message.trace for d in sent)  # passed on as it came

    old = {k: v for k, v in delivery.body.items() if k != "trace"}  # a message from before
    assert parse_message(old).trace is None
    bad = dict(delivery.body, trace="not-a-traceparent")
    assert parse_message(bad).trace is None  # dropped, not an error


def test_without_opentelemetry_nothing_is_imported_and_messages_are_unchanged() -> None:
    """A core install: `opentelemetry` cannot be imported; a run still works, no module of it
    is loaded, no message or event carries a trace."""
    script = """
import asyncio, sys

class NoOtel:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError("no opentelemetry in a core install")

sys.meta_path.insert(0, NoOtel())
from local_emulator import Emulator
from tests import observed_workflows as obs

async def main():
    async with Emulator(modules=["tests.observed_workflows"], world="memory") as emu:
        sent = []
        send = emu.world.queue.send
        async def recording(body, **options):
            sent.append(body)
            return await send(body, **options)
        emu.world.queue.send = recording
        run = await emu.runtime_client.start(obs.fan_out_three, "x")
        await run.result(timeout=20)
        log = await emu.world.log.read(run.run_id)
        print(len(sent) > 2, any("trace" in b for b in sent), "trace" in log[0].attrs)
    print(any(m.startswith("opentelemetry") for m in sys.modules))

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False", "False"]


@pytest.mark.slow  # bounded version: test_a_message_handled_in_another_process_joins_the_run_trace
async def test_one_trace_across_processes_on_a_moto_server(
    spans: InMemorySpanExporter, moto_server
) -> None:
    """The run is started here; another process (the Lambda handler, its own global tracer
    provider) runs every invocation from the real queue: its spans join this run span."""
    import asyncio
    import os

    from runtime.client import Client
    from runtime.world import RealClock
    from tests.conftest import aws_server_world

    world = await aws_server_world(RealClock())
    try:
        run = await Client(world).start(obs.fan_out_three, "o-4")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STEPLANE_")},
            "PYTHONPATH": str(ROOT),
            "STEPLANE_WORLD": "aws",
            "STEPLANE_MODULES": "tests.observed_workflows",
            "STEPLANE_STACK": world.config.prefix,  # server_stack_world names it so
            "AWS_ENDPOINT_URL": world.config.endpoint_url or "",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": world.config.region,
        }
        host = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.trace_host",
            run.run_id,
            "60",
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(host.communicate(), 90)
        assert host.returncode == 0, err.decode()
        assert await run.status() == "completed"
    finally:
        await world.close()
    [run_span] = spans.get_finished_spans()  # this process made the run span only
    remote = [json.loads(line) for line in out.decode().splitlines()]
    run_trace, run_span_id = f"{run_span.context.trace_id:032x}", f"{run_span.context.span_id:016x}"
    assert {s["trace_id"] for s in remote} == {run_trace}  # one trace across the two processes
    invocations = {s["span_id"] for s in remote if s["name"].startswith("steplane.invocation")}
    steps = [s for s in remote if s["name"].startswith("steplane.step")]
    assert len(invocations) >= 3 and len(steps) == 3  # a workflow + two fanned-out step invocations
    for span in remote:
        if span["span_id"] in invocations:
            assert span["parent_id"] == run_span_id  # run > invocation
        else:
            assert span["parent_id"] in invocations  # invocation > step attempt
