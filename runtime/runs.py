"""`Run`: a handle on one run in one World (status, result, cancel, stream, events).

A `Run` comes from a `Client` (runtime/client.py) or the module-level `start()`/`get_run()`,
and acts on the World it was made for, never on whichever World is current later.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from .describe import describe_event, timeline
from .engine.codec import codecs_for
from .engine.endings import run_ending
from .engine.events import EventType
from .engine.lifecycle import end_run_from_outside
from .engine.streams import read_stream
from .errors import CorruptedDataError, RunNotFoundError, WorkflowFailedError
from .streams import stream_name
from .world import RunRecord, World

_POLL_START = 0.05
_POLL_MAX = 0.5
"""`result()` is told when the run ends in this process (runtime/engine/endings.py); these
pace its re-reads of the record for an ending in another process."""


class Run:
    """A run of a workflow, by id."""

    def __init__(self, run_id: str, world: World, *, known_pending: bool = False) -> None:
        self.run_id = run_id
        self.world = world
        self._known_pending = known_pending
        """Made by the `start()` that just created the run: `result()` need not read the
        record before its first wait (it says pending; an ending in this process is told)."""

    def __repr__(self) -> str:
        return f"<Run {self.run_id}>"

    async def record(self) -> RunRecord:
        """What the World keeps about the run (plaintext metadata); RunNotFoundError if none."""
        record = await self.world.runs.get(self.run_id)
        if record is None:
            raise RunNotFoundError(f"no run {self.run_id!r} in this World")
        return record

    async def attributes(self) -> dict[str, str]:
        """The attributes the run's workflow recorded with `set_attributes()` (plaintext)."""
        return dict((await self.record()).attributes)

    async def status(self) -> str:
        return str((await self.record()).status)

    async def _until_ended(self, timeout: float | None) -> None:
        async with asyncio.timeout(timeout):
            delay = _POLL_START
            read, self._known_pending = not self._known_pending, False
            remembered = not read  # an ending here before this wait: told at once (a hint)
            while True:
                with run_ending(self.run_id, remembered=remembered) as ended:
                    if read and (await self.record()).status.is_terminal:
                        return
                    read = True
                    await asyncio.wait([ended], timeout=delay)
                if ended.done() and ended.result():
                    return  # this process applied the ending: the record says so
                if ended.done():
                    remembered = False  # read the record now, at once
                    continue
                delay = min(_POLL_MAX, delay * 2)

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the run to end; its return value, or WorkflowFailedError. TimeoutError
        after `timeout` seconds (the run goes on)."""
        try:
            await self._until_ended(timeout)
        except TimeoutError:
            status = (await self.record()).status
            raise TimeoutError(
                f"run {self.run_id} is still {status} after {timeout} s (it goes on)"
            ) from None
        log = await self.world.log.read(self.run_id)
        terminal = next((e for e in reversed(log) if e.is_terminal), None)
        if terminal is None:
            status = (await self.record()).status
            raise CorruptedDataError(
                f"run {self.run_id} is {status} but its log ({len(log)} events) has no ending event"
            )
        codec = await codecs_for(self.world).get(self.run_id)
        if terminal.type == EventType.RUN_COMPLETED:
            return await codec.open(terminal)
        if terminal.type == EventType.RUN_CANCELLED:
            raise WorkflowFailedError("CANCELLED", "the run was cancelled", self.run_id)
        details = await codec.open(terminal) or {}
        code = str(terminal.attrs.get("code", "RUNTIME_ERROR"))
        raise WorkflowFailedError(code, str(details.get("message", "")), self.run_id)

    async def cancel(self) -> None:
        """Cancel the run: no new step starts, waits and hooks are dropped, tokens freed."""
        await self.record()
        codec = await codecs_for(self.world).get(self.run_id)
        await end_run_from_outside(self.world, codec, EventType.RUN_CANCELLED)

    async def stream(
        self, namespace: str | None = None, start_index: int = 0
    ) -> AsyncIterator[Any]:
        """Chunks of one of the run's streams from `start_index`, live until it is closed or
        the run ends."""
        codec = await codecs_for(self.world).get(self.run_id)
        async for chunk in read_stream(self.world, codec, stream_name(namespace), start_index):
            yield chunk

    async def events(self, start: int = 0, *, decrypt: bool = True) -> list[dict[str, Any]]:
        """The run's log from position `start`: one dict per event with `type`, `created_at`,
        ids, attributes and `data` (the user value the event carries, if any: decrypted, or
        with `decrypt=False` a summary of its ciphertext). runtime/describe.py makes them, for
        the HTTP API and the CLI too; docs/api.md ("Shapes") lists the fields. A hook's token
        and webhook secret are never shown, even decrypted (`runtime.describe.REDACTED`).

        Tools that show decrypted values to people (the CLI, the HTTP API) first leave an audit
        record (runtime/engine/audit.py); this method does not, as code in the process may read its
        own runs."""
        await self.record()
        codec = await codecs_for(self.world).get(self.run_id) if decrypt else None
        log = await self.world.log.read(self.run_id, start)
        return [await describe_event(event, codec) for event in log]

    async def timeline(self) -> dict[str, Any]:
        """The run's steps (each attempt with its start, end and outcome), waits and hooks,
        from the plaintext part of its log: nothing is decrypted (runtime/describe.py)."""
        await self.record()
        return timeline(await self.world.log.read(self.run_id))
