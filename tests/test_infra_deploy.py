"""`infra.deploy`: the stack on a moto server on 127.0.0.1, and a workflow run against it with
`STEPLANE_STACK` set (our function host serves the deployed queue: moto cannot run Lambda)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra import deploy as deploy_module
from infra.deploy import DeployError, deploy, failure_line
from local_emulator import Emulator
from runtime import start
from runtime.config import world_from_env
from runtime.engine.wait_in_place import DEFAULT_WAIT_SECONDS, WAIT_ENV
from tests.engine import workflows as wf
from tests.test_infra_template import changed_template

STACK = "shop"
EVERY_RESOURCE = {
    "AWS::DynamoDB::Table": 5,  # events, runs, hooks, streams, coordination
    "AWS::S3::Bucket": 1,
    "AWS::SQS::Queue": 3,  # work, dead letters, and the deployment's own work queue
    "AWS::KMS::Key": 1,
    "AWS::KMS::Alias": 1,
    "AWS::IAM::Role": 2,  # the function's, the scheduler's (its ScheduleGroup: not on moto)
    "AWS::Lambda::Function": 1,
    "AWS::Lambda::EventSourceMapping": 2,  # the work queue's, and the deployment's
    "AWS::Lambda::Version": 1,  # the deployment's code, published
    "AWS::Events::Rule": 1,  # the reconciler's schedule
    "AWS::Lambda::Permission": 1,  # ... allowed to invoke the function
}


@pytest.fixture
def endpoint(deploy_endpoint: str) -> str:
    return deploy_endpoint


def client(name: str, url: str) -> Any:
    return boto3.client(name, endpoint_url=url, region_name="us-east-1")


def resource_types(url: str, stack: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for resource in client("cloudformation", url).describe_stack_resources(StackName=stack)[
        "StackResources"
    ]:
        if "ResourceType" in resource:
            counts[resource["ResourceType"]] = counts.get(resource["ResourceType"], 0) + 1
    return counts


def test_deploy_creates_every_resource_redeploy_is_a_no_op_and_delete_removes_it(
    endpoint: str,
) -> None:
    lines: list[str] = []
    first = deploy(STACK, endpoint_url=endpoint, vendor=False, progress=lines.append)
    assert first.changed
    assert resource_types(endpoint, STACK) == EVERY_RESOURCE
    assert first.outputs["FunctionName"] == "shop-function"
    assert "FunctionUrl" not in first.outputs  # optional, off by default
    assert any("CREATE_COMPLETE" in line for line in lines)

    function = client("lambda", endpoint).get_function(FunctionName="shop-function")
    assert function["Configuration"]["Handler"] == "steplane.adapters.lambda_handler.handler"
    variables = function["Configuration"]["Environment"]["Variables"]
    assert variables["STEPLANE_QUEUE"] == first.outputs["WorkQueueUrl"]
    mappings = client("lambda", endpoint).list_event_source_mappings()["EventSourceMappings"]
    assert {m["EventSourceArn"].rsplit(":", 1)[-1] for m in mappings} == {
        "shop-work",
        f"shop-work-{first.deployment}",
    }
    assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings)
    pinned = next(m for m in mappings if m["EventSourceArn"].endswith(first.deployment))
    assert pinned["FunctionArn"].endswith(":1")  # the published version, not $LATEST
    assert variables["STEPLANE_DEPLOYMENT_ID"] == first.deployment
    code = client("s3", endpoint).head_object(Bucket=first.code_bucket, Key=first.code_key)
    assert code["ContentLength"] > 0

    lines.clear()
    second = deploy(STACK, endpoint_url=endpoint, vendor=False, progress=lines.append)
    assert not second.changed
    assert second.code_key == first.code_key  # same sources, same zip, same key
    assert second.outputs == first.outputs
    assert not any("uploading" in line or "updating" in line for line in lines)

    deploy(STACK, endpoint_url=endpoint, delete=True, progress=lines.append)
    stacks = client("cloudformation", endpoint).list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks if s["StackName"] == STACK)
    assert "shop-events" not in client("dynamodb", endpoint).list_tables()["TableNames"]
    assert deploy(STACK, endpoint_url=endpoint, delete=True, progress=lines.append).deleted


def test_a_template_change_reaches_the_deployed_stack(endpoint: str) -> None:
    deployed = deploy(
        STACK, endpoint_url=endpoint, vendor=False, progress=lambda _: None,
        template=changed_template(),
    )  # fmt: skip
    assert deployed.outputs["ListShards"] == "3"
    attributes = client("sqs", endpoint).get_queue_attributes(
        QueueUrl=deployed.outputs["WorkQueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes["VisibilityTimeout"] == "123"
    function = client("lambda", endpoint).get_function(FunctionName="shop-function")
    assert str(function["Configuration"]["Environment"]["Variables"]["STEPLANE_LIST_SHARDS"]) == (
        "3"
    )


def test_a_parameter_change_updates_the_stack_and_keeps_the_secrets(endpoint: str) -> None:
    deploy(
        STACK, endpoint_url=endpoint, vendor=False, progress=lambda _: None,
        parameters={"ApiKeys": "key-1"},
    )  # fmt: skip
    updated = deploy(
        STACK, endpoint_url=endpoint, vendor=False, progress=lambda _: None,
        parameters={"MaxReceives": "9"},
    )  # fmt: skip
    assert updated.changed and updated.outputs["MaxReceives"] == "9"
    # (moto does not apply a changed RedrivePolicy to an existing queue; AWS does)
    function = client("lambda", endpoint).get_function(FunctionName="shop-function")
    variables = function["Configuration"]["Environment"]["Variables"]
    assert str(variables["STEPLANE_MAX_RECEIVES"]) == "9"
    assert "key-1" not in json.dumps(variables)  # secrets live in Secrets Manager only
    parameters = client("cloudformation", endpoint).describe_stacks(StackName=STACK)["Stacks"][0]
    kept = {p["ParameterKey"]: p["ParameterValue"] for p in parameters["Parameters"]}
    assert kept["ApiKeys"] == "key-1"  # not given again: kept (moto shows NoEcho values)


def test_one_reserved_instance_turns_waiting_in_place_off(endpoint: str) -> None:
    """A workflow invocation that waits in place for its queued steps holds its instance;
    with one reserved instance the steps' messages would wait behind it for the whole window
    (3 s for each step or fan-out queued). The deployed function is told not to wait, and
    only then."""

    def waiting_seconds() -> str:
        function = client("lambda", endpoint).get_function(FunctionName="shop-function")
        return str(function["Configuration"]["Environment"]["Variables"][WAIT_ENV])

    waits = {"-1": DEFAULT_WAIT_SECONDS, "1": 0.0, "3": DEFAULT_WAIT_SECONDS}
    for reserved, expected in waits.items():
        parameters = {"ReservedConcurrency": reserved}
        deploy(STACK, endpoint_url=endpoint, vendor=False, progress=lambda _: None,
               parameters=parameters)  # fmt: skip
        assert float(waiting_seconds()) == expected, reserved


async def test_a_workflow_runs_on_the_deployed_stack_through_steplane_stack(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(
        STACK, endpoint_url=endpoint, vendor=False, progress=lambda _: None,
        modules=["tests.engine.workflows"],
    )  # fmt: skip
    monkeypatch.delenv("STEPLANE_WORLD", raising=False)
    monkeypatch.setenv("STEPLANE_STACK", STACK)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    world = world_from_env()
    try:
        assert world.config.events_table == "shop-events"  # type: ignore[attr-defined]
        assert world.config.queue.endswith("/shop-work")  # type: ignore[attr-defined]
        async with Emulator(modules=["tests.engine.workflows"], world=world):
            run = await start(wf.three_steps, 1)
            assert await run.result(timeout=30) == 112
        items = client("dynamodb", endpoint).scan(TableName="shop-events")["Items"]
        assert items and all(item["run_id"]["S"] == run.run_id for item in items)
    finally:
        await world.close()


def test_the_real_build_vendors_dependencies_for_lambda(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(deploy_module, "CACHE", tmp_path)
    archive = deploy_module.build_zip(progress=lambda _: None)
    names = zipfile.ZipFile(archive).namelist()
    assert (
        "steplane/adapters/lambda_handler.py" in names and "steplane/runtime/__init__.py" in names
    )
    assert {"steplane/__init__.py", "steplane/aliases.py"} <= set(names)  # the handler's package
    assert not any(n.startswith(("runtime/", "adapters/", "steplane/__main__")) for n in names)
    assert any(n.startswith("cryptography/") and "manylinux" not in n for n in names)
    assert any(n.startswith("_cffi_backend.cpython-311-x86_64-linux-gnu") for n in names)
    assert any(n.startswith("starlette/") for n in names)
    assert not any(
        n.startswith(("boto3/", "moto/", "steplane/local_emulator/", "steplane/infra/", "tests/"))
        for n in names
    )
    assert deploy_module.build_zip(progress=lambda _: None) == archive  # cached, same hash


def test_a_failed_stack_is_one_line_naming_the_resource_and_reason() -> None:
    events = [  # newest first, as DescribeStackEvents returns them
        {"LogicalResourceId": "shop", "ResourceStatus": "ROLLBACK_COMPLETE"},
        {
            "LogicalResourceId": "Function",
            "ResourceType": "AWS::Lambda::Function",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "Resource creation cancelled",
        },
        {
            "LogicalResourceId": "FunctionRole",
            "ResourceType": "AWS::IAM::Role",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "not authorized to perform: iam:CreateRole",
        },
    ]
    line = failure_line("shop", "ROLLBACK_COMPLETE", events)
    assert "\n" not in line
    assert line == (
        "stack shop ended ROLLBACK_COMPLETE: FunctionRole (AWS::IAM::Role) CREATE_FAILED: "
        "not authorized to perform: iam:CreateRole"
    )


def test_a_stack_that_cannot_be_created_raises_deploy_error(endpoint: str) -> None:
    broken = json.loads(changed_template())
    broken["Resources"]["WorkQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] = (
        "arn:aws:sqs:us-east-1:123456789012:missing"
    )
    with pytest.raises(DeployError, match=r"stack shop: CreateStack failed: .*queue"):
        deploy(
            STACK, endpoint_url=endpoint, vendor=False, progress=lambda _: None,
            template=json.dumps(broken),
        )  # fmt: skip


def test_steplane_deploy_command(endpoint: str, tmp_path: Path) -> None:
    """The CLI as a user runs it: deploy, redeploy (no change), delete; errors in one line."""
    import shutil
    import subprocess
    import sys

    steplane = shutil.which("steplane", path=str(Path(sys.executable).parent)) or "steplane"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples", tmp_path / "examples")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [steplane, "deploy", "--stack", "cli-demo", "--endpoint-url", endpoint, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = run("examples.checkout")
    assert first.returncode == 0, first.stderr
    outputs = json.loads(first.stdout)
    assert outputs["changed"] is True and outputs["stack"] == "cli-demo"
    again = run("examples.checkout")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changed"] is False
    bad = run("--param", "oops")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
    gone = run("--delete")
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout) == {"stack": "cli-demo", "deleted": True}
