"""Idempotent entry points: `start(wf.with_options(idempotency_key=...))` and
`resume_hook(..., idempotency_key=...)`, on every World, including starts that fail half-way
(a failing SendMessage, a failing first log write) and are retried."""

from __future__ import annotations

import asyncio

import pytest

from runtime import HookNotFoundError, WorkflowFailedError, resume_hook, start
from runtime.engine.messages import WorkflowMessage
from tests.engine import timeout_workflows as tw

MODULES = ["tests.engine.timeout_workflows"]


class Flaky:
    """Wraps one World method so that its first `failures` calls raise, as a network error."""

    def __init__(self, target: object, name: str, failures: int = 1) -> None:
        self.original = getattr(target, name)
        self.failures = failures
        self.calls = 0

    async def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"injected failure of call {self.calls}")
        return await self.original(*args, **kwargs)


async def _types(run) -> list[str]:
    return [e["type"] for e in await run.events()]


async def test_the_same_key_returns_the_same_run_however_often_retried(make_emulator) -> None:
    async with make_emulator(modules=MODULES):
        first = await start(tw.quick_wf.with_options(idempotency_key="order:o-1"), "o-1")
        assert first.run_id.startswith("run_")
        retries = await asyncio.gather(
            *(start(tw.quick_wf.with_options(idempotency_key="order:o-1"), "o-1") for _ in range(5))
        )
        assert {r.run_id for r in retries} == {first.run_id}
        assert await first.result(timeout=30) == "o-1:quick"
        # after the run ended: still the same run, and other arguments do not start another
        late = await start(tw.quick_wf.with_options(idempotency_key="order:o-1"), "other")
        assert late.run_id == first.run_id
        assert await late.result(timeout=30) == "o-1:quick"
        assert (await _types(first)).count("run_created") == 1
        other = await start(tw.quick_wf.with_options(idempotency_key="order:o-2"), "o-2")
        assert other.run_id != first.run_id
        assert await other.result(timeout=30) == "o-2:quick"
        plain = [await start(tw.quick_wf, "p") for _ in range(2)]
        assert plain[0].run_id != plain[1].run_id  # no key: every start is a new run


async def test_a_start_whose_send_failed_is_completed_by_its_retry(make_emulator) -> None:
    async with make_emulator(modules=MODULES) as emu:
        send = Flaky(emu.world.queue, "send")
        emu.world.queue.send = send
        options = tw.quick_wf.with_options(idempotency_key="order:o-3")
        with pytest.raises(ConnectionError):
            await start(options, "o-3")
        retry = await start(options, "o-3")
        assert await retry.result(timeout=30) == "o-3:quick"
        runs = await emu.world.runs.list(workflow_name="timeouts.quick")
        assert [r.run_id for r in runs.items] == [retry.run_id]  # one run, not two


async def test_a_start_that_died_before_its_first_event_is_completed_by_its_retry(
    make_emulator,
) -> None:
    async with make_emulator(modules=MODULES) as emu:
        append = Flaky(emu.world.log, "append")
        emu.world.log.append = append
        options = tw.quick_wf.with_options(idempotency_key="order:o-4")
        with pytest.raises(ConnectionError):
            await start(options, "o-4")
        retry = await start(options, "o-4")
        assert await retry.result(timeout=30) == "o-4:quick"


async def test_a_re_woken_run_whose_start_never_recorded_it_fails_clearly(make_emulator) -> None:
    """What the reconciler meets when nobody retried: a pending record with an empty log.
    Its arguments are lost, so the re-wake ends it instead of leaving it pending."""
    async with make_emulator(modules=MODULES) as emu:
        emu.world.log.append = Flaky(emu.world.log, "append")
        options = tw.quick_wf.with_options(idempotency_key="order:o-5")
        with pytest.raises(ConnectionError):
            await start(options, "o-5")
        [record] = (await emu.world.runs.list(workflow_name="timeouts.quick")).items
        assert str(record.status) == "pending"
        wake = WorkflowMessage(record.run_id, "timeouts.quick")
        await emu.world.queue.send(wake.body())
        for _ in range(200):
            if str((await emu.world.runs.get(record.run_id)).status) != "pending":
                break
            await asyncio.sleep(0.02)
        run = await start(options, "o-5")  # the same run, now failed, never re-run
        assert run.run_id == record.run_id
        with pytest.raises(WorkflowFailedError) as failed:
            await run.result(timeout=30)
        assert failed.value.code == "RUNTIME_ERROR"
        assert "interrupted before the run's arguments were recorded" in failed.value.message


async def test_a_hook_payload_is_delivered_once_per_key(make_emulator) -> None:
    async with make_emulator(modules=MODULES):
        run = await start(tw.wait_for_hook, "pay:1")
        for _ in range(50):
            try:
                await resume_hook("pay:1", "a", idempotency_key="pay-1")
                break
            except HookNotFoundError:  # the hook is not created yet
                await asyncio.sleep(0.05)
        results = await asyncio.gather(
            *(resume_hook("pay:1", "a", idempotency_key="pay-1") for _ in range(4))
        )
        assert set(results) == {run.run_id}
        await resume_hook("pay:1", "b", idempotency_key="pay-2")
        await resume_hook("pay:1", "done")
        assert await run.result(timeout=30) == ["a", "b", "done"]
        # once the run ended its token is free: a late retry finds no hook (and adds nothing)
        with pytest.raises(HookNotFoundError):
            await resume_hook("pay:1", "a", idempotency_key="pay-1")


@pytest.mark.parametrize("bad", ["", 7, "x" * 256])
def test_a_bad_idempotency_key_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        tw.quick_wf.with_options(idempotency_key=bad)


async def test_sqs_send_message_failing_once_then_a_retry_gives_one_run(make_emulator) -> None:
    """The same failure on the AWS World, injected below boto3 (a botocore event hook), so
    the SqsQueue's own error handling is on the path."""
    async with make_emulator(modules=MODULES) as emu:
        if not hasattr(emu.world, "aws"):
            pytest.skip("a botocore hook needs the AWS World")
        failures = []

        def fail_first_send(**_: object) -> None:
            if not failures:
                failures.append(1)
                raise ConnectionError("injected: SendMessage did not reach SQS")

        events = emu.world.aws.sqs.meta.events
        events.register("before-call.sqs.SendMessage", fail_first_send)
        try:
            options = tw.quick_wf.with_options(idempotency_key="order:o-6")
            with pytest.raises(ConnectionError):
                await start(options, "o-6")
            retry = await start(options, "o-6")
        finally:
            events.unregister("before-call.sqs.SendMessage", fail_first_send)
        assert await retry.result(timeout=30) == "o-6:quick"
        runs = await emu.world.runs.list(workflow_name="timeouts.quick")
        assert [r.run_id for r in runs.items] == [retry.run_id]
