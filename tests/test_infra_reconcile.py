"""The reconciler's schedule in the template: an EventBridge rule invokes the function with a
Scheduled Event every `ReconcileRate`; the function re-wakes runs stalled for `StallSeconds`."""

from __future__ import annotations

from typing import Any

import pytest

from infra import template as tpl
from infra.deploy import deploy
from infra.parameters import ParameterError, check_parameters
from tests.test_infra_deploy import client, endpoint  # noqa: F401  (the moto fixture)


def test_a_rule_invokes_the_function_on_the_reconcile_rate() -> None:
    resources = tpl.build_template()["Resources"]
    rule = resources[tpl.RECONCILE_RULE]
    assert rule["Type"] == "AWS::Events::Rule"
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": "ReconcileRate"}
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [tpl.FUNCTION, "Arn"]}
    permission = resources[tpl.RECONCILE_PERMISSION]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": [tpl.RECONCILE_RULE, "Arn"]}
    variables = resources[tpl.FUNCTION]["Properties"]["Environment"]["Variables"]
    assert variables["STEPLANE_STALL_SECONDS"] == {"Ref": "StallSeconds"}


@pytest.mark.parametrize(
    "rate", ["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(2 days)"]
)
def test_eventbridge_rate_expressions_are_accepted(rate: str) -> None:
    check_parameters(tpl.build_template()["Parameters"], {"ReconcileRate": rate})


@pytest.mark.parametrize(
    "rate", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "5 minutes", "cron(* * *)"]
)
def test_a_bad_rate_is_refused_naming_the_parameter(rate: str) -> None:
    with pytest.raises(ParameterError, match="ReconcileRate"):
        check_parameters(tpl.build_template()["Parameters"], {"ReconcileRate": rate})


def test_a_stall_time_under_ten_seconds_is_refused() -> None:
    with pytest.raises(ParameterError, match="StallSeconds"):
        check_parameters(tpl.build_template()["Parameters"], {"StallSeconds": "3"})


def test_the_deployed_rule_targets_the_function(endpoint: str) -> None:  # noqa: F811
    done = deploy(
        "recon",
        endpoint_url=endpoint,
        vendor=False,
        progress=lambda _: None,
        parameters={"ReconcileRate": "rate(2 minutes)", "StallSeconds": "120"},
    )
    events: Any = client("events", endpoint)
    (rule,) = [r for r in events.list_rules()["Rules"] if r["ScheduleExpression"]]
    assert rule["ScheduleExpression"] == "rate(2 minutes)"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    function = client("lambda", endpoint).get_function(FunctionName=done.outputs["FunctionName"])
    assert target["Arn"] == function["Configuration"]["FunctionArn"]
    variables = function["Configuration"]["Environment"]["Variables"]
    assert str(variables["STEPLANE_STALL_SECONDS"]) == "120"
