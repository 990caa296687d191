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

from runtime import serde
from runtime.config import set_world, world_from_env
from runtime.context import utc
from runtime.engine.audit import record_decrypt
from runtime.engine.codec import codecs_for
from runtime.engine.events import Event, RunStatus
from runtime.errors import ConfigurationError, RunNotFoundError
from runtime.runs import Run, resume_hook
from runtime.world import RunRecord, World

from .dev_state import read_state

T = TypeVar("T")
SUMMARY_COLUMNS = ("seq", "type", "created_at", "event_id", "correlation_id")
BLOB_ATTRS = ("blob", "blob_size")
console = Console()


def open_world() -> World:
    """The World the commands act on (see module docstring)."""
    if os.environ.get("STEPLANE_WORLD") or os.environ.get("STEPLANE_STACK"):
        return world_from_env()
    state = read_state()
    if state is None:
        raise ConfigurationError(
            "no World to talk to: start `steplane dev MODULE` in this directory, "
            "or set STEPLANE_WORLD=aws (with the AWS variables) or STEPLANE_STACK"
        )
    from adapters.aws import AwsWorld
    from adapters.aws.stack_outputs import config_from_stack

    config = config_from_stack(
        state.prefix,  # `steplane dev` names its stack after its prefix
        endpoint_url=state.endpoint_url,
        region=state.region,
        access_key_id="testing",
        secret_access_key="testing",
    )
    return AwsWorld(config)


def with_world(action: Callable[[World], Awaitable[T]]) -> T:
    async def main() -> T:
        world = open_world()
        previous = set_world(world)
        try:
            return await action(world)
        finally:
            set_world(previous)
            await world.close()

    return asyncio.run(main())


def actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} (steplane cli, pid {os.getpid()})"


def record_json(record: RunRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "workflow": record.workflow_name,
        "status": str(record.status),
        "created_at": utc(record.created_at).isoformat(),
        "updated_at": utc(record.updated_at).isoformat(),
        "completed_at": utc(record.completed_at).isoformat() if record.completed_at else None,
        "parent_run_id": record.parent_run_id,
        "error_code": record.error_code,
    }


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


async def get_record(world: World, run_id: str) -> RunRecord:
    record = await world.runs.get(run_id)
    if record is None:
        raise RunNotFoundError(f"no run {run_id!r} in this World")
    return record


@click.group()
def runs() -> None:
    """List, inspect and cancel runs."""


@runs.command("list")
@click.option("--status", type=click.Choice([s.value for s in RunStatus]))
@click.option("--workflow", "workflow_name", help="Only runs of this workflow.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_runs(status: str | None, workflow_name: str | None, limit: int, as_json: bool) -> None:
    """Runs, newest first."""

    async def action(world: World) -> list[RunRecord]:
        page = await world.runs.list(
            status=RunStatus(status) if status else None, workflow_name=workflow_name, limit=limit
        )
        return page.items

    records = with_world(action)
    if as_json:
        print_json([record_json(r) for r in records])
        return
    table = Table("run", "workflow", "status", "created", "error")
    for r in records:
        created = utc(r.created_at).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(r.run_id, r.workflow_name, str(r.status), created, r.error_code or "")
    console.print(table if records else "no runs")


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--decrypt", is_flag=True, help="Include input and result (audited).")
def show_run(run_id: str, as_json: bool, decrypt: bool) -> None:
    """One run: status, timestamps, and with --decrypt its input and result."""

    async def action(world: World) -> dict[str, Any]:
        shown = record_json(await get_record(world, run_id))
        if decrypt:
            await record_decrypt(world, run_id, actor=actor(), via="cli")
            events = await Run(run_id, world).events()
            created = next((e for e in events if e["type"] == "run_created"), None)
            last = events[-1] if events else None
            shown["input"] = serde.to_jsonable(created.get("data") if created else None)
            if last is not None and last["type"] in ("run_completed", "run_failed"):
                shown["outcome"] = serde.to_jsonable(last.get("data"))
        return shown

    shown = with_world(action)
    if as_json:
        print_json(shown)
        return
    for key, value in shown.items():
        console.print(f"[bold]{key}[/bold]: {json.dumps(value, ensure_ascii=False)}")


@runs.command("events")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--decrypt", is_flag=True, help="Show payloads in the clear (audited).")
def run_events(run_id: str, as_json: bool, decrypt: bool) -> None:
    """A run's event log; payloads stay ciphertext unless --decrypt."""

    async def action(world: World) -> list[dict[str, Any]]:
        await get_record(world, run_id)
        events = await world.log.read(run_id)
        codec = None
        if decrypt:
            await record_decrypt(world, run_id, actor=actor(), via="cli")
            codec = await codecs_for(world).get(run_id)
        return [await describe(event, codec) for event in events]

    events = with_world(action)
    if as_json:
        print_json(events)
        return
    table = Table("seq", "time", "type", "id", "details")
    for e in events:
        details = {
            k: v
            for k, v in e.items()
            if k not in ("seq", "type", "created_at", "event_id", "correlation_id")
        }
        table.add_row(
            str(e["seq"]),
            e["created_at"][11:23],
            e["type"],
            e["correlation_id"] or "",
            json.dumps(details, ensure_ascii=False)[:120],
        )
    console.print(table)


async def describe(event: Event, codec: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "seq": event.seq,
        "type": event.type,
        "created_at": utc(event.created_at).isoformat(),
        "event_id": event.event_id,
        "correlation_id": event.correlation_id,
        **{k: serde.to_jsonable(v) for k, v in event.public_attrs.items()},
    }
    has_payload = event.has_payload
    if has_payload and codec is not None:
        entry["data"] = serde.to_jsonable(await codec.open(event))
    elif has_payload:
        size = event.attrs.get("blob_size") or len(event.payload or b"")
        entry["payload"] = {"encrypted": True, "bytes": size}
    return entry


@runs.command("cancel")
@click.argument("run_id")
def cancel_run(run_id: str) -> None:
    """Cancel a run: no new step starts, its waits and hooks are dropped."""

    async def action(world: World) -> str:
        await get_record(world, run_id)
        await Run(run_id, world).cancel()
        return await Run(run_id, world).status()

    click.echo(f"{run_id}: {with_world(action)}")


@click.group()
def hooks() -> None:
    """Deliver payloads to hooks."""


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

    async def action(world: World) -> str:
        # plain JSON, like the webhook
        return await resume_hook(token, payload, idempotency_key=idempotency_key)

    click.echo(f"delivered to run {with_world(action)}")
