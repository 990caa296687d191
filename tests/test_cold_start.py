"""The Lambda path's cold start (issue 15), by what does not depend on the machine's load:
which modules a cold process imports, how many AWS calls and clients its first invocation
makes, how many directory listings botocore does, and whether the deployment zip's bytecode
is what Lambda runs. `bench.cold_start_aws` measures the time itself.

Failure model: a change that pulls a heavy module onto the handler path (an eager import in
the engine), a call more in the first invocation, a botocore upgrade that changes what the
direct model loader relies on, a zip whose bytecode Lambda would ignore.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import create_loader

from adapters.aws.model_loader import DirectLoader, direct_loader
from bench.cold_start_aws import function_environment, two_messages
from tests.conftest import MotoServer

ROOT = Path(__file__).resolve().parent.parent

HEAVY = (
    "starlette",
    "anyio",
    "click",
    "rich",
    "opentelemetry",
    "pydantic",
    "boto3",
    "s3transfer",
    "moto",
    "werkzeug",
    "jinja2",
    "yaml",
    "httpx",
    "uvicorn",
)
"""Not on the SQS handler path: the HTTP app's, the CLI's, tracing's (off), the emulator's."""

FIRST_INVOCATION_CALLS = 9
"""A run with one inline step, on a cold process: the run's record (GetItem), its data key
(Decrypt), the log (2 GetItem), `running` and the ending (2 UpdateItem), the step's batch and
the terminal batch (2 PutItem), the streams' registry (GetItem)."""

CHILD = r"""
import gc, json, os, sys
listings = [0]
def audit(event, args):
    if event in ("os.listdir", "os.scandir"):
        listings[0] += 1
import adapters.lambda_handler as lh
first, _ = json.loads(os.environ["COLD_START_EVENTS"])
sys.addaudithook(audit)
assert lh.handler(first, None) == {"batchItemFailures": []}
world = lh.get_host().world
print("RESULT " + json.dumps({
    "modules": sorted(sys.modules),
    "calls": world.calls,
    "clients": sorted(world.aws._made),
    "listings": listings[0],
    "gc": [gc.isenabled(), gc.get_freeze_count()],
}))
"""


@pytest.fixture(scope="module")
def cold_process(moto_server: MotoServer) -> dict[str, Any]:
    """What one fresh Lambda-like process did for its first message (a run of `tiny`)."""
    from adapters.aws import AwsWorld
    from local_emulator.aws.stack import create_storage_stack_at
    from runtime import set_world

    url = moto_server.start()
    moto_server.reset()
    config = create_storage_stack_at(url, "coldtest", prefix="coldtest")

    async def events() -> list[dict[str, Any]]:
        world = AwsWorld(config)
        set_world(world)
        try:
            return await two_messages(world)
        finally:
            await world.close()
            set_world(None)

    env = function_environment(config, url, ROOT)
    env["COLD_START_EVENTS"] = json.dumps(asyncio.run(events()))
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr
    return json.loads(lines[-1].removeprefix("RESULT "))  # type: ignore[no-any-return]


def test_the_handler_path_imports_no_heavy_module(cold_process: dict[str, Any]) -> None:
    loaded = {name.split(".")[0] for name in cold_process["modules"]}
    assert "botocore" in loaded and "cryptography" in loaded  # the check is not vacuous
    assert sorted(loaded & set(HEAVY)) == []


def test_the_first_invocation_makes_its_calls_and_two_clients(
    cold_process: dict[str, Any],
) -> None:
    calls = cold_process["calls"]
    assert sum(calls.values()) <= FIRST_INVOCATION_CALLS, calls
    assert calls.get("kms.Decrypt") == 1  # the run's data key, from KMS, once
    assert not any(name.endswith((".Query", ".Scan")) for name in calls), calls
    assert cold_process["clients"] == ["dynamodb", "kms"]  # no s3 or sqs model loaded


def test_botocore_does_not_list_every_service(cold_process: dict[str, Any]) -> None:
    """botocore's own loader lists ~900 directories per cold process (each service's, twice);
    the direct loader a handful, plus what the import system lists for new imports."""
    assert cold_process["listings"] < 200, cold_process["listings"]


