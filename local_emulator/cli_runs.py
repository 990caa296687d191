"""`steplane runs ...` and `steplane hooks resume`: look at and act on runs in a World.

The World is the running `steplane dev` emulator found from its state file, or the one the
environment configures (`STEPLANE_WORLD`, `STEPLANE_STACK`, AWS variables). `--json` output is
machine-readable only; tables and notes go to the terminal.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from steplane.adapters.worlds import register as register_worlds
from steplane.runtime.attributes import parse_filter
from steplane.runtime.client import Client
from steplane.runtime.config import world_from_env
from steplane.runtime.describe import SUMMARY_FIELDS, event_json, run_summary, run_values
from steplane.runtime.engine.audit import record_decrypt
from steplane.runtime.engine.events import RunStatus
from steplane.runtime.errors import ConfigurationError
from steplane.runtime.world import World

from .dev_state import read_state

T = TypeVar("T")
console = Console()


def open_world() -> World:
    """The World the commands act on (see module docstring)."""
    if os.environ.get("STEPLANE_WORLD") or os.environ.get("STEPLANE_STACK"):
        register_worlds()  # also when run from a source checkout (no entry points)
        return world_from_env()
    state = read_state()
    if state is None:
        raise ConfigurationError(
            "no World to talk to: start `steplane dev MODULE` in this directory, "
            "or set STEPLANE_WORLD=aws (with the AWS variables) or STEPLANE_STACK"
        )
    from steplane.adapters.aws import AwsWorld
    from steplane.adapters.aws.stack_outputs import config_from_stack

    config = config_from_stack(
        state.prefix,  # `steplane dev` names its stack after its prefix
        endpoint_url=state.endpoint_url,
        region=state.region,
        access_key_id="testing",
        secret_access_key="testing",
    )
    return AwsWorld(config)


def with_client(action: Callable[[Client], Awaitable[T]]) -> T:
    """Run `action` with a client of the commands' World (closed after); the process's
    current World is never touched."""

    async def main() -> T:
        client = Client(open_world())
        try:
            return await action(client)
        finally:
            await client.world.close()

    return asyncio.run(main())


def actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} (steplane cli, pid {os.getpid()})"


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_rows(
    rows: list[dict[str, Any]],
    as_json: bool,
    columns: tuple[str, ...],
    cells: Callable[[dict[str, Any]], list[str]],
    empty: str,
) -> None:
    """`rows` as JSON (`--json`), else as a table of `columns` filled by `cells(row)`."""
    if as_json:
        print_json(rows)
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*cells(row))
    console.print(table if rows else empty)


async def read_events(client: Client, run_id: str, decrypt: bool) -> list[dict[str, Any]]:
    """The run's events as JSON; with `decrypt`, in the clear after an audit record."""
    run = client.get_run(run_id)
    if decrypt:
        await run.record()  # an unknown run is an error, not an audited read
        await record_decrypt(client.world, run_id, actor=actor(), via="cli")
    return [event_json(event) for event in await run.events(decrypt=decrypt)]


@click.group()
def runs() -> None:
    """List, inspect and cancel runs."""


