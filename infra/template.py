"""The CloudFormation template of a steplane deployment: the one source of truth for the names
and settings of the AWS World's resources, on AWS (`infra.deploy`) and on the emulator's moto
(`local_emulator.aws.stack`, which creates this same stack with `WithFunction=false`).

`build_template()` makes the dict; `template.json` beside this file is its checked-in
rendering (for `cfn-lint` and for people), kept equal by a test. Regenerate it with
`python -m steplane.infra.template`.

Plain CloudFormation, no SAM: moto does not run the SAM transform. Table key schemas and
indexes come from `adapters.aws.tables.table_definitions`, output keys from
`adapters.aws.stack_outputs`, environment variable names from `adapters.aws.config`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from steplane.adapters.aws import stack_outputs as keys
from steplane.adapters.aws.config import (
    NAME_VARIABLES,
    NUMBER_VARIABLES,
    PREFIX_VARIABLE,
    AwsConfig,
)
from steplane.adapters.aws.secrets import SECRETS_ARN_ENV, SECRETS_OUTPUT
from steplane.adapters.aws.tables import table_definitions
from steplane.runtime.deployment import DEPLOYMENT_ENV
from steplane.runtime.engine.wait_in_place import DEFAULT_WAIT_SECONDS, WAIT_ENV
from steplane.runtime.ids import check_deployment_id

TEMPLATE_PATH = Path(__file__).with_name("template.json")
MAX_FUNCTION_TIMEOUT = 900  # Lambda's limit
VISIBILITY_FACTOR = 6  # AWS: queue visibility >= 6x the function timeout for an event source
MAX_VISIBILITY_TIMEOUT = 43200  # SQS's limit (12 h)
QUEUE_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum: a stalled run's message outlives outages
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
SECRET_PARAMETERS = ("SigningSecret", "ApiKeys", "DecryptApiKeys")
"""NoEcho parameters: DescribeStacks shows them as "****". They only feed the Secrets Manager
secret (`SECRET`); the function's environment holds its ARN, never the values."""
HANDLER = "steplane.adapters.lambda_handler.handler"
METADATA_KEY = "steplane"
RUNTIME = "python3.11"

# Logical ids of the World's resources.
TABLES = {  # logical id -> (AwsConfig field, output key)
    "EventsTable": ("events_table", keys.EVENTS_TABLE_OUTPUT),
    "RunsTable": ("runs_table", keys.RUNS_TABLE_OUTPUT),
    "HooksTable": ("hooks_table", keys.HOOKS_TABLE_OUTPUT),
    "StreamsTable": ("streams_table", keys.STREAMS_TABLE_OUTPUT),
    "CoordinationTable": ("coordination_table", keys.COORDINATION_TABLE_OUTPUT),
}
BUCKET, QUEUE, DEAD_LETTER_QUEUE = "PayloadBucket", "WorkQueue", "DeadLetterQueue"
KEY, ALIAS = "DataKey", "DataKeyAlias"
ROLE, FUNCTION, EVENT_SOURCE = "FunctionRole", "Function", "WorkQueueEventSource"
URL, URL_PERMISSION = "FunctionUrl", "FunctionUrlPermission"
SECRET = "Secrets"
RECONCILE_RULE, RECONCILE_PERMISSION = "ReconcileSchedule", "ReconcileSchedulePermission"
SCHEDULE_GROUP, SCHEDULER_ROLE = "ScheduleGroup", "SchedulerRole"
"""Workflow schedules (runtime/schedules.py): `deploy` puts one EventBridge Scheduler
schedule per scheduled workflow into this group (infra/schedules.py); the role lets the
scheduler invoke the function."""
RATE_PATTERN = r"^rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)$"
"""EventBridge's rate expressions ("rate(1 minute)", "rate(5 minutes)"): checked by deploy."""

# IAM actions the function's code uses (adapters/aws/*.py), and what the SQS event source needs.
DYNAMODB_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]
S3_OBJECT_ACTIONS = [
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:PutObject",
]
S3_BUCKET_ACTIONS = ["s3:ListBucket"]
SQS_ACTIONS = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",  # a deployment's own queue, looked up by name (adapters/aws/queue.py)
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
]
KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]
SECRETS_ACTIONS = ["secretsmanager:GetSecretValue"]
LOG_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]


