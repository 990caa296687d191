"""`steplane deployments list`, `steplane replay-check` and `steplane runs upgrade`: which
deployments hold live runs, and moving a run to another deployment's code only when its
history replays there (docs/deployments.md).

The World is the one `steplane runs ...` use (cli_runs.open_world). `replay-check` and
`runs upgrade` replay against the workflow code this process imports: the MODULES given
(`--module`, default `STEPLANE_MODULES`), from the code directory of that deployment when
`steplane dev --reload` keeps one (`.steplane/deployments/ID/`), else from the current
directory. They never run a step.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from steplane.runtime.client import Client
from steplane.runtime.describe import run_summary
from steplane.runtime.engine.upgrade import (
    LIVE_STATUSES,
    ReplayReport,
    UpgradeRefused,
    check_replay,
    live_runs_by_deployment,
    upgrade_run,
)
from steplane.runtime.ids import check_deployment_id

from .cli_runs import actor, console, print_json, print_rows, with_client
from .dev_state import state_path

MODULES_ENV = "STEPLANE_MODULES"


def deployment_code_dir(deployment: str) -> Path:
    """Where `steplane dev --reload` keeps a copy of deployment `deployment`'s code."""
    return state_path().parent / "deployments" / deployment


def load_code(deployment: str, modules: tuple[str, ...]) -> list[str]:
    """Import `deployment`'s workflow modules into this process; their names."""
    names = list(modules) or [m for m in os.environ.get(MODULES_ENV, "").split(",") if m]
    if not names:
        raise click.UsageError(
            f"name the workflow modules of deployment {deployment} (--module, or {MODULES_ENV})"
        )
    copy = deployment_code_dir(deployment)
    root = str(copy if copy.is_dir() else Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise click.ClickException(f"cannot import {name!r} from {root}: {error}") from None
    return names


def _deployment(value: str) -> str:
    try:
        return check_deployment_id(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.group()
def deployments() -> None:
    """Deployments and their live runs."""


def stack_deployments() -> list[str]:
    """The live deployments of the stack the commands act on (`STEPLANE_STACK`, or the
    `steplane dev` session's), oldest first; [] when there is no stack to ask."""
    import boto3

    from steplane.infra.deploy import deployed_deployments

    from .dev_state import read_state

    stack = os.environ.get("STEPLANE_STACK")
    if stack:
        return deployed_deployments(boto3.client("cloudformation"), stack)
    state = read_state()
    if state is None or os.environ.get("STEPLANE_WORLD"):
        return []
    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=state.endpoint_url,
        region_name=state.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return deployed_deployments(cloudformation, state.prefix)


@deployments.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_deployments(as_json: bool) -> None:
    """The stack's live deployments (newest last) and any other deployment that still has
    runs, with how many live (pending or running) runs each holds."""

    async def action(client: Client) -> list[dict[str, Any]]:
        counts = await live_runs_by_deployment(client.world)
        live = stack_deployments()
        others = sorted((d for d in counts if d not in live), key=lambda d: d or "")
        newest = live[-1] if live else None
        return [
            {"deployment": d, "live_runs": counts.get(d, 0), "newest": d == newest}
            for d in [*live, *others]
        ]

    print_rows(
        with_client(action),
        as_json,
        ("deployment", "live runs", ""),
        lambda r: [
            r["deployment"] or "(unpinned)",
            str(r["live_runs"]),
            "newest" if r["newest"] else "",
        ],
        empty="no deployments and no live runs",
    )


def _print_reports(reports: list[ReplayReport], as_json: bool, deployment: str) -> None:
    if as_json:
        print_json([r.as_dict() for r in reports])
        return
    if not reports:
        console.print(f"no live runs to check against {deployment}")
    for r in reports:
        if r.ok:
            console.print(
                f"{r.run_id} ({r.workflow_name}, on {r.deployment}): replays on {deployment}"
            )
        else:
            where = f"at position {r.position} ({r.command_id}): " if r.position is not None else ""
            console.print(
                f"{r.run_id} ({r.workflow_name}, on {r.deployment}): DIVERGES on {deployment} "
                f"{where}{r.reason}"
            )


@click.command("replay-check")
@click.option("--deployment", "deployment", required=True, help="The deployment to check against.")
@click.option("--runs", "run_ids", multiple=True, help="Only these runs (default: every live run).")
@click.option("--module", "modules", multiple=True, help="That deployment's workflow modules.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def replay_check(
    deployment: str, run_ids: tuple[str, ...], modules: tuple[str, ...], as_json: bool
) -> None:
    """Replay live runs' histories against DEPLOYMENT's code: would they diverge, and where.
    Exit 1 when one would."""
    deployment = _deployment(deployment)
    load_code(deployment, modules)

    async def action(client: Client) -> list[ReplayReport]:
        ids = list(run_ids)
        if not ids:
            for status in LIVE_STATUSES:
                page = await client.list(status=status, limit=1000)
                ids += [r.run_id for r in page.items if r.deployment != deployment]
        return [await check_replay(client.world, run_id, actor=actor()) for run_id in ids]

    reports = with_client(action)
    _print_reports(reports, as_json, deployment)
    if not all(r.ok for r in reports):
        sys.exit(1)


@click.command("upgrade")
@click.argument("run_id")
@click.option("--to", "deployment", required=True, help="The deployment to move the run to.")
@click.option("--module", "modules", multiple=True, help="That deployment's workflow modules.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def upgrade(run_id: str, deployment: str, modules: tuple[str, ...], as_json: bool) -> None:
    """Move a live run to another deployment, only if its history replays on that code."""
    deployment = _deployment(deployment)
    load_code(deployment, modules)

    async def action(client: Client) -> dict[str, Any]:
        await upgrade_run(client.world, run_id, deployment, actor=actor())
        return run_summary(await client.get_run(run_id).record())

    try:
        shown = with_client(action)
    except UpgradeRefused as refused:
        raise click.ClickException(f"not upgraded: {refused}") from None
    if as_json:
        print_json(shown)
    else:
        console.print(f"{run_id}: now on deployment {json.dumps(shown['deployment'])}")
