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

from steplane.runtime.client import Client
from steplane.runtime.engine.host import FunctionHost
from steplane.runtime.engine.recovery import reconcile

from .cli_runs import print_json, print_rows, with_client


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

    async def action(client: Client) -> dict[str, Any]:
        host = FunctionHost(client.world)
        if run_id is None:
            summary = await reconcile(host, stall=stall_seconds)
            return summary.as_dict()
        run = client.get_run(run_id)
        await run.record()  # a clear error for an unknown run
        sent = await host.rewake(run_id)
        return {"run_id": run_id, "status": await run.status(), "sent": sent}

    result = with_client(action)
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


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_dead_letters(as_json: bool) -> None:
    """Every dead letter, with the status of the run it belongs to."""

    async def action(client: Client) -> list[dict[str, Any]]:
        world = client.world
        bodies = await asyncio.to_thread(lambda: world.queue.dead_letters)
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

    print_rows(
        with_client(action),
        as_json,
        ("kind", "run", "workflow / step", "run status", "error"),
        lambda row: [
            str(row["kind"]),
            str(row["run_id"] or "-"),
            str(row["target"] or "-"),
            str(row["run_status"] or "no such run"),
            row["error_code"] or "",
        ],
        empty="no dead letters",
    )


@dlq.command("redrive")
def redrive() -> None:
    """Move every dead letter back to the work queue, due now."""

    async def action(client: Client) -> int:
        return await asyncio.to_thread(client.world.queue.redrive)

    click.echo(f"redrove {with_client(action)} message(s) to the work queue")