API_KEYS_PATTERN = "^[A-Za-z0-9._~+/=,-]*$"
"""Keys are spliced into the secret's JSON: no quote or backslash may break out of it."""
SIGNING_SECRET_PATTERN = "^[A-Za-z0-9._~+/=-]*$"


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _arn(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _parameters() -> dict[str, Any]:
    return {
        "Prefix": {
            "Type": "String",
            "Default": "steplane",
            "AllowedPattern": "^[a-z][a-z0-9-]*$",
            "MaxLength": 32,
            "Description": "Prefix of every resource name (lower case: it names the bucket)",
        },
        "MaxReceives": {
            "Type": "Number",
            "Default": 5,
            "MinValue": 1,
            "MaxValue": 1000,
            "Description": "Receives of a message before the queue moves it to the DLQ",
        },
        "ListShards": {
            "Type": "Number",
            "Default": 8,
            "MinValue": 1,
            "Description": "Shards of the run-listing indexes (changing it needs a re-index)",
        },
        "WithFunction": {
            "Type": "String",
            "Default": "true",
            "AllowedValues": ["true", "false"],
            "Description": "Create the Lambda function, its role and event source "
            "(false: the World's storage only, as the local emulator uses it)",
        },
        "CodeBucket": {
            "Type": "String",
            "Default": "steplane-code-unset",
            "Description": "S3 bucket holding the function's deployment zip (set by deploy)",
        },
        "CodeKey": {
            "Type": "String",
            "Default": "unset.zip",
            "Description": "S3 key of the function's deployment zip (set by deploy)",
        },
        "DeploymentId": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^[A-Za-z0-9_-]{0,40}$",
            "Description": "The deployment the function's code is (STEPLANE_DEPLOYMENT_ID); "
            "steplane deploy sets it to the code's content hash",
        },
        "Modules": {
            "Type": "String",
            "Default": "",
            "Description": "Comma-separated workflow modules the function imports",
        },
        "MemorySize": {"Type": "Number", "Default": 512, "MinValue": 128, "MaxValue": 10240},
        "Timeout": {
            "Type": "Number",
            "Default": 60,
            "MinValue": 1,
            "MaxValue": MAX_FUNCTION_TIMEOUT,
            "Description": "Function timeout in seconds (steplane deploy checks VisibilityTimeout)",
        },
        "VisibilityTimeout": {
            "Type": "Number",
            "Default": 60 * VISIBILITY_FACTOR,
            "MinValue": VISIBILITY_FACTOR,
            "MaxValue": MAX_VISIBILITY_TIMEOUT,
            "Description": (
                f"Work queue visibility timeout in seconds: at least {VISIBILITY_FACTOR} x "
                "Timeout (steplane deploy refuses less); the function renews it while a step runs"
            ),
        },
        "ReservedConcurrency": {
            "Type": "Number",
            "Default": -1,
            "MinValue": -1,
            "Description": "Reserved concurrent executions of the function (-1: none reserved)",
        },
        "BatchSize": {"Type": "Number", "Default": 10, "MinValue": 1, "MaxValue": 10},
        "ReconcileRate": {
            "Type": "String",
            "Default": "rate(5 minutes)",
            "AllowedPattern": RATE_PATTERN,
            "Description": "How often the reconciler re-wakes stalled runs (an EventBridge rule "
            "invoking the function with a Scheduled Event)",
        },
        "StallSeconds": {
            "Type": "Number",
            "Default": 300,
            "MinValue": 10,
            "Description": "A non-terminal run without progress for this long is re-woken by "
            "the reconciler (STEPLANE_STALL_SECONDS)",
        },
        "SigningSecret": {
            "Type": "String",
            "Default": "",
            "NoEcho": True,
            "AllowedPattern": SIGNING_SECRET_PATTERN,
            "Description": "HMAC secret of signed invocations, stored in the stack's Secrets "
            "Manager secret (empty: generated there)",
        },
        "ApiKeys": {
            "Type": "String",
            "Default": "",
            "NoEcho": True,
            "AllowedPattern": API_KEYS_PATTERN,
            "Description": "Comma-separated run API keys, stored in the stack's secret "
            "(empty: the run API refuses every request)",
        },
        "DecryptApiKeys": {
            "Type": "String",
            "Default": "",
            "NoEcho": True,
            "AllowedPattern": API_KEYS_PATTERN,
            "Description": "API keys that may decrypt, stored in the stack's secret",
        },
        "WithFunctionUrl": {
            "Type": "String",
            "Default": "false",
            "AllowedValues": ["true", "false"],
            "Description": "Give the function a public URL for the HTTP API "
            "(requests are authenticated by the app: signatures, API keys, hook tokens)",
        },
    }


