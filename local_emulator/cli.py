"""The `steplane` command line.

Errors print one line (no traceback) unless `--debug`; results go to stdout as JSON and
progress goes to stderr, so `steplane run ... | jq` works.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import sys
from typing import Any

import click
from rich.console import Console

from steplane.runtime import serde
from steplane.runtime.errors import WorkflowFailedError
from steplane.runtime.extras import MissingExtraError
from steplane.runtime.registry import workflow_def_of

from .cli_deployments import deployments, replay_check, upgrade
from .cli_inspect import announce_ui, list_hooks, streams, web
from .cli_repair import dlq, repair
from .cli_runs import hooks, runs
from .cli_schedules import schedules
from .dev import DEV_RETAIN_RUNS, serve_dev
from .emulator import Emulator

stderr = Console(stderr=True)


def parse_argument(text: str) -> Any:
    """ARG is JSON when it parses as JSON, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def load_workflow(target: str) -> Any:
    """`module:function` -> the workflow function (the current directory is importable)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise click.UsageError(f"expected MODULE:WORKFLOW, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise click.ClickException(f"cannot import {module_name!r}: {error}") from None
    function = getattr(module, attribute, None)
    if function is None:
        raise click.ClickException(f"module {module_name!r} has no {attribute!r}")
    workflow_def_of(function)
    return function


def to_json(value: Any) -> str:
    """JSON for people and tools: plain JSON types as themselves, extended types tagged."""
    return json.dumps(serde.to_jsonable(value, "result"), indent=2, ensure_ascii=False)


class DebuggableGroup(click.Group):
    """Turns any error into one clear line, unless --debug asks for the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            if isinstance(error, MissingExtraError):  # its message is the pip command to run
                raise click.ClickException(str(error)) from None
            raise click.ClickException(f"{type(error).__name__}: {error}") from None


@click.group(cls=DebuggableGroup)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def cli(debug: bool) -> None:
    """steplane: durable workflows for Python."""
    # Invocation errors are summarised on one line at the end; --debug shows them as they happen.
    logging.getLogger("steplane").setLevel(logging.DEBUG if debug else logging.ERROR)


@cli.command()
@click.argument("target", metavar="MODULE:WORKFLOW")
@click.argument("args", nargs=-1)
@click.option(
    "--world",
    type=click.Choice(["aws", "memory"]),
    default="aws",
    show_default=True,
    help="The emulated AWS World (moto in-process), or the in-memory one.",
)
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait.")
@click.option("--virtual-time", is_flag=True, help="Complete durable sleeps at once.")
def run(target: str, args: tuple[str, ...], world: str, timeout: float, virtual_time: bool) -> None:
    """Run a workflow on the embedded emulator and print its result as JSON."""
    function = load_workflow(target)
    values = [parse_argument(a) for a in args]
    result = asyncio.run(_run(function, values, world, timeout, virtual_time))
    click.echo(to_json(result))


async def _run(function: Any, values: list[Any], world: str, timeout: float, virtual: bool) -> Any:
    async with Emulator(world=world, virtual_time=virtual) as emu:
        run_handle = await emu.runtime_client.start(function, *values)
        with stderr.status(f"{run_handle.run_id}: starting") as status:
            waiter = asyncio.create_task(run_handle.result(timeout=timeout))
            while not waiter.done():
                events = await run_handle.events(decrypt=False)  # types only: nothing to open
                steps = sum(e["type"] == "step_completed" for e in events)
                last = events[-1]["type"] if events else "pending"
                status.update(f"{run_handle.run_id}: {steps} steps done, last event {last}")
                await asyncio.wait([waiter], timeout=0.2)
        try:
            return waiter.result()
        except WorkflowFailedError as failure:
            raise click.ClickException(
                f"run {run_handle.run_id} failed ({failure.code}): {failure.message}"
            ) from None
        finally:
            if emu.errors:
                stderr.print(
                    f"[yellow]{len(emu.errors)} invocation error(s); last: {emu.errors[-1]}"
                )


@cli.command()
@click.argument("modules", nargs=-1, required=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8787, show_default=True)
@click.option("--virtual-time", is_flag=True, help="Complete durable sleeps at once.")
@click.option("--open", "open_browser", is_flag=True, help="Open the web UI in the browser.")
@click.option(
    "--reload",
    is_flag=True,
    help="Watch the code: a change starts a new deployment beside the old.",
)
@click.option(
    "--retain-runs",
    type=click.IntRange(min=0),
    default=DEV_RETAIN_RUNS,
    show_default=True,
    help="Keep the data of only the N most recently ended runs; older ended runs are "
    "purged (never a live run, nor an ended child of a live parent). 0 keeps every run.",
)
def dev(
    modules: tuple[str, ...],
    port: int,
    virtual_time: bool,
    open_browser: bool,
    reload: bool,
    retain_runs: int,
) -> None:
    """Run the emulator with the HTTP handlers until interrupted (other commands find it).

    Memory stays bounded over a long session: the emulated AWS keeps everything it is given,
    so ended runs beyond --retain-runs are purged (gone from `runs list` and the UI)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise click.ClickException(f"cannot import {module!r}: {error}") from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve_dev(
                list(modules),
                port,
                virtual_time,
                lambda line: stderr.print(line),
                on_ready=lambda url: announce_ui(url, open_browser),
                reload=reload,
                retain_runs=retain_runs or None,
            )
        )


@cli.command()
@click.option("--stack", required=True, help="CloudFormation stack name (also the name prefix).")
@click.argument("modules", nargs=-1)
@click.option("--endpoint-url", help="e.g. a moto server; default: AWS itself.")
@click.option("--region", help="Default: the AWS configuration's region.")
@click.option("--delete", is_flag=True, help="Remove the stack (and its data).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Template parameter.")
@click.option("--prune", is_flag=True, help="Remove older deployments without live runs.")
def deploy(
    stack: str,
    modules: tuple[str, ...],
    endpoint_url: str | None,
    region: str | None,
    delete: bool,
    params: tuple[str, ...],
    prune: bool,
) -> None:
    """Build the function zip (with MODULES), upload it, create or update the stack, and print
    its outputs as JSON. Re-running with no change changes nothing."""
    from steplane.infra.deploy import DeployError
    from steplane.infra.deploy import deploy as run_deploy

    parameters = {}
    for param in params:
        key, sep, value = param.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {param!r}", param_hint="--param")
        parameters[key] = value
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        done = run_deploy(
            stack,
            endpoint_url,
            region,
            delete,
            progress=lambda line: stderr.print(line),
            modules=modules,
            parameters=parameters,
            prune=prune,
        )
    except DeployError as error:
        raise click.ClickException(str(error)) from None
    if delete:
        click.echo(json.dumps({"stack": stack, "deleted": done.deleted}))
    else:
        summary = {"stack": stack, "changed": done.changed, "deployment": done.deployment}
        summary |= {"deployments": done.deployments, "pruned": done.pruned}
        click.echo(json.dumps(summary | done.outputs, indent=2))


runs.add_command(repair)
runs.add_command(streams)
hooks.add_command(list_hooks)
cli.add_command(web)
runs.add_command(upgrade)
cli.add_command(runs)
cli.add_command(deployments)
cli.add_command(replay_check)
cli.add_command(hooks)
cli.add_command(dlq)
cli.add_command(schedules)


def main() -> None:
    cli(prog_name="steplane")