@runs.command("list")
@click.option("--status", type=click.Choice([s.value for s in RunStatus]))
@click.option("--workflow", "workflow_name", help="Only runs of this workflow.")
@click.option("--deployment", help="Only runs pinned to this deployment.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option(
    "--attr",
    "attrs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Only runs whose set_attributes() recorded NAME=VALUE (repeat: all must match).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_runs(
    status: str | None,
    workflow_name: str | None,
    deployment: str | None,
    limit: int,
    attrs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Runs, newest first."""
    try:
        attributes = dict(parse_filter(text) for text in attrs)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--attr") from None

    async def action(client: Client) -> list[dict[str, Any]]:
        page = await client.list(
            status=status,
            workflow=workflow_name,
            limit=limit,
            attributes=attributes,
            deployment=deployment,
        )
        return [run_summary(record) for record in page.items]

    print_rows(
        with_client(action),
        as_json,
        ("run", "workflow", "status", "created", "deployment", "error"),
        lambda r: [
            r["run_id"],
            r["workflow"],
            r["status"],
            r["created_at"][:19].replace("T", " "),
            r["deployment"] or "",
            r["error_code"] or "",
        ],
        empty="no runs",
    )


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--decrypt", is_flag=True, help="Include input and result (audited).")
def show_run(run_id: str, as_json: bool, decrypt: bool) -> None:
    """One run: status, timestamps, its steps (attempts, outcomes), and with --decrypt its
    input and result."""

    async def action(client: Client) -> dict[str, Any]:
        run = client.get_run(run_id)
        shown = run_summary(await run.record())
        if decrypt:
            shown |= run_values(await read_events(client, run_id, decrypt=True))
        shown["steps"] = (await run.timeline())["steps"]
        return shown

    shown = with_client(action)
    if as_json:
        print_json(shown)
        return
    steps = shown.pop("steps")
    for key, value in shown.items():
        console.print(f"[bold]{key}[/bold]: {json.dumps(value, ensure_ascii=False)}")
    for step in steps:
        tries = len(step["attempts"])
        console.print(
            f"  step {step['step_name']} ({step['step_id']}): {step['status']}"
            + (f" after {tries} attempts" if tries > 1 else "")
        )


@runs.command("events")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--decrypt", is_flag=True, help="Show payloads in the clear (audited).")
def run_events(run_id: str, as_json: bool, decrypt: bool) -> None:
    """A run's event log; payloads stay ciphertext unless --decrypt."""
    print_rows(
        with_client(lambda client: read_events(client, run_id, decrypt)),
        as_json,
        ("seq", "time", "type", "id", "details"),
        lambda e: [
            str(e["seq"]),
            e["created_at"][11:23],
            e["type"],
            e["correlation_id"] or "",
            json.dumps({k: v for k, v in e.items() if k not in SUMMARY_FIELDS}, ensure_ascii=False)[
                :120
            ],
        ],
        empty="no events",
    )


@runs.command("cancel")
@click.argument("run_id")
def cancel_run(run_id: str) -> None:
    """Cancel a run: no new step starts, its waits and hooks are dropped."""
    click.echo(f"{run_id}: {with_client(lambda client: client.cancel(run_id))}")


@runs.command("fork")
@click.argument("run_id")
@click.option(
    "--from-step",
    "from_step",
    type=click.IntRange(1),
    required=True,
    help="Reuse the recorded results of the steps before step N (step_N_... in `runs events`).",
)
def fork_run(run_id: str, from_step: int) -> None:
    """Start a new run that reuses RUN_ID's steps before N and runs the rest on the current
    code (after fixing the bug a run failed on)."""
    try:
        run = with_client(lambda client: client.fork(run_id, from_step))
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"forked {run_id} from step {from_step}: {run.run_id}")


@runs.command("rerun")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rerun_run(run_id: str, as_json: bool) -> None:
    """Start a new run of RUN_ID's workflow with the same input, linked to it (rerun_of)."""

    async def action(client: Client) -> dict[str, Any]:
        run = await client.rerun(run_id)
        record = await run.record()
        return {"run_id": run.run_id, "rerun_of": run_id, "workflow": record.workflow_name}

    started = with_client(action)
    if as_json:
        click.echo(json.dumps(started))
    else:
        click.echo(f"{started['run_id']}: rerun of {run_id} ({started['workflow']})")


@click.group()
def hooks() -> None:
    """List live hooks, deliver payloads to them."""


@hooks.command("resume")
@click.argument("token")
@click.argument("payload_json")
@click.option(
    "--idempotency-key",
    default=None,
    help="Deliver at most once per key: a retried command does not deliver twice.",
)
def resume(token: str, payload_json: str, idempotency_key: str | None) -> None:
    """Send PAYLOAD_JSON to the live hook holding TOKEN."""
    try:
        payload = json.loads(payload_json)
    except ValueError as error:
        raise click.BadParameter(f"not JSON ({error})", param_hint="PAYLOAD_JSON") from None
    # plain JSON, like the webhook
    run_id = with_client(
        lambda client: client.resume_hook(token, payload, idempotency_key=idempotency_key)
    )
    click.echo(f"delivered to run {run_id}")