def _conditions() -> dict[str, Any]:
    return {
        "CreateFunction": {"Fn::Equals": [_ref("WithFunction"), "true"]},
        "CreateFunctionUrl": {
            "Fn::And": [
                {"Condition": "CreateFunction"},
                {"Fn::Equals": [_ref("WithFunctionUrl"), "true"]},
            ]
        },
        "HasSigningSecret": {"Fn::Not": [{"Fn::Equals": [_ref("SigningSecret"), ""]}]},
        "HasReservedConcurrency": {"Fn::Not": [{"Fn::Equals": [_ref("ReservedConcurrency"), -1]}]},
        "OneInstance": {"Fn::Equals": [_ref("ReservedConcurrency"), 1]},
    }


def _names() -> dict[str, Any]:
    """Physical names, in step with `AwsConfig`'s defaults for the same prefix."""
    sample = AwsConfig(prefix="PREFIX")
    return {
        field: _sub(getattr(sample, field).replace("PREFIX", "${Prefix}", 1))
        for field in (
            "events_table",
            "runs_table",
            "hooks_table",
            "streams_table",
            "coordination_table",
        )
    } | {
        "bucket": _sub("${Prefix}-payloads-${AWS::AccountId}-${AWS::Region}"),
        "queue": _sub(sample.queue.replace("PREFIX", "${Prefix}", 1)),
        "dead_letter_queue": _sub(sample.dead_letter_queue.replace("PREFIX", "${Prefix}", 1)),
        "kms_key": _sub(sample.kms_key.replace("PREFIX", "${Prefix}", 1)),
    }


def _tables(names: dict[str, Any]) -> dict[str, Any]:
    definitions = {d["TableName"]: d for d in table_definitions(AwsConfig(prefix="PREFIX"))}
    sample = AwsConfig(prefix="PREFIX")
    resources = {}
    for logical, (field, _) in TABLES.items():
        properties = copy.deepcopy(definitions[getattr(sample, field)])
        properties["TableName"] = names[field]
        properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
        properties["SSESpecification"] = {"SSEEnabled": True}
        resources[logical] = {
            "Type": "AWS::DynamoDB::Table",
            "Properties": properties,
        }
    return resources


def _storage(names: dict[str, Any]) -> dict[str, Any]:
    return {
        BUCKET: {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": names["bucket"],
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            },
        },
        DEAD_LETTER_QUEUE: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names["dead_letter_queue"],
                "MessageRetentionPeriod": DEAD_LETTER_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        },
        QUEUE: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names["queue"],
                "VisibilityTimeout": _ref("VisibilityTimeout"),
                "MessageRetentionPeriod": QUEUE_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": _arn(DEAD_LETTER_QUEUE),
                    "maxReceiveCount": _ref("MaxReceives"),
                },
            },
        },
        KEY: {
            "Type": "AWS::KMS::Key",
            "Properties": {
                "Description": _sub("steplane data keys (${Prefix})"),
                "EnableKeyRotation": True,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {  # the account administers the key through IAM (the role below)
                            "Sid": "AccountAdministersThroughIam",
                            "Effect": "Allow",
                            "Principal": {
                                "AWS": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
                            },
                            "Action": "kms:*",
                            "Resource": "*",
                        }
                    ],
                },
            },
        },
        ALIAS: {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": names["kms_key"], "TargetKeyId": _ref(KEY)},
        },
        SECRET: _secret(),
    }


