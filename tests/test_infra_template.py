"""The infra template: one source of truth for the AWS World's resources, on AWS and on the
emulator's moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.aws import stack_outputs
from adapters.aws.config import NAME_VARIABLES, NUMBER_VARIABLES, AwsConfig
from adapters.aws.tables import table_definitions
from infra import template as tpl
from local_emulator.aws.embedded import start_embedded_world
from runtime.errors import ConfigurationError


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_checked_in_json_is_what_the_builder_makes() -> None:
    assert tpl.load_template() == tpl.render(), "run `python -m infra.template`"


def test_tables_are_the_worlds_tables_with_point_in_time_recovery() -> None:
    template = tpl.build_template()
    tables = resources(template, "AWS::DynamoDB::Table")
    expected = table_definitions(AwsConfig(prefix="p"))
    assert len(tables) == len(expected) == 5
    for (logical, (field, _)), definition in zip(tpl.TABLES.items(), expected, strict=True):
        properties = tables[logical]["Properties"]
        assert definition["TableName"] == getattr(AwsConfig(prefix="p"), field)
        for key in ("KeySchema", "AttributeDefinitions", "BillingMode"):
            assert properties[key] == definition[key]
        assert properties.get("GlobalSecondaryIndexes") == definition.get("GlobalSecondaryIndexes")
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }


def test_outputs_name_every_config_field_and_the_function_sets_every_variable() -> None:
    template = tpl.build_template()
    assert set(stack_outputs.CONFIG_OUTPUTS.values()) <= set(template["Outputs"])
    function = template["Resources"][tpl.FUNCTION]["Properties"]
    variables = function["Environment"]["Variables"]
    assert set(NAME_VARIABLES.values()) | set(NUMBER_VARIABLES.values()) <= set(variables)
    assert variables["STEPLANE_WORLD"] == "aws"
    assert variables["STEPLANE_MODULES"] == {"Ref": "Modules"}
    assert function["Handler"] == "steplane.adapters.lambda_handler.handler"  # unshadowable
    mapping = template["Resources"][tpl.EVENT_SOURCE]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert {"Prefix", "MemorySize", "Timeout", "ReservedConcurrency", "MaxReceives"} <= set(
        template["Parameters"]
    )
    assert template["Resources"][tpl.URL]["Condition"] == "CreateFunctionUrl"


def test_the_role_allows_only_the_worlds_actions_on_its_own_resources() -> None:
    template = tpl.build_template()
    role = resources(template, "AWS::IAM::Role")[tpl.ROLE]  # the function's
    (policy,) = role["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement["Action"])
        assert statement["Resource"] != "*"
    actions = {action for s in statements for action in s["Action"]}
    assert "dynamodb:Scan" not in actions and "dynamodb:DeleteTable" not in actions
    assert {"kms:GenerateDataKey", "kms:Decrypt", "sqs:ReceiveMessage"} <= actions


def changed_template() -> str:
    """The template with two settings changed: the queue's visibility timeout and the
    listing shards' default."""
    template = tpl.build_template()
    template["Resources"][tpl.QUEUE]["Properties"]["VisibilityTimeout"] = 123
    template["Parameters"]["ListShards"]["Default"] = 3
    return tpl.render(template)


async def test_a_template_change_reaches_the_emulator() -> None:
    world = start_embedded_world(template=changed_template())
    try:
        assert world.config.list_shards == 3
        url = world.config.queue
        attributes = world.aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        assert attributes["Attributes"]["VisibilityTimeout"] == "123"
        redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
        assert redrive["maxReceiveCount"] == 5
    finally:
        await world.close()


async def test_the_emulator_gets_its_names_from_the_stack() -> None:
    world = start_embedded_world(prefix="parity", max_receives=7)
    try:
        config = world.config
        assert config.events_table == "parity-events"
        assert config.bucket.startswith("parity-payloads-")
        assert config.queue.endswith("/parity-work")
        assert config.kms_key.startswith("arn:aws:kms:")
        assert config.max_receives == 7
        described = world.aws.dynamodb.describe_table(TableName=config.runs_table)["Table"]
        assert {i["IndexName"] for i in described["GlobalSecondaryIndexes"]} == {
            "by_status",
            "by_workflow",
            "by_time",
            "by_attr",
        }
    finally:
        await world.close()


def test_a_stack_without_steplane_outputs_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="is it a steplane stack"):
        stack_outputs.config_from_outputs({"Prefix": "shop"})


def test_the_function_gets_only_the_secrets_arn_and_may_read_that_one_secret() -> None:
    template = tpl.build_template()
    variables = template["Resources"][tpl.FUNCTION]["Properties"]["Environment"]["Variables"]
    assert variables["STEPLANE_SECRETS_ARN"] == {"Ref": tpl.SECRET}
    for name in tpl.SECRET_PARAMETERS:  # the values feed the secret, never the environment
        assert {"Ref": name} not in variables.values()
        assert template["Parameters"][name]["NoEcho"] is True
    secret = template["Resources"][tpl.SECRET]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Condition"] == "CreateFunction"  # the emulator's stack: `steplane dev` makes it
    generated = secret["Properties"]["GenerateSecretString"]["Fn::If"][2]
    assert generated["GenerateStringKey"] == "signing_secret"
    assert generated["PasswordLength"] >= 32
    role = resources(template, "AWS::IAM::Role")[tpl.ROLE]  # the function's
    statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (reads,) = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert reads["Action"] == ["secretsmanager:GetSecretValue"]
    assert reads["Resource"] == {"Ref": tpl.SECRET}


def test_the_secrets_json_cannot_be_broken_out_of_by_a_parameter() -> None:
    """The parameters are spliced into the secret's JSON: a quote must be refused by the
    template's AllowedPattern (checked by `steplane deploy` before anything happens)."""
    from infra.parameters import ParameterError, check_parameters

    declared = tpl.build_template()["Parameters"]
    with pytest.raises(ParameterError, match=r"ApiKeys=\(hidden: NoEcho\): must match"):
        check_parameters(declared, {"ApiKeys": 'k","api_keys":"evil'})
    with pytest.raises(ParameterError, match="SigningSecret"):
        check_parameters(declared, {"SigningSecret": 'a"b'})
    check_parameters(declared, {"ApiKeys": "key-1,key_2", "SigningSecret": "s3cr3t+/="})
