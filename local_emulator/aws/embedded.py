"""The AWS World on an in-process moto: what `Emulator(world="aws")` runs on.

`moto.mock_aws()` intercepts every boto3 call of this process (no server, no network), the
resources are created by creating the deployment's own stack on it (stack.py) and the World
reads their names from the stack's outputs. Closing the World stops the mock, which drops
all of moto's state. moto is imported only by the emulator (the `local` extra).

Memory: moto keeps every item, object and message it was given until reset
(docs/world-protocol.md, "moto, measured"). What grows here is the runs' own data (log,
stream and run items, blobs) plus, per SQS message ever deleted, its receipt handles (`trim()`
drops those). A long-running emulator bounds the rest by deleting the data of old ended
runs (retention: `Emulator(retain_runs=N)`, runtime/engine/retention.py, `World.purge_run`).

Threads: moto's backends are not thread-safe; every call into them holds one process-wide
lock (moto_lock.py), and so do stopping the mock and `trim()`.
"""

from __future__ import annotations

from typing import Any

from steplane.adapters.aws import AwsWorld
from steplane.runtime.extras import requires_extra
from steplane.runtime.world import Clock

from . import moto_patches
from .moto_lock import locked, serialize_moto
from .stack import FAKE_CREDENTIALS, REGION, create_storage_stack
from .world import LOCAL_LOG_CACHE_BYTES, EmulatedAwsWorld

STACK_NAME = "steplane-emulator"
_session: Any = None


def start_embedded_world(
    clock: Clock | None = None, *, template: str | None = None, **options: Any
) -> EmulatedAwsWorld:
    """A fresh moto in this process, the deployment stack on it (`template`, default the
    infra template), and an AWS World on the stack's resources (blocking). `options` are
    AwsConfig fields (`prefix`, `max_receives`, ...; see `stack.create_storage_stack`)."""
    with requires_extra("local"):
        import moto  # before the World's boto3 session is made (see clients.py)

    mock = moto.mock_aws()
    serialize_moto()
    moto_patches.install()
    locked(mock.start)()
    stop = locked(mock.stop)
    try:
        import boto3

        global _session
        if _session is None:  # made after moto's import (see clients.py); reused: ~100 ms each
            _session = boto3.session.Session(
                region_name=REGION,
                aws_access_key_id=FAKE_CREDENTIALS["access_key_id"],
                aws_secret_access_key=FAKE_CREDENTIALS["secret_access_key"],
            )
        cloudformation = _session.client("cloudformation")
        options.setdefault("log_cache_bytes", LOCAL_LOG_CACHE_BYTES)
        config = create_storage_stack(cloudformation, STACK_NAME, template=template, **options)
        cloudformation.close()
        world = EmulatedAwsWorld(config, clock, on_close=[stop])
    except BaseException:
        stop()
        raise
    return world


@locked
def trim(world: AwsWorld) -> None:
    """Drop what moto keeps of deleted SQS messages (their receipt handles, forever)."""
    from moto.sqs.models import sqs_backends

    config = world.config
    for account in sqs_backends.values():
        backend = account.get(config.region)
        if backend is None:
            continue
        for queue in backend.queues.values():
            queue.deleted_messages.clear()
