"""`steplane schedules list|pause|resume|trigger`: the schedules of the workflows in MODULEs.

Schedules are declared in code (`@workflow(schedule=...)`), so every command imports the
modules that declare them (`--module`, repeatable, or `STEPLANE_MODULES`, comma-separated).
Pausing is a flag in the World's coordination store that every fire checks: the emulator's,
and the Lambda handler's for EventBridge Scheduler's. `trigger` starts a run now.
"""

from __future__ import annotations

import importlib
import os
import sys
from datetime import UTC, datetime
from typing import Any

import click

from steplane.runtime.client import Client
from steplane.runtime.schedules import registered_schedules
from steplane.runtime.scheduling import find_schedule, fire, is_paused, set_paused

from .cli_runs import print_json, print_rows, with_client

_MODULE = click.option(
    "--module",
    "modules",
    multiple=True,
    help="A module declaring scheduled workflows (default: STEPLANE_MODULES).",
)


def _import(modules: tuple[str, ...]) -> None:
    names = list(modules) or [m for m in os.environ.get("STEPLANE_MODULES", "").split(",") if m]
    if not names:
        raise click.UsageError("name the modules that declare schedules: --module MODULE")
    if os.getcwd() not in sys.path:  # the current directory is importable, as for `run`
        sys.path.insert(0, os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise click.ClickException(f"cannot import {name!r}: {error}") from None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


@click.group("schedules")
def schedules() -> None:
    """List, pause, resume or trigger workflow schedules."""


@schedules.command("list")
@_MODULE
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_schedules(modules: tuple[str, ...], as_json: bool) -> None:
    """Every schedule, whether it is paused, and when it fires next."""
    _import(modules)

    async def action(client: Client) -> list[dict[str, Any]]:
        now = client.world.clock.time()
        return [
            {
                "workflow": s.name,
                "expression": s.expression,
                "paused": await is_paused(client.world, s.name),
                "next": _iso(s.next_after(now)),
            }
            for s in registered_schedules()
        ]

    rows = with_client(action)
    print_rows(
        rows,
        as_json,
        ("workflow", "expression", "paused", "next fire (UTC)"),
        lambda r: [r["workflow"], r["expression"], "yes" if r["paused"] else "no", r["next"]],
        "no schedules in these modules",
    )


def _toggle(name: str, modules: tuple[str, ...], paused: bool) -> None:
    _import(modules)
    find_schedule(name)  # a clear error for an unknown name, before touching the World

    async def action(client: Client) -> None:
        await set_paused(client.world, name, paused)

    with_client(action)
    print_json({"workflow": name, "paused": paused})


@schedules.command("pause")
@click.argument("workflow")
@_MODULE
def pause(workflow: str, modules: tuple[str, ...]) -> None:
    """Stop starting runs of WORKFLOW's schedule (fires are skipped) until `resume`."""
    _toggle(workflow, modules, True)


@schedules.command("resume")
@click.argument("workflow")
@_MODULE
def resume(workflow: str, modules: tuple[str, ...]) -> None:
    """Start runs on WORKFLOW's schedule again."""
    _toggle(workflow, modules, False)


@schedules.command("trigger")
@click.argument("workflow")
@_MODULE
def trigger(workflow: str, modules: tuple[str, ...]) -> None:
    """Start one run of WORKFLOW now, paused or not; prints its run id."""
    _import(modules)
    schedule = find_schedule(workflow)

    async def action(client: Client) -> str:
        run = await fire(client.world, schedule, client.world.clock.time(), manual=True)
        assert run is not None
        return run.run_id

    print_json({"workflow": workflow, "run_id": with_client(action)})
