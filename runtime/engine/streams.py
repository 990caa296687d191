"""Durable streams, the engine's side: the writer a step's `get_writable()` gets, which seals
each chunk with the run's data key and appends it to the World's stream store, and the reader
behind `Run.stream` (runtime/streams.py is the author's side).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from .. import serde
from ..world import World
from .codec import RunCodec


class StreamWriter:
    """Returned by `get_writable()` (a `runtime.streams.Writable`); appends chunks to one stream
    of the current run."""

    def __init__(
        self, world: World, codec: RunCodec, name: str, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._world = world
        self._codec = codec
        self._loop = loop
        self.name = name

    async def write(self, chunk: Any) -> int:
        """Append a chunk (bytes, str or any serializable value); returns its index."""
        data = serde.dumps(chunk, what="stream chunk")
        serde.check_size(data, self._world.limits.max_payload_bytes, "stream chunk")
        sealed = self._codec.seal_chunk(self.name, data)
        return await self._world.streams.append(self._codec.run_id, self.name, sealed)

    async def close(self) -> None:
        await self._world.streams.close(self._codec.run_id, self.name)

    def write_sync(self, chunk: Any) -> int:
        """`write` for plain-def steps, which run in a thread without an event loop."""
        return self._on_loop(self.write(chunk))

    def close_sync(self) -> None:
        """`close` for plain-def steps."""
        self._on_loop(self.close())

    def _on_loop(self, coro: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result()
        coro.close()
        raise RuntimeError("write_sync/close_sync are for plain-def steps: await write/close")


async def read_stream(
    world: World, codec: RunCodec, name: str, start_index: int = 0, poll_seconds: float = 0.02
) -> AsyncIterator[Any]:
    """Yield chunks from `start_index` on, waiting for new ones, until the stream is closed or
    the run has ended and every chunk written before that has been read."""
    index = start_index
    delay = poll_seconds / 4
    while True:
        page = await world.streams.read(codec.run_id, name, index)
        for sealed in page.chunks:
            yield serde.loads(codec.open_chunk(name, sealed))
        index = page.next_index
        if page.closed:
            return
        if page.chunks:
            delay = poll_seconds / 4
            continue
        record = await world.runs.get(codec.run_id)
        if record is not None and record.status.is_terminal:
            final = await world.streams.read(codec.run_id, name, index)
            for sealed in final.chunks:
                yield serde.loads(codec.open_chunk(name, sealed))
            return
        await asyncio.sleep(delay)
        delay = min(poll_seconds * 10, delay * 2)
