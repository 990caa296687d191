"""Durable streams, the author's side: a step writes chunks with `get_writable()`; any client
reads them live or later, from any index (`Run.stream`).

Chunks are serialized like every other value (so `bytes`, `str` and structured values all come
back as they went in), encrypted with the run's data key, and appended to the World's stream
store (runtime/engine/streams.py). A stream ends when it is closed or when its run ends.
"""

from __future__ import annotations

from typing import Any, Protocol

from .context import current_step
from .errors import NotInWorkflowError

DEFAULT_STREAM = "default"


def stream_name(namespace: str | None) -> str:
    if namespace is None:
        return DEFAULT_STREAM
    if not isinstance(namespace, str) or not namespace or len(namespace) > 200:
        raise ValueError(
            f"a stream namespace must be a non-empty string of <= 200 characters, got {namespace!r}"
        )
    return namespace


class Writable(Protocol):
    """What `get_writable()` returns: appends chunks to one stream of the current run."""

    async def write(self, chunk: Any) -> int:
        """Append a chunk (bytes, str or any serializable value); returns its index."""
        ...

    async def close(self) -> None: ...

    def write_sync(self, chunk: Any) -> int:
        """`write` for plain-def steps, which run in a thread without an event loop."""
        ...

    def close_sync(self) -> None:
        """`close` for plain-def steps."""
        ...


def get_writable(namespace: str | None = None) -> Writable:
    """A writer for the current run's stream `namespace` (the default stream when None)."""
    step = current_step()
    if step is None:
        raise NotInWorkflowError("get_writable() works only inside a running @step")
    return step.open_writer(stream_name(namespace))
