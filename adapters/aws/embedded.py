"""The AWS World on an in-process moto: what `Emulator(world="aws")` runs on.

`moto.mock_aws()` intercepts every boto3 call of this process (no server, no network), the
resources are created by creating the deployment's own CloudFormation stack (infra/template.json,
with `WithFunction=false`: moto cannot run the function, our host does) and the World reads
their names from the stack's outputs, so the emulator and AWS share one source of names and
settings. Closing the World stops the mock, which drops all of moto's state. moto is a
development dependency (`pip install steplane[dev]`), imported only here.

Memory: moto keeps every item, object and message it was given until reset
(docs/world-protocol.md, "moto, measured"). What grows here is the runs' own data (log,
stream and run items, blobs) plus, per SQS message ever deleted, its receipt handles (`trim()`
drops those). A long-running emulator bounds the rest by deleting the data of runs it no
longer needs (see `AwsWorld.purge_run`).

Threads: moto's backends are not thread-safe; every call into them holds one process-wide
lock (moto_lock.py), and so do stopping the mock and `trim()`.
"""

from __future__ import annotations

import importlib
from typing import Any

from runtime.errors import ConfigurationError
from runtime.world import Clock

from .moto_lock import locked, serialize_moto
from .stack_outputs import config_from_outputs, stack_outputs
from .world import AwsWorld

FAKE_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
STACK_NAME = "steplane-emulator"
TEMPLATE_LOADER = "infra.template:load_template"
"""Found by name at run time: infra is a layer above adapters (as runtime finds Worlds)."""
REGION = "us-east-1"
_session: Any = None


def deployment_template() -> str:
    """The infra template's text (infra/template.json)."""
    module_name, _, attribute = TEMPLATE_LOADER.partition(":")
    try:
        loader = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(f"cannot load the infra template ({error})") from None
    return str(loader())


def create_stack(
    cloudformation: Any, name: str, template: str, parameters: dict[str, str]
) -> dict[str, str]:
    """Create a stack, wait for it, and return its outputs (blocking; a failure raises)."""
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=template,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":  # moto creates synchronously; AWS does not
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600}
        )
    return stack_outputs(cloudformation, name)


def start_embedded_world(
    clock: Clock | None = None,
    *,
    prefix: str = "steplane",
    max_receives: int = 5,
    template: str | None = None,
) -> AwsWorld:
    """A fresh moto in this process, the deployment stack on it (`template`, default the
    infra template), and an AwsWorld on the stack's resources (blocking)."""
    try:
        import moto  # before the World's boto3 session is made (see clients.py)
    except ImportError:
        raise ConfigurationError(
            "the emulated AWS World needs moto: pip install 'steplane[dev]' (or use world='memory')"
        ) from None

    serialize_moto()
    mock = moto.mock_aws()
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
        parameters = {"Prefix": prefix, "MaxReceives": str(max_receives), "WithFunction": "false"}
        outputs = create_stack(
            cloudformation, STACK_NAME, template or deployment_template(), parameters
        )
        cloudformation.close()
        config = config_from_outputs(outputs, region=REGION, sole_consumer=True, **FAKE_CREDENTIALS)
        world = AwsWorld(config, clock, on_close=[stop])
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
