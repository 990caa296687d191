"""The AWS World on an in-process moto: what `Emulator(world="aws")` runs on.

`moto.mock_aws()` intercepts every boto3 call of this process (no server, no network), the
resources are created as `resources.py` describes, and closing the World stops the mock,
which drops all of moto's state. moto is a development dependency (`pip install
steplane[dev]`), imported only here.

Memory: moto keeps every item, object and message it was given until reset (DESIGN.md).
What grows here is the runs' own data (log, stream and run items, blobs) plus, per SQS message
ever deleted, its receipt handles (`trim()` drops those). A long-running emulator bounds the
rest by deleting the data of runs it no longer needs (see `AwsWorld.purge_run`).
"""

from __future__ import annotations

from runtime.errors import ConfigurationError
from runtime.world import Clock

from .config import AwsConfig
from .resources import create_resources
from .world import AwsWorld

FAKE_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


def start_embedded_world(
    clock: Clock | None = None, *, prefix: str = "steplane", max_receives: int = 5
) -> AwsWorld:
    """A fresh moto in this process, the resources, and an AwsWorld on them (blocking)."""
    try:
        import moto  # before the World's boto3 session is made (see clients.py)
    except ImportError:
        raise ConfigurationError(
            "the emulated AWS World needs moto: pip install 'steplane[dev]' (or use world='memory')"
        ) from None

    mock = moto.mock_aws()
    mock.start()
    try:
        config = AwsConfig(
            prefix=prefix,
            region="us-east-1",
            max_receives=max_receives,
            sole_consumer=True,
            **FAKE_CREDENTIALS,  # type: ignore[arg-type]
        )
        world = AwsWorld(config, clock, on_close=[mock.stop])
        create_resources(config, world.aws)
    except BaseException:
        mock.stop()
        raise
    return world


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
