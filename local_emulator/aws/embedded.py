"""The AWS World on an in-process moto: what `Emulator(world="aws")` runs on.

`moto.mock_aws()` intercepts every boto3 call of this process (no server, no network), the
resources are created by creating the deployment's own stack on it (stack.py) and the World
reads their names from the stack's outputs. Its DynamoDB, SQS and KMS requests go unsigned
(the mock checks no signature; SigV4 was ~15% of a call's Python work), S3's stay signed (moto
refuses an anonymous one). Closing the World stops the mock, which drops all of moto's state.
moto is imported only by the emulator (the `local` extra).

Memory: moto keeps every item, object and message it was given until reset
(docs/world-protocol.md, "moto, measured"). What grows here is the runs' own data (log,
stream and run items, blobs) plus, per SQS message ever deleted, its receipt handles (`trim()`
drops those). A long-running emulator bounds the rest by deleting the data of old ended
runs (retention: `Emulator(retain_runs=N)`, runtime/engine/retention.py, `World.purge_run`).

Threads: moto's backends are not thread-safe; every call into them holds one process-wide
lock (moto_lock.py), and so do stopping the mock and `trim()`.
"""

from __future__ import annotations

import contextlib
import sys
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
        world = EmulatedAwsWorld(config, clock, on_close=[stop], sign_requests=False)
    except BaseException:
        stop()
        raise
    return world


@locked
def trim(world: AwsWorld) -> None:
    """Drop what moto keeps of objects no one uses any more: deleted SQS messages (their
    receipt handles, forever) and its instance trackers (`untrack_garbage`)."""
    from moto.sqs.models import sqs_backends

    untrack_garbage()
    config = world.config
    for account in sqs_backends.values():
        backend = account.get(config.region)
        if backend is None:
            continue
        for queue in backend.queues.values():
            queue.deleted_messages.clear()


_ONLY_THE_TRACKER = 3
"""`sys.getrefcount` of a tracked instance nothing else refers to: the tracker's list, the
loop variable, the call's own argument."""


def untrack_garbage() -> int:
    """Forget, in every moto model class's `instances_tracked`, the instances nothing else
    refers to; how many. moto appends every model object it ever makes to its class's list
    (for the server's `/moto-api/data.json` dashboard; `reset` empties them), deep copies
    included: each DynamoDB GetItem, Query or UpdateItem copies the items it returns, so
    the lists hold every item ever read, written or deleted, and a purged run's items
    (retention) were never freed (measured: 600 purged runs gave back under 4 MB of 12).
    An S3 key dropped here is disposed first (its buffer closed), as moto's reset does.
    Call with moto's lock held (`trim`)."""
    from moto.core.model_instances import model_data

    dropped = 0
    for models in model_data.values():
        for model in models.values():
            tracked = getattr(model, "instances_tracked", None)
            if not tracked:
                continue
            kept = []
            for instance in tracked:
                if sys.getrefcount(instance) > _ONLY_THE_TRACKER:
                    kept.append(instance)
                    continue
                dispose = getattr(instance, "dispose", None)
                if callable(dispose):
                    with contextlib.suppress(Exception):  # a buffer already closed
                        dispose()
                dropped += 1
            model.instances_tracked = kept
    return dropped
