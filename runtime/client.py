"""`Client(world)`: start, find, list, resume and cancel runs in one given World.

The module-level `start()`, `get_run()` and `resume_hook()` are a `Client` for the current
World (runtime/config.py): right for workflow code and scripts that use one World. Code that
serves or inspects a World it was handed (the HTTP app, the CLI, the emulator, a process with
two Worlds) holds a `Client` for it instead, so nothing depends on which World is current.

Starting and resuming only write to the World and send a queue message; the work itself
happens in function-host invocations triggered by that message.
"""

from __future__ import annotations

from typing import Any

from . import serde
from .attributes import check_name
from .config import get_world
from .context import current_instance, current_step
from .debouncing import start_debounced
from .definitions import StartOptions
from .deployment import explicit_deployment_id
from .engine.codec import codecs_for
from .engine.events import EventType, RunStatus
from .engine.fork import fork_run
from .engine.idempotency import key_hash, run_id_for_key
from .engine.lifecycle import record_hook_payload
from .engine.messages import WorkflowMessage
from .engine.run_bytes import RunBudget
from .engine.starting import StartRequest, start_run
from .engine.tracing import run_traces
from .errors import CorruptedDataError, HookNotFoundError
from .ids import new_id
from .registry import workflow_def_of
from .runs import Run
from .world import Page, World

DEFAULT_LIST_LIMIT = 50


