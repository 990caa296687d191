"""Create the AWS World's resources for one `AwsConfig`: four DynamoDB tables, an S3 bucket,
the work queue and its dead-letter queue, and a KMS key with an alias.

Used by the emulator and the tests (on moto) and handy against a fresh account; production
deployments will get the same resources from the infra template, which must keep the names,
keys and indexes below in step with this file. Idempotent: what exists is left alone.
"""

from __future__ import annotations

import json
from typing import Any

from .clients import AwsClients, error_code
from .config import AwsConfig
from .runs import STATUS_INDEX, TIME_INDEX, WORKFLOW_INDEX

DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
QUEUE_VISIBILITY_SECONDS = 300


def table_definitions(config: AwsConfig) -> list[dict[str, Any]]:
    """CreateTable requests for every table (on-demand capacity)."""

    def table(name: str, keys: list[tuple[str, str, str]], **extra: Any) -> dict[str, Any]:
        attributes = {attr: kind for attr, kind, _ in keys}
        for index in extra.get("GlobalSecondaryIndexes", []):
            for key in index["KeySchema"]:
                attributes.setdefault(key["AttributeName"], "S")
        return {
            "TableName": name,
            "KeySchema": [{"AttributeName": a, "KeyType": role} for a, _, role in keys],
            "AttributeDefinitions": [
                {"AttributeName": a, "AttributeType": kind} for a, kind in attributes.items()
            ],
            "BillingMode": "PAY_PER_REQUEST",
            **extra,
        }

    def index(name: str, partition: str) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": partition, "KeyType": "HASH"},
                {"AttributeName": "ck", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }

    return [
        table(config.events_table, [("run_id", "S", "HASH"), ("pos", "N", "RANGE")]),
        table(
            config.runs_table,
            [("run_id", "S", "HASH")],
            GlobalSecondaryIndexes=[
                index(STATUS_INDEX, "sp"),
                index(WORKFLOW_INDEX, "wp"),
                index(TIME_INDEX, "ap"),
            ],
        ),
        table(config.hooks_table, [("h", "S", "HASH")]),
        table(config.streams_table, [("k", "S", "HASH"), ("i", "N", "RANGE")]),
    ]


def create_resources(config: AwsConfig, aws: AwsClients | None = None) -> None:
    """Create whatever of the World's resources does not exist yet (blocking)."""
    own = aws is None
    aws = aws or AwsClients(config)
    try:
        _create_tables(aws, config)
        _create_bucket(aws, config)
        _create_queues(aws, config)
        _create_key(aws, config)
    finally:
        if own:
            aws.close()


def _create_tables(aws: AwsClients, config: AwsConfig) -> None:
    creating = []
    for definition in table_definitions(config):
        try:
            answer = aws.dynamodb.create_table(**definition)
        except Exception as error:
            if error_code(error) != "ResourceInUseException":
                raise
            continue
        if answer["TableDescription"].get("TableStatus") != "ACTIVE":  # AWS: CREATING
            creating.append(definition["TableName"])
    waiter = aws.dynamodb.get_waiter("table_exists")
    for name in creating:
        waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _create_bucket(aws: AwsClients, config: AwsConfig) -> None:
    request: dict[str, Any] = {"Bucket": config.bucket}
    if config.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": config.region}
    try:
        aws.s3.create_bucket(**request)
    except Exception as error:
        if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _create_queues(aws: AwsClients, config: AwsConfig) -> None:
    if config.queue.startswith("http") or config.dead_letter_queue.startswith("http"):
        return  # given by URL: they exist
    dead_url = aws.sqs.create_queue(
        QueueName=config.dead_letter_queue,
        Attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)},
    )["QueueUrl"]
    dead_arn = aws.sqs.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": config.max_receives}
    aws.sqs.create_queue(
        QueueName=config.queue,
        Attributes={
            "VisibilityTimeout": str(QUEUE_VISIBILITY_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )


def _create_key(aws: AwsClients, config: AwsConfig) -> None:
    if not config.kms_key.startswith("alias/"):
        return  # a key id or ARN: it exists
    try:
        aws.kms.describe_key(KeyId=config.kms_key)
        return
    except Exception as error:
        if error_code(error) != "NotFoundException":
            raise
    key_id = aws.kms.create_key(Description=f"steplane data keys ({config.prefix})")["KeyMetadata"][
        "KeyId"
    ]
    aws.kms.create_alias(AliasName=config.kms_key, TargetKeyId=key_id)
