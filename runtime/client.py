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
from .config import get_world
from .context import current_instance, current_step
from .definitions import StartOptions
from .engine.codec import codecs_for
from .engine.events import EventType, RunStatus
from .engine.idempotency import key_hash, run_id_for_key
from .engine.lifecycle import record_hook_payload
from .engine.messages import WorkflowMessage
from .engine.run_bytes import RunBudget, stamp
from .errors import AppendConflictError, HookNotFoundError
from .ids import new_id
from .registry import workflow_def_of
from .runs import Run
from .world import Page, RunRecord, World

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
        key = workflow.idempotency_key if isinstance(workflow, StartOptions) else None
        if current_instance() is not None:
            raise RuntimeError("start() cannot be called from workflow code; call it from a @step")
        definition.check_arguments(args, kwargs)
        world = self.world
        data = serde.dumps_call(args, kwargs)
        what = f"arguments of workflow {definition.name!r}"
        serde.check_size(data, world.limits.max_payload_bytes, what, call=True)
        step = current_step()
        parent_run_id = step.metadata.run_id if step is not None else None
        now = world.clock.time()
        run_id = new_id("run", now) if key is None else run_id_for_key(definition.name, key)
        RunBudget(run_id, 0, world.limits.max_run_bytes).check(data, f"the {what}")
        codecs = codecs_for(world)
        record = None if key is None else await world.runs.get(run_id)
        if record is None:
            codec, encrypted_key = await codecs.create(run_id)
            try:  # conditional: exactly one of racing starts with one key creates the run
                await world.runs.create(
                    RunRecord(
                        run_id,
                        definition.name,
                        RunStatus.PENDING,
                        now,
                        now,
                        parent_run_id,
                        encrypted_key,
                    )
                )
            except ValueError:
                if key is None:
                    raise
                codecs.forget(run_id)  # our fresh key lost: the winner's is on the record
                record = await world.runs.get(run_id)
        if record is not None:  # a retry: finish whatever the first start left undone
            if record.workflow_name != definition.name:
                raise ValueError(f"run {run_id} belongs to workflow {record.workflow_name!r}")
            if record.status != RunStatus.PENDING:
                return self.get_run(run_id)
            codec = await codecs.get(run_id)
        if record is None or not await world.log.read(run_id):
            attrs = {"workflow_name": definition.name, "parent_run_id": parent_run_id}
            created = await codec.event(
                EventType.RUN_CREATED, attrs=attrs, data=data, created_at=now
            )
            try:
                await world.log.append(run_id, 0, stamp(run_id, [created], 0, None))
            except AppendConflictError:
                if key is None:
                    raise  # a fresh run id is ours alone
        await self._wake(run_id, definition.name)
        return Run(run_id, self.world, known_pending=True)

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
        await self._wake(owner.run_id, record.workflow_name)
        return owner.run_id

    async def list(
        self,
        *,
        status: RunStatus | str | None = None,
        workflow: Any = None,
        limit: int = DEFAULT_LIST_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """Run records (`RunRecord`: metadata only), newest first, optionally only those with
        `status` or of `workflow` (the workflow function, or its registered name). Pass the
        page's `next_cursor` back as `cursor` for the next page; ValueError for an unknown
        status or a cursor this World did not hand out."""
        if workflow is not None and not isinstance(workflow, str):
            workflow = workflow_def_of(workflow).name
        return await self.world.runs.list(
            status=None if status is None else RunStatus(status),
            workflow_name=workflow,
            limit=limit,
            cursor=cursor,
        )

    async def cancel(self, run_id: str) -> str:
        """Cancel the run (see `Run.cancel`); returns its status afterwards: "cancelled", or
        how it ended if it had already ended. RunNotFoundError for an unknown run."""
        run = self.get_run(run_id)
        await run.cancel()
        return await run.status()

    async def _wake(self, run_id: str, workflow_name: str) -> None:
        """Send the workflow invocation that picks up what was just recorded."""
        message = WorkflowMessage(run_id, workflow_name)
        await self.world.queue.send(message.body(), idempotency_key=message.idempotency_key)


async def start(workflow: Any, /, *args: Any, **kwargs: Any) -> Run:
    """`Client.start` on the current World."""
    return await Client.current().start(workflow, *args, **kwargs)


def get_run(run_id: str) -> Run:
    """`Client.get_run` on the current World."""
    return Client.current().get_run(run_id)


async def resume_hook(token: str, payload: Any = None, idempotency_key: str | None = None) -> str:
    """`Client.resume_hook` on the current World."""
    return await Client.current().resume_hook(token, payload, idempotency_key=idempotency_key)
