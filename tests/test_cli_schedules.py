"""`steplane schedules list|pause|resume|trigger` as a user runs them, against the AWS World
on a moto server (the pause flag lives in the World's coordination table)."""

from __future__ import annotations

import json

import pytest

from runtime.scheduling import is_paused
from tests.test_cli_repair import steplane, world  # noqa: F401  (the fixture)

NAME = "tests.engine.schedule_workflows:hourly"
MODULE = ("--module", "tests.engine.schedule_workflows")


async def test_list_pause_resume_and_trigger(world) -> None:  # noqa: F811
    listed = steplane(world, "schedules", "list", *MODULE, "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["workflow"] == NAME and row["expression"] == "cron(0 * * * ? *)"
    assert row["paused"] is False and row["next"].endswith(":00:00+00:00")

    assert steplane(world, "schedules", "pause", NAME, *MODULE).returncode == 0
    assert await is_paused(world, NAME)
    assert json.loads(steplane(world, "schedules", "list", *MODULE, "--json").stdout)[0]["paused"]
    assert steplane(world, "schedules", "resume", NAME, *MODULE).returncode == 0
    assert not await is_paused(world, NAME)

    triggered = steplane(world, "schedules", "trigger", NAME, *MODULE)
    assert triggered.returncode == 0, triggered.stderr
    run_id = json.loads(triggered.stdout)["run_id"]
    assert (await world.runs.get(run_id)).workflow_name == NAME


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("schedules", "pause", "nope", *MODULE), "no schedule 'nope'"),
        (("schedules", "list"), "--module"),
    ],
)
async def test_bad_schedule_commands_are_one_clear_line(world, args, error) -> None:  # noqa: F811
    done = steplane(world, *args)
    assert done.returncode != 0
    assert error in done.stderr
    assert "Traceback" not in done.stderr
