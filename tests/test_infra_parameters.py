"""`steplane deploy --param` values are checked against infra/template.json's Parameters before
anything is built or uploaded: one line naming the parameter and the rule, exit non-zero."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from infra import deploy as deploy_module
from infra.deploy import DeployError, deploy
from infra.parameters import ParameterError, check_parameters
from infra.template import load_template
from tests.test_infra_deploy import endpoint  # noqa: F401  (fixture)

DECLARED = json.loads(load_template())["Parameters"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"Bogus": "1"}, r"unknown parameter 'Bogus' \(the template declares: .*MaxReceives"),
        ({"Timeout": "9999"}, r"parameter Timeout='9999': must be at most \d+ \(MaxValue\)"),
        ({"MaxReceives": "abc"}, r"parameter MaxReceives='abc': must be a number"),
        ({"MaxReceives": "0"}, r"MaxReceives='0': must be at least 1 \(MinValue\)"),
        ({"MemorySize": ""}, r"MemorySize='': must be a number"),
        ({"MemorySize": "1_024"}, r"MemorySize='1_024': must be a number"),
        ({"WithFunction": "yes"}, r"WithFunction='yes': must be one of true, false"),
        ({"Prefix": "Shop_1"}, r"Prefix='Shop_1': must match .* \(AllowedPattern\)"),
        ({"Prefix": "a" * 33}, r"Prefix='a{33}': must be at most 32 characters \(MaxLength\)"),
        ({"CodeKey": "x.zip"}, r"parameter CodeKey is set by deploy"),
    ],
)
def test_a_bad_value_names_the_parameter_and_the_rule(values: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        check_parameters(DECLARED, values)


def test_good_values_pass_and_numbers_may_be_decimal_or_negative() -> None:
    check_parameters(
        DECLARED,
        {"Timeout": "900" if DECLARED["Timeout"]["MaxValue"] >= 900 else "60",
         "ReservedConcurrency": "-1", "MemorySize": "1024.0", "WithFunctionUrl": "true",
         "Prefix": "shop-2", "Modules": "a.b,c"},
    )  # fmt: skip


def test_a_secret_value_is_never_repeated_in_the_error() -> None:
    rules = {"Token": {"Type": "String", "NoEcho": True, "MinLength": 40}}
    with pytest.raises(ParameterError) as caught:
        check_parameters(rules, {"Token": "hunter2-secret"})
    assert "hunter2" not in str(caught.value) and "MinLength" in str(caught.value)


def test_list_types_check_every_item() -> None:
    rules = {
        "Sizes": {"Type": "List<Number>"},
        "Zones": {"Type": "CommaDelimitedList", "AllowedValues": ["a", "b"]},
    }
    check_parameters(rules, {"Sizes": "1, 2.5", "Zones": "a,b"})
    with pytest.raises(ParameterError, match="Sizes='1,x': must be comma-separated numbers"):
        check_parameters(rules, {"Sizes": "1,x"})
    with pytest.raises(ParameterError, match="Zones='a,c': must be one of a, b"):
        check_parameters(rules, {"Zones": "a,c"})


def test_deploy_refuses_before_building_or_uploading(endpoint: str) -> None:  # noqa: F811
    lines: list[str] = []
    for bad in ({"Bogus": "1"}, {"Timeout": "9999"}, {"MaxReceives": "abc"}):
        with pytest.raises(DeployError, match=next(iter(bad))):
            deploy("shop", endpoint_url=endpoint, vendor=False, progress=lines.append,
                   parameters=bad)  # fmt: skip
    assert lines == []  # not even "code: ..."
    assert not deploy_module.CACHE.exists()  # no zip built
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    assert s3.list_buckets()["Buckets"] == []  # nothing uploaded
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
    assert cloudformation.describe_stacks()["Stacks"] == []


def test_steplane_deploy_prints_one_line_and_exits_non_zero(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cli-cache"
    steplane = shutil.which("steplane", path=str(Path(sys.executable).parent)) or "steplane"
    done = subprocess.run(
        [steplane, "deploy", "--stack", "shop", "--endpoint-url", endpoint,
         "--param", "Timeout=9999"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "STEPLANE_CACHE": str(cache)},
    )  # fmt: skip
    assert done.returncode == 1
    assert "Timeout='9999': must be at most" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not cache.exists()  # no zip built