def _secret() -> dict[str, Any]:
    """The HTTP app's bearer secrets (adapters/aws/secrets.py reads them): the given signing
    secret, or one Secrets Manager generates (64 characters, about 380 bits)."""
    keys = '"api_keys":"${ApiKeys}","decrypt_api_keys":"${DecryptApiKeys}"'
    return {
        "Type": "AWS::SecretsManager::Secret",
        "Condition": "CreateFunction",  # its reader; also: moto's CloudFormation lacks the type
        "Properties": {
            "Name": _sub("${Prefix}-secrets"),
            "Description": _sub("steplane signing secret and API keys (${Prefix})"),
            "SecretString": {
                "Fn::If": [
                    "HasSigningSecret",
                    _sub('{"signing_secret":"${SigningSecret}",' + keys + "}"),
                    _ref("AWS::NoValue"),
                ]
            },
            "GenerateSecretString": {
                "Fn::If": [
                    "HasSigningSecret",
                    _ref("AWS::NoValue"),
                    {
                        "SecretStringTemplate": _sub("{" + keys + "}"),
                        "GenerateStringKey": "signing_secret",
                        "PasswordLength": 64,
                        "ExcludePunctuation": True,
                    },
                ]
            },
        },
    }


def _policy() -> dict[str, Any]:
    table_arns: list[Any] = []
    for logical in TABLES:
        table_arns += [_arn(logical), _sub(f"${{{logical}.Arn}}/index/*")]
    statements = [
        {"Sid": "Log", "Effect": "Allow", "Action": DYNAMODB_ACTIONS, "Resource": table_arns},
        {
            "Sid": "Payloads",
            "Effect": "Allow",
            "Action": S3_OBJECT_ACTIONS,
            "Resource": _sub(f"${{{BUCKET}.Arn}}/*"),
        },
        {
            "Sid": "ListPayloads",
            "Effect": "Allow",
            "Action": S3_BUCKET_ACTIONS,
            "Resource": _arn(BUCKET),
        },
        {
            "Sid": "Queue",
            "Effect": "Allow",
            "Action": SQS_ACTIONS,
            "Resource": [  # the main queue and every deployment's own (`_deployment`)
                _arn(QUEUE),
                _sub("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Prefix}-work-*"),
            ],
        },
        {"Sid": "DataKeys", "Effect": "Allow", "Action": KMS_ACTIONS, "Resource": _arn(KEY)},
        {"Sid": "Secrets", "Effect": "Allow", "Action": SECRETS_ACTIONS, "Resource": _ref(SECRET)},
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": LOG_ACTIONS,
            "Resource": _sub(
                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
                ":log-group:/aws/lambda/${Prefix}-function:*"
            ),
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _function(names: dict[str, Any]) -> dict[str, Any]:
    environment: dict[str, Any] = {
        "STEPLANE_WORLD": "aws",
        "STEPLANE_MODULES": _ref("Modules"),
        DEPLOYMENT_ENV: _ref("DeploymentId"),
        SECRETS_ARN_ENV: _ref(SECRET),  # the values stay in Secrets Manager
        "STEPLANE_VISIBILITY_SECONDS": _ref("VisibilityTimeout"),
        "STEPLANE_STALL_SECONDS": _ref("StallSeconds"),
        # A workflow invocation waits in place for the steps it queued only if another
        # instance can run them: with one reserved instance, the wait would hold the only one
        # while the step's message waits behind it (runtime/engine/wait_in_place.py).
        WAIT_ENV: {"Fn::If": ["OneInstance", "0", str(DEFAULT_WAIT_SECONDS)]},
        PREFIX_VARIABLE: _ref("Prefix"),
        NAME_VARIABLES["events_table"]: _ref("EventsTable"),
        NAME_VARIABLES["runs_table"]: _ref("RunsTable"),
        NAME_VARIABLES["hooks_table"]: _ref("HooksTable"),
        NAME_VARIABLES["streams_table"]: _ref("StreamsTable"),
        NAME_VARIABLES["coordination_table"]: _ref("CoordinationTable"),
        NAME_VARIABLES["bucket"]: _ref(BUCKET),
        NAME_VARIABLES["queue"]: _ref(QUEUE),
        NAME_VARIABLES["dead_letter_queue"]: _ref(DEAD_LETTER_QUEUE),
        NAME_VARIABLES["kms_key"]: _arn(KEY),
        NUMBER_VARIABLES["max_receives"]: _ref("MaxReceives"),
        NUMBER_VARIABLES["list_shards"]: _ref("ListShards"),
    }
    missing = (set(NAME_VARIABLES.values()) | set(NUMBER_VARIABLES.values())) - set(environment)
    assert not missing, f"the function's environment lacks {missing}"
    return {
        ROLE: {
            "Type": "AWS::IAM::Role",
            "Condition": "CreateFunction",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [{"PolicyName": "steplane-world", "PolicyDocument": _policy()}],
            },
        },
        FUNCTION: {
            "Type": "AWS::Lambda::Function",
            "Condition": "CreateFunction",
            "Properties": {
                "FunctionName": _sub("${Prefix}-function"),
                "Handler": HANDLER,
                "Runtime": RUNTIME,
                "Architectures": ["x86_64"],
                "Code": {"S3Bucket": _ref("CodeBucket"), "S3Key": _ref("CodeKey")},
                "Role": _arn(ROLE),
                "MemorySize": _ref("MemorySize"),
                "Timeout": _ref("Timeout"),
                "ReservedConcurrentExecutions": {
                    "Fn::If": [
                        "HasReservedConcurrency",
                        _ref("ReservedConcurrency"),
                        _ref("AWS::NoValue"),
                    ]
                },
                "Environment": {"Variables": environment},
            },
        },
        EVENT_SOURCE: {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Condition": "CreateFunction",
            "Properties": {
                "EventSourceArn": _arn(QUEUE),
                "FunctionName": _ref(FUNCTION),
                "BatchSize": _ref("BatchSize"),
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        },
        # Liveness (docs/invariants.md #8): a periodic reconcile pass finds stalled runs.
        RECONCILE_RULE: {
            "Type": "AWS::Events::Rule",
            "Condition": "CreateFunction",
            "Properties": {
                "Description": "steplane reconciler: re-wake runs without progress",
                "ScheduleExpression": _ref("ReconcileRate"),
                "State": "ENABLED",
                "Targets": [{"Arn": _arn(FUNCTION), "Id": "steplane-reconcile"}],
            },
        },
        RECONCILE_PERMISSION: {
            "Type": "AWS::Lambda::Permission",
            "Condition": "CreateFunction",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": _ref(FUNCTION),
                "Principal": "events.amazonaws.com",
                "SourceArn": _arn(RECONCILE_RULE),
            },
        },
        SCHEDULE_GROUP: {
            "Type": "AWS::Scheduler::ScheduleGroup",
            "Condition": "CreateFunction",
            "Properties": {"Name": _sub("${Prefix}-schedules")},
        },
        SCHEDULER_ROLE: {
            "Type": "AWS::IAM::Role",
            "Condition": "CreateFunction",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "scheduler.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": _ref("AWS::AccountId")}
                            },
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "steplane-schedules",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "lambda:InvokeFunction",
                                    "Resource": _arn(FUNCTION),
                                }
                            ],
                        },
                    }
                ],
            },
        },
        URL: {
            "Type": "AWS::Lambda::Url",
            "Condition": "CreateFunctionUrl",
            "Properties": {"TargetFunctionArn": _arn(FUNCTION), "AuthType": "NONE"},
        },
        URL_PERMISSION: {
            "Type": "AWS::Lambda::Permission",
            "Condition": "CreateFunctionUrl",
            "Properties": {
                "Action": "lambda:InvokeFunctionUrl",
                "FunctionName": _ref(FUNCTION),
                "Principal": "*",
                "FunctionUrlAuthType": "NONE",
            },
        },
    }


