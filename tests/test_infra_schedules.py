"""Workflow schedules on AWS (infra/schedules.py): the template declares the Scheduler
resources, deploy puts one schedule per scheduled workflow on a moto server, and the
event such a schedule sends reaches the Lambda handler, which starts one run per fire."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from adapters import lambda_handler
from infra.deploy import deploy
from infra.schedules import schedule_input, schedule_name, sync_schedules
from infra.template import build_template
from runtime.schedules import registered_schedules
from tests.engine import schedule_workflows

NAME = "tests.engine.schedule_workflows:hourly"


def test_the_template_declares_the_scheduler_group_and_role() -> None:
    resources = build_template()["Resources"]
    assert resources["ScheduleGroup"]["Type"] == "AWS::Scheduler::ScheduleGroup"
    role = resources["SchedulerRole"]["Properties"]
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "scheduler.amazonaws.com"}
    statement = role["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert statement["Action"] == "lambda:InvokeFunction"


def test_deploy_puts_one_schedule_per_scheduled_workflow_on_a_moto_server(
    deploy_endpoint: str,
) -> None:
    url = deploy_endpoint
    done = deploy(
        "sched",
        endpoint_url=url,
        vendor=False,
        modules=["tests.engine.schedule_workflows"],
        progress=lambda line: None,
    )
    scheduler = boto3.client("scheduler", endpoint_url=url, region_name="us-east-1")
    listed = scheduler.list_schedules(GroupName="sched-schedules")["Schedules"]
    assert [s["Name"] for s in listed] == [schedule_name(NAME)]
    found = scheduler.get_schedule(Name=schedule_name(NAME), GroupName="sched-schedules")
    assert found["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert found["Target"]["Arn"] == done.outputs["FunctionArn"]
    assert json.loads(found["Target"]["Input"])["schedule"] == NAME
    # A second sync with the workflow gone deletes its schedule.
    sync_schedules(scheduler, "sched-schedules", done.outputs["FunctionArn"], "", [])
    assert scheduler.list_schedules(GroupName="sched-schedules")["Schedules"] == []


def test_a_fire_reaches_the_handler_and_starts_one_run_per_fire_time() -> None:
    from adapters.memory import MemoryWorld
    from runtime.config import set_world

    assert schedule_workflows.hourly in [s.workflow.fn for s in registered_schedules()]
    world = MemoryWorld()
    previous = set_world(world)
    try:
        event: dict[str, Any] = json.loads(schedule_input(NAME))
        event["time"] = "2026-12-02T09:00:00Z"
        first = lambda_handler.handler(event, None)
        again = lambda_handler.handler(event, None)  # Scheduler delivers at least once
        assert first["run_id"] and first["run_id"] == again["run_id"]
        event["time"] = "2026-12-02T10:00:00Z"
        assert lambda_handler.handler(event, None)["run_id"] != first["run_id"]
        with pytest.raises(ValueError, match="ISO 8601"):
            lambda_handler.handler({**event, "time": "soon"}, None)
    finally:
        set_world(previous)
