"""What invocations need from the function host that runs them, as narrow interfaces.

Step and workflow invocations, the give-up policy and recovery do not import the host: each
names the few things it uses, and `FunctionHost` (runtime/engine/host.py) provides them all.
So the host depends on the invocations and never the other way round, and a test (or another
host) can run an invocation against any object with these members.

- `RunServices`: the World, the run codecs (data keys), and sending a queue message.
- `StepServices`: + a run's workflow metadata and opening its stream writers (a step attempt).
- `WorkflowServices`: + the sticky cache of suspended instances, the inline-step policy and
  waiting in place for queued steps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from ..context import WorkflowMetadata
from ..world import World
from .codec import CodecCache, RunCodec
from .instance import WorkflowInstance
from .messages import Message
from .streams import StreamWriter


class RunServices(Protocol):
    @property
    def world(self) -> World: ...

    @property
    def codecs(self) -> CodecCache: ...

    @property
    def deployment(self) -> str | None:
        """The deployment whose code this host runs (docs/deployments.md)."""

    async def send(self, message: Message, delay: float) -> None:
        """Hand `message` to the queue, delivered after `delay` seconds."""


class StepServices(RunServices, Protocol):
    async def workflow_metadata(self, run_id: str) -> WorkflowMetadata:
        """The run's workflow name and start time (cached: they never change)."""

    def writer_opener(self, codec: RunCodec) -> Callable[[str | None], StreamWriter]:
        """What `get_writable(namespace)` calls inside a step attempt of the codec's run."""

    def outcome_recorded(self, run_id: str) -> bool:
        """A step of `run_id` recorded its outcome: wake the run's invocation if one waits in
        this host; True when one does (it will read the log: engine/wait_in_place.py)."""


class WorkflowServices(StepServices, Protocol):
    @property
    def inline_steps(self) -> bool:
        """Whether a lone new step may run inside the workflow invocation."""

    @property
    def max_inline_seconds(self) -> float:
        """How long one invocation may keep starting steps inline."""

    def take_instance(self, run_id: str) -> WorkflowInstance | None:
        """The run's suspended instance, if this process kept one (removed from the cache)."""

    def keep_instance(self, instance: WorkflowInstance) -> None:
        """Keep `instance` warm for the run's next invocation."""

    @property
    def wait_in_place_seconds(self) -> float:
        """How long an invocation waits for the steps it queued (engine/wait_in_place.py)."""

    def claim_wait(self, run_id: str) -> asyncio.Event | None:
        """The event that wakes the run's waiting invocation, or None: no slot to wait in."""

    def release_wait(self, run_id: str, news: asyncio.Event) -> None:
        """The invocation that claimed `news` stopped waiting."""