class Client:
    """The runs of one World. Cheap to make: it holds only the World (whose data keys are
    cached per World, runtime/codec.py), so one per World and process is plenty."""

    def __init__(self, world: World) -> None:
        self.world = world

    def __repr__(self) -> str:
        return f"<Client of the {self.world.name} World>"

    @classmethod
    def current(cls) -> Client:
        """A client of the current World (the one `start()` and friends use)."""
        return cls(get_world())

    async def start(self, workflow: Any, /, *args: Any, **kwargs: Any) -> Run:
        """Start a run of `workflow` with these arguments; returns at once with its `Run`.

        `start(wf.with_options(idempotency_key=k), ...)` returns the same run for the same key,
        however often it is retried; a retry also finishes a start that was interrupted
        (record written, first message not sent). A retry's arguments are ignored once the
        first start recorded its own (as Stripe does: the original request wins)."""
        definition = workflow_def_of(workflow)
        options = workflow if isinstance(workflow, StartOptions) else None
        key = options.idempotency_key if options is not None else None
        if current_instance() is not None:
            raise RuntimeError(
                "start() cannot be called from workflow code; use start_child() (or call "
                "start() from a @step)"
            )
        definition.check_arguments(args, kwargs)
        world = self.world
        data = serde.dumps_call(args, kwargs)
        what = f"arguments of workflow {definition.name!r}"
        serde.check_size(data, world.limits.max_payload_bytes, what, call=True)
        step = current_step()
        parent_run_id = step.metadata.run_id if step is not None else None
        if isinstance(workflow, StartOptions) and workflow.debounce is not None:
            window = workflow.debounce_seconds
            assert window is not None and workflow.key is not None
            run_id = await start_debounced(
                world, definition, workflow.key, window, data, parent_run_id
            )
            return self.get_run(run_id)
        deployment = await self._deployment_for(options, parent_run_id)
        now = world.clock.time()
        run_id = new_id("run", now) if key is None else run_id_for_key(definition.name, key)
        RunBudget(run_id, 0, world.limits.max_run_bytes).check(data, f"the {what}")
        attrs: dict[str, Any] = {}
        if options is not None and options.timeout is not None:
            attrs["timeout_at"] = now + options.timeout
        request = StartRequest(
            run_id,
            definition.name,
            data,
            now,
            repeatable=key is not None,
            parent_run_id=parent_run_id,
            attrs=attrs,
            deployment=deployment,
        )
        started = await start_run(world, request)
        # told by the run's in-process ending notice, not polled (runtime/runs.py)
        return Run(run_id, self.world, known_pending=started)

    async def rerun(self, run_id: str) -> Run:
        """A new run of `run_id`'s workflow with the same input, linked to it: the new run's
        `run_created` event carries `rerun_of=run_id`. RunNotFoundError for an unknown run.

        Needs no workflow code in this process (the CLI and the web UI have none): the input
        is copied as the stored bytes, opened with the old run's key and sealed under the new
        run's own, so nothing is decoded and no class is built (docs/invariants.md #9)."""
        world = self.world
        old = await self.get_run(run_id).record()
        first = next(iter(await world.log.read(run_id)), None)
        if first is None or first.type != EventType.RUN_CREATED:
            raise CorruptedDataError(f"run {run_id} has no run_created event to re-run")
        data = await (await codecs_for(world).get(run_id)).open_bytes(first)
        now = world.clock.time()
        new_run_id = new_id("run", now)
        request = StartRequest(
            new_run_id,
            old.workflow_name,
            data,
            now,
            attrs={"rerun_of": run_id},
            deployment=await self._deployment_for(None, None),  # today's code, as start()
        )
        await start_run(world, request)
        return self.get_run(new_run_id)

    async def _deployment_for(
        self, options: StartOptions | None, parent_run_id: str | None
    ) -> str | None:
        """The deployment a new run is pinned to: the one asked for, else (a child run
        started by a step) its parent's, else the one this process was given; None: the
        first host to run it pins it (runtime/deployment.py)."""
        if options is not None and options.deployment is not None:
            return options.deployment
        if parent_run_id is not None:
            parent = await self.world.runs.get(parent_run_id)
            if parent is not None and parent.deployment is not None:
                return parent.deployment
        return explicit_deployment_id()

    def get_run(self, run_id: str) -> Run:
        """A handle on an existing run (checked lazily: methods raise RunNotFoundError)."""
        return Run(run_id, self.world)

    async def resume_hook(
        self, token: str, payload: Any = None, idempotency_key: str | None = None
    ) -> str:
        """Deliver `payload` to the live hook holding `token`; returns the hook's run id.

        With `idempotency_key`, a payload is delivered once per key: a retry after a failure
        (or a timeout that hid a success) returns the run id without delivering it again."""
        world = self.world
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not idempotency_key
        ):
            raise ValueError(f"idempotency_key must be a non-empty string, got {idempotency_key!r}")
        data = serde.dumps(payload, what="payload")
        serde.check_size(data, world.limits.max_payload_bytes, "hook payload")
        owner = await world.hooks.lookup(token) if isinstance(token, str) and token else None
        if owner is None:
            raise HookNotFoundError("no live hook has this token")  # never echo a bearer secret
        codec = await codecs_for(world).get(owner.run_id)
        digest = (
            None if idempotency_key is None else key_hash("hook", owner.hook_id, idempotency_key)
        )
        await record_hook_payload(world, codec, owner, data, key_hash=digest)
        record = await self.get_run(owner.run_id).record()
        trace = await run_traces(world).of(world, owner.run_id)  # None unless tracing is on
        await self._wake(owner.run_id, record.workflow_name, trace, record.deployment)
        return owner.run_id

    async def list(
        self,
        *,
        status: RunStatus | str | None = None,
        workflow: Any = None,
        limit: int = DEFAULT_LIST_LIMIT,
        cursor: str | None = None,
        attributes: dict[str, str] | None = None,
        deployment: str | None = None,
    ) -> Page:
        """Run records (`RunRecord`: metadata only), newest first, optionally only those with
        `status` or of `workflow` (the workflow function, or its registered name). Pass the
        page's `next_cursor` back as `cursor` for the next page; ValueError for an unknown
        status or a cursor this World did not hand out. `attributes` ({name: value}) keeps
        only runs whose `set_attributes()` recorded every one of them."""
        if workflow is not None and not isinstance(workflow, str):
            workflow = workflow_def_of(workflow).name
        return await self.world.runs.list(
            status=None if status is None else RunStatus(status),
            workflow_name=workflow,
            limit=limit,
            cursor=cursor,
            attributes=_checked_filter(attributes),
            deployment=deployment,
        )

    async def fork(self, run_id: str, from_step: int) -> Run:
        """A new run of the same workflow with the same arguments that reuses the recorded
        results of the steps before step `from_step` (the N of `step_N_...` in the run's
        events) and runs the rest on the code deployed now (runtime/engine/fork.py)."""
        return self.get_run(await fork_run(self.world, run_id, from_step))

    async def cancel(self, run_id: str) -> str:
        """Cancel the run (see `Run.cancel`); returns its status afterwards: "cancelled", or
        how it ended if it had already ended. RunNotFoundError for an unknown run."""
        run = self.get_run(run_id)
        await run.cancel()
        return await run.status()

    async def _wake(
        self, run_id: str, workflow_name: str, trace: str | None, deployment: str | None
    ) -> None:
        """Send the workflow invocation that picks up what was just recorded, to the hosts
        of the run's deployment (carrying the run's trace context, engine/tracing.py, when
        there is one)."""
        message = WorkflowMessage(run_id, workflow_name, trace=trace, dep=deployment)
        await self.world.queue.send(message.body(), idempotency_key=message.idempotency_key)


def _checked_filter(attributes: dict[str, str] | None) -> dict[str, str] | None:
    if not attributes:
        return None
    return {check_name(k): str(v) for k, v in attributes.items()}


async def start(workflow: Any, /, *args: Any, **kwargs: Any) -> Run:
    """`Client.start` on the current World."""
    return await Client.current().start(workflow, *args, **kwargs)


async def fork(run_id: str, from_step: int) -> Run:
    """`Client.fork` on the current World."""
    return await Client.current().fork(run_id, from_step)


def get_run(run_id: str) -> Run:
    """`Client.get_run` on the current World."""
    return Client.current().get_run(run_id)


async def resume_hook(token: str, payload: Any = None, idempotency_key: str | None = None) -> str:
    """`Client.resume_hook` on the current World."""
    return await Client.current().resume_hook(token, payload, idempotency_key=idempotency_key)
