"""The template's function timeout, queue visibility and retention, and deploy's check that
the visibility timeout is at least 6x the function timeout."""

from __future__ import annotations

import json

import pytest

from infra import template as tpl
from infra.deploy import DeployError, check_visibility


def test_timeout_may_reach_lambdas_limit_and_the_queue_keeps_messages_14_days() -> None:
    built = tpl.build_template()
    timeout = built["Parameters"]["Timeout"]
    assert timeout["MaxValue"] == 900
    queue = built["Resources"][tpl.QUEUE]["Properties"]
    assert queue["VisibilityTimeout"] == {"Ref": "VisibilityTimeout"}
    assert queue["MessageRetentionPeriod"] == 1209600
    assert built["Parameters"]["VisibilityTimeout"]["Default"] == 6 * timeout["Default"]
    variables = built["Resources"][tpl.FUNCTION]["Properties"]["Environment"]["Variables"]
    assert variables["STEPLANE_VISIBILITY_SECONDS"] == {"Ref": "VisibilityTimeout"}


@pytest.mark.parametrize(
    ("parameters", "ok"),
    [
        ({}, True),  # the defaults: 60 s and 360 s
        ({"Timeout": "900", "VisibilityTimeout": "5400"}, True),
        ({"Timeout": "900"}, False),  # 360 s visibility for a 900 s function
        ({"Timeout": "120", "VisibilityTimeout": "719"}, False),
    ],
)
def test_deploy_refuses_a_visibility_under_six_function_timeouts(parameters, ok) -> None:
    text = tpl.render()
    if ok:
        check_visibility(text, parameters)
        return
    with pytest.raises(DeployError, match=r"VisibilityTimeout .* less than 6 x Timeout"):
        check_visibility(text, parameters)


def test_a_non_numeric_timeout_is_named() -> None:
    with pytest.raises(DeployError, match="parameter Timeout"):
        check_visibility(json.dumps(tpl.build_template()), {"Timeout": "soon"})