def _outputs() -> dict[str, Any]:
    outputs: dict[str, Any] = {
        keys.PREFIX_OUTPUT: {"Value": _ref("Prefix")},
        keys.BUCKET_OUTPUT: {"Value": _ref(BUCKET)},
        keys.QUEUE_OUTPUT: {"Value": _ref(QUEUE)},
        keys.DEAD_LETTER_QUEUE_OUTPUT: {"Value": _ref(DEAD_LETTER_QUEUE)},
        keys.KMS_KEY_OUTPUT: {"Value": _arn(KEY)},
        keys.KMS_ALIAS_OUTPUT: {"Value": _ref(ALIAS)},
        SECRETS_OUTPUT: {"Condition": "CreateFunction", "Value": _ref(SECRET)},
        keys.MAX_RECEIVES_OUTPUT: {"Value": _ref("MaxReceives")},
        keys.LIST_SHARDS_OUTPUT: {"Value": _ref("ListShards")},
        keys.FUNCTION_NAME_OUTPUT: {"Condition": "CreateFunction", "Value": _ref(FUNCTION)},
        keys.FUNCTION_ARN_OUTPUT: {"Condition": "CreateFunction", "Value": _arn(FUNCTION)},
        keys.SCHEDULE_GROUP_OUTPUT: {"Condition": "CreateFunction", "Value": _ref(SCHEDULE_GROUP)},
        keys.SCHEDULER_ROLE_OUTPUT: {"Condition": "CreateFunction", "Value": _arn(SCHEDULER_ROLE)},
        keys.FUNCTION_URL_OUTPUT: {
            "Condition": "CreateFunctionUrl",
            "Value": {"Fn::GetAtt": [URL, "FunctionUrl"]},
        },
    }
    for logical, (_, key) in TABLES.items():
        outputs[key] = {"Value": _ref(logical)}
    return dict(sorted(outputs.items()))


