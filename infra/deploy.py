"""`deploy()`: build the function's zip, upload it, create or update the stack, wait.

What `steplane deploy --stack NAME` runs. Steps:

0. The parameters are checked against the template's rules (`infra.parameters`): a bad one
   stops the deploy before anything is built, uploaded or asked of AWS.
1. The deployment zip: the packages the function imports (`steplane.runtime`,
   `steplane.adapters`, laid out as installed: `steplane/runtime/...`), the workflow
   modules it is told to import (`modules`), and their non-boto3 dependencies installed for
   Lambda's Python (`pip install --platform manylinux2014_x86_64 --only-binary=:all:`; cached
   per requirement set under `~/.cache/steplane`), each module with its compiled bytecode
   (`infra.bytecode`: a cold instance does not compile). Files are written in sorted order with
   fixed timestamps, so the same sources give the same bytes, the same hash and the same S3 key.
2. Upload to the code bucket (created, encrypted and private, if missing), unless an object with
   that key is already there.
3. Create the stack, or update it; an unchanged template, parameters and code key is a no-op
   (CloudFormation's "No updates are to be performed" is one too).
4. Wait; a failed stack raises `DeployError` naming the failing resource and its reason.

Deployments (docs/deployments.md): the code's deployment id is `d-` and the zip's hash (or
`deployment_id`, or `STEPLANE_DEPLOYMENT_ID`). The stack keeps every live deployment (its own
queue, Lambda version and event source mapping, `infra.template._deployment`) in the list in
the template's Metadata; a deploy of new code adds it, new runs start on it, and runs started
before go on on theirs. `prune=True` drops the deployments other than the new one whose runs
have all ended (`live_runs_by_deployment`): their queue, version and mapping are deleted.

`delete=True` deletes the stack instead. Note: deleting the stack deletes the tables, bucket
and key with it (the encrypted log goes with them).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steplane.adapters.aws import stack_outputs as keys
from steplane.adapters.aws.stack_outputs import stack_outputs
from steplane.runtime.deployment import DEPLOYMENT_ENV
from steplane.runtime.engine.upgrade import live_runs_by_deployment
from steplane.runtime.extras import requires_extra
from steplane.runtime.ids import check_deployment_id
from steplane.runtime.schedules import registered_schedules

from .bytecode import with_bytecode
from .parameters import ParameterError, check_parameters
from .schedules import sync_schedules
from .template import (
    RUNTIME,
    SECRET_PARAMETERS,
    VISIBILITY_FACTOR,
    build_template,
    live_deployments,
    render,
)

NAMESPACE = "steplane"
NAMESPACE_FILES = ("__init__.py", "aliases.py")
"""What `import steplane` needs (the handler is `steplane.adapters.lambda_handler.handler`)."""
PACKAGES = ("runtime", "adapters")
"""The project's packages the function imports (local_emulator and infra are tooling), as
`steplane/runtime/...`: the layout of an installed steplane, so a workflow module's own
top-level `runtime` or `adapters` package never collides with ours."""
REQUIREMENTS = ("cryptography>=42", "starlette>=0.40")
"""Non-boto3 dependencies of `runtime` and `adapters` (boto3 comes with Lambda's Python)."""
PIP_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp")
PIP_PYTHON = "3.11"
CACHE = Path(os.environ.get("STEPLANE_CACHE", Path.home() / ".cache" / "steplane"))
_EPOCH = (1980, 1, 1, 0, 0, 0)
_NO_UPDATES = "No updates are to be performed"
_FAILED = ("CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED")

Progress = Callable[[str], object]


class DeployError(RuntimeError):
    """A deployment that did not reach a complete state; the message says what failed."""


@dataclass
class Deployment:
    stack: str
    outputs: dict[str, str] = field(default_factory=dict)
    changed: bool = False
    """False when the stack already had this template, these parameters and this code."""
    code_bucket: str = ""
    code_key: str = ""
    deleted: bool = False
    deployment: str = ""
    """The id of the deployed code."""
    deployments: list[str] = field(default_factory=list)
    """The stack's live deployments after this deploy, oldest first."""
    pruned: list[str] = field(default_factory=list)
    """Deployments this deploy removed (`prune=True`)."""


def deploy(
    stack: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    delete: bool = False,
    progress: Progress = print,
    *,
    modules: Sequence[str] = (),
    parameters: Mapping[str, str] | None = None,
    code_bucket: str | None = None,
    vendor: bool = True,
    template: str | None = None,
    session: Any = None,
    deployment_id: str | None = None,
    prune: bool = False,
) -> Deployment:
    """Deploy (or, with `delete`, remove) stack `stack`; see the module docstring.

    `modules`: workflow modules the function imports (`STEPLANE_MODULES`), packaged with it.
    `parameters`: template parameters (`MemorySize`, `Timeout`, ...); `Prefix` defaults to
    the stack name. `vendor=False` leaves dependencies out of the zip (tests, or a layer).
    `template` replaces the built template (tests; it then keeps no deployments).
    `deployment_id`: the code's deployment id (default: from its hash); `prune`: see the
    module docstring.
    """
    if deployment_id is not None or os.environ.get(DEPLOYMENT_ENV):
        deployment_id = check_deployment_id(deployment_id or os.environ[DEPLOYMENT_ENV])
    fixed_template = template
    template = template or render(build_template())
    values = {"Prefix": stack.lower(), "Modules": ",".join(modules), **(parameters or {})}
    if not delete:
        try:  # before anything is built, uploaded or even asked of AWS
            check_parameters(json.loads(template).get("Parameters", {}), values)
        except ParameterError as error:
            raise DeployError(str(error)) from None
        check_visibility(template, values)
    with requires_extra("aws"):
        import boto3

    session = session or boto3.session.Session(region_name=region)
    if session.region_name is None:  # nothing configured: the World's default region too
        session = boto3.session.Session(region_name="us-east-1")
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    if delete:
        _delete(cloudformation, stack, progress)
        return Deployment(stack, deleted=True)

    s3 = session.client("s3", endpoint_url=endpoint_url)
    region = session.region_name or "us-east-1"
    if code_bucket is None:
        account = session.client("sts", endpoint_url=endpoint_url).get_caller_identity()
        code_bucket = f"steplane-code-{account['Account']}-{region}"
    archive = build_zip(modules, vendor=vendor, progress=progress)
    code_key = f"{stack}/{archive.stem}.zip"
    _upload(s3, code_bucket, code_key, archive, region, progress)

    deployment = deployment_id or f"d-{archive.stem[:12]}"
    deployments, pruned = [deployment], []
    if fixed_template is None:
        deployments = _deployments_after(cloudformation, stack, deployment)
        if prune:
            counts = _live_runs(cloudformation, stack, session, endpoint_url)
            pruned = [d for d in deployments if d != deployment and not counts.get(d)]
            deployments = [d for d in deployments if d not in pruned]
            for gone in pruned:
                progress(f"pruning deployment {gone}: no live runs")
        template = render(build_template(deployments))
    progress(f"deployment {deployment}; live: {', '.join(deployments)}")
    values |= {"CodeBucket": code_bucket, "CodeKey": code_key, "DeploymentId": deployment}
    changed = _create_or_update(cloudformation, stack, template, values, progress)
    outputs = stack_outputs(cloudformation, stack)
    _sync_schedules(session, endpoint_url, stack, outputs, modules, progress)
    for key, value in sorted(outputs.items()):
        progress(f"  {key}: {value}")
    return Deployment(
        stack, outputs, changed, code_bucket, code_key, False, deployment, deployments, pruned
    )


def deployed_deployments(cloudformation: Any, stack: str) -> list[str]:
    """The live deployments the stack's template lists, oldest first ([] without a stack)."""
    if _describe(cloudformation, stack) is None:
        return []
    body = cloudformation.get_template(StackName=stack)["TemplateBody"]
    return live_deployments(json.loads(body) if isinstance(body, str) else body)


def _deployments_after(cloudformation: Any, stack: str, deployment: str) -> list[str]:
    """The stack's live deployments with `deployment` as the newest."""
    return [d for d in deployed_deployments(cloudformation, stack) if d != deployment] + [
        deployment
    ]


def _live_runs(
    cloudformation: Any, stack: str, session: Any, endpoint_url: str | None
) -> dict[str | None, int]:
    """Live runs per deployment in the stack's World (empty without a stack)."""
    if _describe(cloudformation, stack) is None:
        return {}
    from steplane.adapters.aws import AwsWorld
    from steplane.adapters.aws.stack_outputs import config_from_outputs

    config = config_from_outputs(  # credentials: boto3's usual chain, as for the deploy
        stack_outputs(cloudformation, stack),
        region=session.region_name,
        endpoint_url=endpoint_url,
    )

    async def count() -> dict[str | None, int]:
        world = AwsWorld(config)
        try:
            return await live_runs_by_deployment(world)
        finally:
            await world.close()

    return asyncio.run(count())


def _sync_schedules(
    session: Any,
    endpoint_url: str | None,
    stack: str,
    outputs: Mapping[str, str],
    modules: Sequence[str],
    progress: Progress,
) -> None:
    """One EventBridge Scheduler schedule per scheduled workflow of `modules`
    (infra/schedules.py)."""
    if keys.FUNCTION_ARN_OUTPUT not in outputs:
        return  # no function to invoke (WithFunction=false)
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise DeployError(f"cannot import {module!r} to read its schedules: {error}") from None
    group = outputs.get(keys.SCHEDULE_GROUP_OUTPUT) or f"{stack.lower()}-schedules"
    role = outputs.get(keys.SCHEDULER_ROLE_OUTPUT, "")
    scheduler = session.client("scheduler", endpoint_url=endpoint_url)
    deployed = [  # only the deployed modules' schedules, whatever else this process imported
        s
        for s in registered_schedules()
        if any(
            s.workflow.fn.__module__ == m or s.workflow.fn.__module__.startswith(m + ".")
            for m in modules
        )
    ]
    names = sync_schedules(scheduler, group, outputs[keys.FUNCTION_ARN_OUTPUT], role, deployed)
    progress(f"schedules: {len(names)} in {group}")


def check_visibility(template: str, parameters: Mapping[str, Any]) -> None:
    """Refuse a work queue visibility timeout under 6x the function timeout (AWS's advice for
    an SQS event source; CloudFormation cannot compare two parameters, so deploy does).
    A shorter one lets Lambda's retries of a throttled batch redeliver a message whose first
    invocation is still running."""
    defaults = json.loads(template).get("Parameters", {})

    def value(name: str) -> float:
        raw = parameters.get(name, defaults.get(name, {}).get("Default"))
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise DeployError(
                f"parameter {name} must be a number of seconds, got {raw!r}"
            ) from None

    if "VisibilityTimeout" not in defaults:
        return  # a template without the parameter (tests' own templates)
    timeout, visibility = value("Timeout"), value("VisibilityTimeout")
    if visibility < VISIBILITY_FACTOR * timeout:
        raise DeployError(
            f"VisibilityTimeout {visibility:g} s is less than {VISIBILITY_FACTOR} x Timeout "
            f"({timeout:g} s): set VisibilityTimeout to at least {VISIBILITY_FACTOR * timeout:g}"
        )


# --- the zip ----------------------------------------------------------------------------------


def build_zip(
    modules: Sequence[str] = (), *, vendor: bool = True, progress: Progress = print
) -> Path:
    """The deployment zip, cached as `<cache>/zips/<sha256>.zip` (its stem is the hash)."""
    files = _steplane_files()
    for module in modules:
        files |= _module_files(module)
    if vendor:
        dependencies = _dependencies(progress)
        files |= _tree(dependencies, "")
    data = _zip_bytes(with_bytecode(files, RUNTIME, CACHE / "pyc"))
    digest = hashlib.sha256(data).hexdigest()[:32]
    target = CACHE / "zips" / f"{digest}.zip"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(target)
    progress(f"code: {target.name} ({len(data) / 1e6:.1f} MB, {len(files)} files)")
    return target


def _steplane_files() -> dict[str, Path]:
    """Our own code, found where this process imports it from (a checkout, a wheel)."""
    namespace = importlib.util.find_spec(NAMESPACE)
    assert namespace is not None and namespace.origin is not None  # this module is inside it
    files = {
        f"{NAMESPACE}/{name}": Path(namespace.origin).with_name(name) for name in NAMESPACE_FILES
    }
    for package in PACKAGES:
        spec = importlib.util.find_spec(f"{NAMESPACE}.{package}")
        assert spec is not None and spec.submodule_search_locations is not None
        files |= _tree(Path(spec.submodule_search_locations[0]), f"{NAMESPACE}/{package}")
    return files


def _tree(directory: Path, prefix: str) -> dict[str, Path]:
    found = {}
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc":
            continue
        found[str(Path(prefix) / relative) if prefix else str(relative)] = path
    return found


def _module_files(module: str) -> dict[str, Path]:
    """The top-level package (or single module) that holds `module`."""
    top = module.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        raise DeployError(f"cannot find workflow module {module!r} to package")
    origin = Path(spec.origin)
    if spec.submodule_search_locations:
        return _tree(origin.parent, top)
    return {origin.name: origin}


def _dependencies(progress: Progress) -> Path:
    """REQUIREMENTS installed for Lambda's platform, once per requirement set."""
    key = hashlib.sha256(json.dumps([REQUIREMENTS, PIP_PLATFORM, PIP_PYTHON]).encode())
    target = CACHE / "lambda-deps" / key.hexdigest()[:16]
    if (target / ".complete").exists():
        return target
    progress(f"installing {', '.join(REQUIREMENTS)} for Lambda (python {PIP_PYTHON})")
    command = [
        sys.executable,
        *("-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target)),
        *PIP_PLATFORM,
        *("--only-binary=:all:", "--python-version", PIP_PYTHON),
        *REQUIREMENTS,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DeployError(f"pip could not install the function's dependencies: {done.stderr}")
    (target / ".complete").touch()
    return target


def _zip_bytes(files: Mapping[str, Path | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            content = files[name]
            archive.writestr(info, content if isinstance(content, bytes) else content.read_bytes())
    return buffer.getvalue()


# --- S3 ---------------------------------------------------------------------------------------


def _upload(s3: Any, bucket: str, key: str, archive: Path, region: str, progress: Progress) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        progress(f"creating code bucket {bucket}")
        request: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**request)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return  # same hash, same bytes: already uploaded
    except ClientError:
        pass
    progress(f"uploading s3://{bucket}/{key}")
    s3.upload_file(str(archive), bucket, key)


# --- CloudFormation ---------------------------------------------------------------------------


def _describe(cloudformation: Any, stack: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return None if found["StackStatus"] == "DELETE_COMPLETE" else found


def _create_or_update(
    cloudformation: Any, stack: str, template: str, values: Mapping[str, str], progress: Progress
) -> bool:
    """True when the stack was created or changed; False for a no-op."""
    from botocore.exceptions import ClientError

    current = _describe(cloudformation, stack)
    if current is not None and current["StackStatus"] == "ROLLBACK_COMPLETE":
        progress(f"stack {stack} is ROLLBACK_COMPLETE from a failed create: deleting it first")
        _delete(cloudformation, stack, progress)
        current = None
    request = {
        "StackName": stack,
        "TemplateBody": template,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        "Capabilities": ["CAPABILITY_IAM"],
    }
    if current is None:
        progress(f"creating stack {stack}")
        try:
            cloudformation.create_stack(**request)
        except ClientError as error:  # invalid template, or (moto) a resource that failed
            raise DeployError(_rejected(cloudformation, stack, "CreateStack", error)) from None
        _wait(cloudformation, stack, "CREATE_COMPLETE", progress)
        return True
    if _unchanged(cloudformation, current, template, values):
        progress(f"stack {stack} is up to date")
        return False
    progress(f"updating stack {stack}")
    deployed = {p["ParameterKey"]: p.get("ParameterValue") for p in current.get("Parameters", [])}
    request["Parameters"] += [  # secrets not given again keep their values ("****" on AWS)
        {"ParameterKey": key, "UsePreviousValue": True}
        for key in SECRET_PARAMETERS
        if key not in values and deployed.get(key)
    ]
    try:
        cloudformation.update_stack(**request)
    except ClientError as error:
        if _NO_UPDATES in str(error):
            progress(f"stack {stack} is up to date")
            return False
        raise DeployError(_rejected(cloudformation, stack, "UpdateStack", error)) from None
    _wait(cloudformation, stack, "UPDATE_COMPLETE", progress)
    return True


def _unchanged(
    cloudformation: Any, current: dict[str, Any], template: str, values: Mapping[str, str]
) -> bool:
    if not current["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in current["StackStatus"]:
        return False
    deployed = {p["ParameterKey"]: p["ParameterValue"] for p in current.get("Parameters", [])}
    for key, value in values.items():
        if key in SECRET_PARAMETERS and value:
            return False  # not readable back: let CloudFormation compare
        if key not in SECRET_PARAMETERS and deployed.get(key) != str(value):
            return False
    body = cloudformation.get_template(StackName=current["StackName"])["TemplateBody"]
    if isinstance(body, str):
        body = json.loads(body)
    return bool(body == json.loads(template))


def _wait(cloudformation: Any, stack: str, goal: str, progress: Progress) -> None:
    seen: set[str] = set()
    deadline = time.monotonic() + 3600
    while True:
        current = _describe(cloudformation, stack)
        status = "DELETE_COMPLETE" if current is None else current["StackStatus"]
        _report_events(cloudformation, stack, seen, progress)
        if status == goal:
            progress(f"stack {stack}: {status}")
            return
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            raise DeployError(_failure(cloudformation, stack, status))
        time.sleep(2)


def _report_events(cloudformation: Any, stack: str, seen: set[str], progress: Progress) -> None:
    try:
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
    except Exception:
        return
    for event in reversed(events):
        if event["EventId"] in seen:
            continue
        seen.add(event["EventId"])
        reason = f": {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
        progress(f"  {event['LogicalResourceId']} {event['ResourceStatus']}{reason}")


def _failure(cloudformation: Any, stack: str, status: str) -> str:
    """One line: the first resource that failed and why."""
    try:
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
    except Exception:
        events = []
    return failure_line(stack, status, events)


def _rejected(cloudformation: Any, stack: str, operation: str, error: Exception) -> str:
    try:
        current = _describe(cloudformation, stack)
    except Exception:  # moto may not describe a stack it failed to create
        current = None
    if current is not None and "FAILED" in current["StackStatus"]:
        return _failure(cloudformation, stack, current["StackStatus"])
    message = getattr(error, "response", {}).get("Error", {}).get("Message") or str(error)
    return f"stack {stack}: {operation} failed: {' '.join(message.split())}"


def failure_line(stack: str, status: str, events: Iterable[dict[str, Any]]) -> str:
    failed = [
        e
        for e in events
        if e.get("ResourceStatus") in _FAILED and e.get("LogicalResourceId") != stack
    ]
    if not failed:
        return f"stack {stack} ended {status}"
    first = failed[-1]  # events come newest first
    return (
        f"stack {stack} ended {status}: {first['LogicalResourceId']} "
        f"({first.get('ResourceType', '?')}) {first['ResourceStatus']}: "
        f"{first.get('ResourceStatusReason', 'no reason given')}"
    )


def _delete(cloudformation: Any, stack: str, progress: Progress) -> None:
    if _describe(cloudformation, stack) is None:
        progress(f"stack {stack} does not exist")
        return
    progress(f"deleting stack {stack}")
    cloudformation.delete_stack(StackName=stack)
    _wait(cloudformation, stack, "DELETE_COMPLETE", progress)
