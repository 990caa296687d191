"""The deployment's own stack on moto: the emulator's AWS resources, made the way `steplane
deploy` makes them on AWS (infra/template.json, with `WithFunction=false`: moto cannot run
the function, our host does), so the emulator, `steplane dev`, the tests and AWS share one
source of names and settings.
"""

from __future__ import annotations

from typing import Any

from steplane.adapters.aws import AwsConfig
from steplane.adapters.aws.stack_outputs import config_from_outputs, stack_outputs
from steplane.infra.template import load_template

FAKE_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
REGION = "us-east-1"


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


STACK_PARAMETERS = {"prefix": "Prefix", "max_receives": "MaxReceives", "list_shards": "ListShards"}
"""AwsConfig fields the template takes as parameters."""


def create_storage_stack(
    cloudformation: Any, name: str, *, template: str | None = None, **options: Any
) -> AwsConfig:
    """The World's storage (the template without the function) as stack `name` on moto, and
    the config of an AWS World on it (blocking). `options` are AwsConfig fields: those in
    `STACK_PARAMETERS` are given to the stack, the rest to the config. `template`: default
    the infra template."""
    parameters = {"WithFunction": "false"}
    for field, parameter in STACK_PARAMETERS.items():
        if field in options:
            parameters[parameter] = str(options.pop(field))
    outputs = create_stack(cloudformation, name, template or load_template(), parameters)
    return config_from_outputs(outputs, **({"region": REGION} | FAKE_CREDENTIALS | options))


def create_storage_stack_at(url: str, name: str, **options: Any) -> AwsConfig:
    """`create_storage_stack` on the moto server at `url` (blocking), with the fake
    credentials moto accepts: for the tests and benchmarks that drive a server."""
    import boto3  # the `local` extra, as moto itself

    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["access_key_id"],
        aws_secret_access_key=FAKE_CREDENTIALS["secret_access_key"],
    )
    try:
        return create_storage_stack(cloudformation, name, endpoint_url=url, **options)
    finally:
        cloudformation.close()
