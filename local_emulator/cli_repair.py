"""`steplane runs repair` and `steplane dlq list|redrive`: bring stalled runs back by hand.

The same recovery the reconciler runs on its schedule (runtime/engine/recovery.py), on demand: a
repaired run gets exactly its pending work that is not in flight sent again, whatever happened
to the messages before. Dead letters are the messages the queue gave up on after
`max_receives` receives; redriving moves them back to the work queue, due now, where the host
settles them (a message that can never succeed ends its run with a specific code).
"""

from __future__ import annotations

import asyncio
from typing import Any

import click
from rich.table import Table

from runtime.engine.host import FunctionHost
from runtime.engine.recovery import reconcile
from runtime.world import World

from .cli_runs import console, get_record, print_json, with_world


@click.command("repair")
@click.argument("run_id", required=False)
@click.option("--stalled", is_flag=True, help="Every non-terminal run without recent progress.")
@click.option(
    "--stall-seconds",
    type=click.FloatRange(min=0),
    help="With --stalled: no progress for this long (default STEPLANE_STALL_SECONDS or 300).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def repair(run_id: str | None, stalled: bool, stall_seconds: float | None, as_json: bool) -> None:
    """Re-send a run's pending work (RUN_ID), or do so for every stalled run (--stalled)."""
    if bool(run_id) == stalled:
        raise click.UsageError("give either RUN_ID or --stalled")
    if stall_seconds is not None and not stalled:
        raise click.UsageError("--stall-seconds goes with --stalled")

    async def action(world: World) -> dict[str, Any]:
        host = FunctionHost(world)
        if run_id is None:
            summary = await reconcile(host, stall=stall_seconds)
            return summary.as_dict()
        await get_record(world, run_id)  # a clear error for an unknown run
        sent = await host.rewake(run_id)
        return {
            "run_id": run_id,
            "status": str((await get_record(world, run_id)).status),
            "sent": sent,
        }

    result = with_world(action)
    if as_json:
        print_json(result)
    elif run_id is None:
        click.echo(
            f"checked {result['checked']} stalled run(s), re-woke {result['rewoken']}"
            + (
                f", {result['errors']} could not be repaired (see the log)"
                if result["errors"]
                else ""
            )
        )
    elif result["sent"]:
        click.echo(f"{run_id} ({result['status']}): re-sent {result['sent']} message(s)")
    else:
        click.echo(f"{run_id} ({result['status']}): nothing to re-send")


@click.group()
def dlq() -> None:
    """Messages the queue gave up on: list them, move them back."""


def _dead_letter_queue(world: World) -> Any:
    queue = world.queue
    if not hasattr(queue, "dead_letters") or not hasattr(queue, "redrive"):
        raise click.ClickException(f"the {world.name} World's queue keeps no dead letters")
    return queue


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_dead_letters(as_json: bool) -> None:
    """Every dead letter, with the status of the run it belongs to."""

    async def action(world: World) -> list[dict[str, Any]]:
        bodies = await asyncio.to_thread(lambda: _dead_letter_queue(world).dead_letters)
        rows = []
        for body in bodies:
            fields = body if isinstance(body, dict) else {}
            run_id = fields.get("run_id")
            record = await world.runs.get(run_id) if isinstance(run_id, str) else None
            rows.append(
                {
                    "kind": fields.get("kind", "malformed"),
                    "run_id": run_id,
                    "target": fields.get("step") or fields.get("workflow"),
                    "run_status": str(record.status) if record else None,
                    "error_code": record.error_code if record else None,
                    "body": body,
                }
            )
        return rows

    rows = with_world(action)
    if as_json:
        print_json(rows)
        return
    table = Table("kind", "run", "workflow / step", "run status", "error")
    for row in rows:
        table.add_row(
            str(row["kind"]),
            str(row["run_id"] or "-"),
            str(row["target"] or "-"),
            str(row["run_status"] or "no such run"),
            row["error_code"] or "",
        )
    console.print(table if rows else "no dead letters")


@dlq.command("redrive")
def redrive() -> None:
    """Move every dead letter back to the work queue, due now."""

    async def action(world: World) -> int:
        queue = _dead_letter_queue(world)
        return int(await asyncio.to_thread(queue.redrive))

    click.echo(f"redrove {with_world(action)} message(s) to the work queue")