def deployment_logical_id(deployment: str) -> str:
    """A CloudFormation logical id part for a deployment id (alphanumeric only, and a hash
    so that `v-1` and `v1` stay apart)."""
    digest = hashlib.sha256(deployment.encode()).hexdigest()[:6]
    return "".join(c for c in deployment if c.isalnum())[:40] + digest


def _deployment(deployment: str, names: dict[str, Any]) -> dict[str, Any]:
    """What keeps one deployment's runs on its code (docs/deployments.md): its own work
    queue (`{prefix}-work-{id}`, adapters/aws/queue.py routes its runs' messages there), the
    Lambda version its code was published as, and an event source mapping from the one to
    the other. Kept while the deployment has live runs; `steplane deploy --prune` drops it."""
    check_deployment_id(deployment)
    part = deployment_logical_id(deployment)
    queue, version = f"{QUEUE}{part}", f"Version{part}"
    properties = copy.deepcopy(_storage(names)[QUEUE]["Properties"])
    properties["QueueName"] = _sub(f"${{Prefix}}-work-{deployment}")
    return {
        queue: {"Type": "AWS::SQS::Queue", "Properties": properties},
        version: {
            "Type": "AWS::Lambda::Version",
            "Condition": "CreateFunction",
            "Properties": {
                "FunctionName": _ref(FUNCTION),
                "Description": f"steplane deployment {deployment}",
            },
        },
        f"{EVENT_SOURCE}{part}": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Condition": "CreateFunction",
            "Properties": {
                "EventSourceArn": _arn(queue),
                "FunctionName": _ref(version),  # the version's ARN: that code, and only it
                "BatchSize": _ref("BatchSize"),
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        },
    }


def build_template(deployments: Sequence[str] = ()) -> dict[str, Any]:
    """The template as a dict (what `template.json` holds: no deployment yet). `deployments`:
    the live deployments, oldest first, each with its queue, version and mapping; their list
    is kept in the template's `Metadata` so that the next deploy knows them."""
    names = _names()
    resources = _tables(names) | _storage(names) | _function(names)
    for deployment in deployments:
        resources |= _deployment(deployment, names)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "steplane: durable workflows on Lambda, SQS, DynamoDB, S3 and KMS",
        "Metadata": {METADATA_KEY: {"deployments": list(deployments)}},
        "Parameters": _parameters(),
        "Conditions": _conditions(),
        "Resources": resources,
        "Outputs": _outputs(),
    }


def live_deployments(template: dict[str, Any]) -> list[str]:
    """The deployments a template (as deployed) keeps, oldest first."""
    found = template.get("Metadata", {}).get(METADATA_KEY, {}).get("deployments", [])
    return [d for d in found if isinstance(d, str)]


def render(template: dict[str, Any] | None = None) -> str:
    """The JSON text of `template.json` (stable: sorted outputs, two-space indent)."""
    return json.dumps(template or build_template(), indent=2) + "\n"


def load_template() -> str:
    """The checked-in template's text (what the emulator and `deploy` create stacks from)."""
    return TEMPLATE_PATH.read_text()


if __name__ == "__main__":
    TEMPLATE_PATH.write_text(render())
    print(f"wrote {TEMPLATE_PATH}")
