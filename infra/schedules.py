"""Workflow schedules on AWS: one EventBridge Scheduler schedule per scheduled workflow.

`deploy` calls `sync_schedules` after the stack is up: it makes sure the stack's schedule
group exists (the template declares it; moto's CloudFormation cannot create one, so it is
created through the Scheduler API when missing), creates or updates a schedule for every
workflow registered with `schedule=` in the deployed modules, and deletes the group's
schedules no workflow declares any more. Each schedule invokes the function with

    {"source": "steplane.schedule", "schedule": <workflow name>,
     "time": "<aws.scheduler.scheduled-time>"}

which `adapters.lambda_handler.handler` turns into one run (idempotency key per fire time,
so Scheduler's at-least-once delivery starts one run). Pausing is steplane's own flag
(`steplane schedules pause`), honoured by the handler, so the same command works locally.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from steplane.adapters.lambda_handler import SCHEDULE_SOURCE
from steplane.runtime.schedules import Schedule

_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]+")


def schedule_name(workflow_name: str) -> str:
    """A Scheduler name (letters, digits, `-_.`, at most 64) unique per workflow name."""
    digest = hashlib.sha256(workflow_name.encode()).hexdigest()[:10]
    return f"{_UNSAFE.sub('-', workflow_name)[:50]}-{digest}"


def schedule_input(workflow_name: str) -> str:
    return json.dumps(
        {
            "source": SCHEDULE_SOURCE,
            "schedule": workflow_name,
            "time": "<aws.scheduler.scheduled-time>",
        }
    )


def sync_schedules(
    scheduler: Any, group: str, function_arn: str, role_arn: str, schedules: Iterable[Schedule]
) -> list[str]:
    """Make the group's schedules match `schedules`; returns the names now in the group."""
    try:
        scheduler.get_schedule_group(Name=group)
    except scheduler.exceptions.ResourceNotFoundException:
        scheduler.create_schedule_group(Name=group)
    existing = {
        s["Name"]
        for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group)
        for s in page["Schedules"]
    }
    wanted = []
    for schedule in schedules:
        name = schedule_name(schedule.name)
        request = {
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": schedule.expression,
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": {
                "Arn": function_arn,
                "RoleArn": role_arn,
                "Input": schedule_input(schedule.name),
            },
        }
        if name in existing:
            scheduler.update_schedule(**request)
        else:
            scheduler.create_schedule(**request)
        wanted.append(name)
    for stale in existing - set(wanted):
        scheduler.delete_schedule(Name=stale, GroupName=group)
    return sorted(wanted)
