"""Durable streams: a step writes chunks, any client reads them live or later, from any index.

Chunks are serialized like every other value (so `bytes`, `str` and structured values all come
back as they went in), encrypted with the run's data key, and appended to the World's stream
store. A stream ends when it is closed or when its run ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from . import serde
from .context import current_step
from .engine.codec import RunCodec
from .errors import NotInWorkflowError
from .world import World

DEFAULT_STREAM = "default"


def stream_name(namespace: str | None) -> str:
    if namespace is None:
        return DEFAULT_STREAM
    if not isinstance(namespace, str) or not namespace or len(namespace) > 200:
        raise ValueError(
            f"a stream namespace must be a non-empty string of <= 200 characters, got {namespace!r}"
        )
    return namespace


class StreamWriter:
    """Returned by `get_writable()`; appends chunks to one stream of the current run."""

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


def get_writable(namespace: str | None = None) -> StreamWriter:
    """A writer for the current run's stream `namespace` (the default stream when None)."""
    step = current_step()
    if step is None:
        raise NotInWorkflowError("get_writable() works only inside a running @step")
    return step.open_writer(stream_name(namespace))


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
