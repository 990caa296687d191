"""A scheduled workflow for tests/engine/test_schedules.py (registered at import)."""

from __future__ import annotations

from runtime import get_workflow_metadata, schedule, workflow


@schedule("cron(0 * * * ? *)")  # at the top of every hour
@workflow
async def hourly() -> str:
    return get_workflow_metadata().run_id