def test_the_collector_runs_again_after_the_cold_start(cold_process: dict[str, Any]) -> None:
    """Paused for the cold init only; what it made (modules, World, clients) is frozen."""
    enabled, frozen = cold_process["gc"]
    assert enabled and frozen > 10_000


@pytest.mark.parametrize("service", ["dynamodb", "kms", "sqs", "s3", "secretsmanager"])
@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1", "paginators-1"])
def test_the_direct_loader_loads_what_botocore_loads(service: str, type_name: str) -> None:
    ours = DirectLoader().load_service_model(service, type_name)
    theirs = create_loader(None).load_service_model(service, type_name)
    assert json.dumps(ours) == json.dumps(theirs)  # order included


@pytest.mark.parametrize("name", ["endpoints", "partitions", "sdk-default-configuration"])
def test_the_direct_loader_loads_botocore_data_files_alike(name: str) -> None:
    assert json.dumps(DirectLoader().load_data(name)) == json.dumps(
        create_loader(None).load_data(name)
    )


def test_the_direct_loader_refuses_what_botocore_refuses() -> None:
    for name in ("no-such-service", "../dynamodb", "dynamodb/2012-08-10", ""):
        with pytest.raises(UnknownServiceError):
            DirectLoader().load_service_model(name, "service-2")
    version = DirectLoader().load_service_model("dynamodb", "service-2", "2012-08-10")
    assert version["metadata"]["apiVersion"] == "2012-08-10"


def test_the_direct_loader_honours_aws_data_path(tmp_path: Path) -> None:
    data_path = os.pathsep.join([str(tmp_path / "a"), "~/models"])
    assert direct_loader(data_path).search_paths == create_loader(data_path).search_paths
    assert direct_loader(None).search_paths == create_loader(None).search_paths


@pytest.mark.skipif(
    sys.implementation.cache_tag != "cpython-311", reason="bytecode only for Lambda's python3.11"
)
def test_the_zip_ships_bytecode_lambda_uses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A module of the zip imports from its .pyc even with the zip's 1980 timestamps and its
    source replaced: the bytecode is used as is, never compiled again on a cold start."""
    from infra import deploy as deploy_module

    monkeypatch.setattr(deploy_module, "CACHE", tmp_path / "cache")
    archive = deploy_module.build_zip(vendor=False, progress=lambda _: None)
    names = set(zipfile.ZipFile(archive).namelist())
    sources = {n for n in names if n.endswith(".py")}
    compiled = {n for n in names if n.endswith(".pyc")}
    assert "steplane/adapters/__pycache__/lambda_handler.cpython-311.pyc" in compiled
    assert len(compiled) == len(sources)
    assert deploy_module.build_zip(vendor=False, progress=lambda _: None) == archive  # same hash

    task = tmp_path / "task"
    zipfile.ZipFile(archive).extractall(task)
    (task / "steplane/runtime/ids.py").write_text("raise RuntimeError('compiled from source')\n")
    site = sysconfig.get_paths()["purelib"]
    code = (
        f"import sys; sys.path[:0] = [{str(task)!r}, {site!r}]; import steplane.runtime.ids as m;"
        "print(m.__file__)"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(task / "steplane/runtime/ids.py")


def test_a_failed_cold_init_leaves_the_collector_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The World cannot be built (a bad STEPLANE_WORLD): the error reaches Lambda, and the
    collector runs again for whatever the process does next."""
    import gc

    from adapters import lambda_handler
    from runtime import config
    from runtime.errors import ConfigurationError

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "steplane-test")
    monkeypatch.setenv("STEPLANE_WORLD", "no-such-world")
    monkeypatch.setattr(lambda_handler, "_initialized", False)
    monkeypatch.setattr(lambda_handler, "_host", None)
    monkeypatch.setattr(config, "_current", None)  # no World set by an earlier test
    try:
        with pytest.raises(ConfigurationError):
            lambda_handler.get_host(prepare=True)
        assert gc.isenabled() and lambda_handler._initialized
    finally:
        gc.unfreeze()
