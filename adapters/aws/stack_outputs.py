"""An `AwsConfig` from a CloudFormation stack's outputs: what `STEPLANE_STACK=NAME` means.

The infra template (infra/template.py) names its outputs with the keys below, so the World
finds every resource of a deployed stack (or of the emulator's stack on moto) by reading the
stack, never by guessing names. The keys live here, in the adapter layer, because adapters
must not import infra; infra imports them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from steplane.runtime.errors import ConfigurationError

from .config import AwsConfig

STACK_VARIABLE = "STEPLANE_STACK"

PREFIX_OUTPUT = "Prefix"
EVENTS_TABLE_OUTPUT = "EventsTableName"
RUNS_TABLE_OUTPUT = "RunsTableName"
HOOKS_TABLE_OUTPUT = "HooksTableName"
STREAMS_TABLE_OUTPUT = "StreamsTableName"
COORDINATION_TABLE_OUTPUT = "CoordinationTableName"
BUCKET_OUTPUT = "PayloadBucketName"
QUEUE_OUTPUT = "WorkQueueUrl"
DEAD_LETTER_QUEUE_OUTPUT = "DeadLetterQueueUrl"
KMS_KEY_OUTPUT = "KeyArn"
KMS_ALIAS_OUTPUT = "KeyAlias"
MAX_RECEIVES_OUTPUT = "MaxReceives"
LIST_SHARDS_OUTPUT = "ListShards"
FUNCTION_NAME_OUTPUT = "FunctionName"
FUNCTION_ARN_OUTPUT = "FunctionArn"
SCHEDULE_GROUP_OUTPUT = "ScheduleGroupName"
SCHEDULER_ROLE_OUTPUT = "SchedulerRoleArn"
FUNCTION_URL_OUTPUT = "FunctionUrl"

CONFIG_OUTPUTS = {
    "prefix": PREFIX_OUTPUT,
    "events_table": EVENTS_TABLE_OUTPUT,
    "runs_table": RUNS_TABLE_OUTPUT,
    "hooks_table": HOOKS_TABLE_OUTPUT,
    "streams_table": STREAMS_TABLE_OUTPUT,
    "coordination_table": COORDINATION_TABLE_OUTPUT,
    "bucket": BUCKET_OUTPUT,
    "queue": QUEUE_OUTPUT,
    "dead_letter_queue": DEAD_LETTER_QUEUE_OUTPUT,
    "kms_key": KMS_KEY_OUTPUT,
    "max_receives": MAX_RECEIVES_OUTPUT,
    "list_shards": LIST_SHARDS_OUTPUT,
}
"""AwsConfig field -> the stack output holding it (every one is required)."""
_NUMBERS = {"max_receives", "list_shards"}


def config_from_outputs(outputs: Mapping[str, str], **options: Any) -> AwsConfig:
    """An AwsConfig naming the stack's resources; `options` set the rest (region, endpoint,
    credentials...)."""
    missing = [key for key in CONFIG_OUTPUTS.values() if key not in outputs]
    if missing:
        raise ConfigurationError(
            f"the stack has no output {', '.join(missing)}: is it a steplane stack?"
        )
    values: dict[str, Any] = {
        field: int(outputs[key]) if field in _NUMBERS else outputs[key]
        for field, key in CONFIG_OUTPUTS.items()
    }
    values.update(options)
    return AwsConfig(**values)


def stack_outputs(cloudformation: Any, name: str) -> dict[str, str]:
    """OutputKey -> OutputValue of one stack (blocking; one DescribeStacks)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except Exception as error:
        raise ConfigurationError(f"cannot read stack {name!r}: {error}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def config_from_stack(
    name: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    **options: Any,
) -> AwsConfig:
    """Read stack `name` (DescribeStacks) and configure the World from its outputs.

    Endpoint and region default to the environment's (`AwsConfig.from_env`)."""
    import boto3

    base = AwsConfig.from_env()
    endpoint_url = endpoint_url or base.endpoint_url
    region = region or base.region
    options = {
        "access_key_id": base.access_key_id,
        "secret_access_key": base.secret_access_key,
        **options,
    }
    client = boto3.session.Session(
        region_name=region,
        aws_access_key_id=options["access_key_id"],
        aws_secret_access_key=options["secret_access_key"],
    ).client("cloudformation", endpoint_url=endpoint_url)
    try:
        outputs = stack_outputs(client, name)
    finally:
        client.close()
    return config_from_outputs(outputs, endpoint_url=endpoint_url, region=region, **options)


def config_from_environment() -> AwsConfig:
    """`STEPLANE_STACK` set: the stack's names; otherwise `AwsConfig.from_env()`."""
    name = os.environ.get(STACK_VARIABLE)
    return config_from_stack(name) if name else AwsConfig.from_env()
