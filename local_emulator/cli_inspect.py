"""`steplane runs streams`, `steplane hooks list` and `steplane web`: look at what runs are doing.

Like the other `runs` commands they act on the running `steplane dev` or on the World the
environment configures (cli_runs.open_world), and show what runtime/describe.py makes, the
same dicts the HTTP API serves. Stream chunks are user values: reading them from here leaves
an audit record, as `--decrypt` does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import webbrowser
from typing import Any

import click
from rich.console import Console

from steplane.runtime import serde
from steplane.runtime.client import Client
from steplane.runtime.describe import chunk_json, hook_listing
from steplane.runtime.engine.audit import record_decrypt
from steplane.runtime.engine.codec import codecs_for
from steplane.runtime.errors import ConfigurationError
from steplane.runtime.streams import stream_name

from .cli_runs import actor, print_json, print_rows, with_client
from .dev_state import read_state

stderr = Console(stderr=True)

FOLLOW_RETRIES = 5
"""Consecutive failed reads (a dropped connection, a throttled call) a `--follow` survives,
resuming after the last chunk shown, before it gives up."""


def show_chunk(index: int, chunk: Any, as_json: bool) -> None:
    """One chunk on one line: JSON Lines (`{"index", "data"}`) with --json, else the index and
    the chunk (a string as it is, anything else as tagged JSON)."""
    shown = chunk_json(index, chunk)
    if as_json:
        click.echo(json.dumps(shown, ensure_ascii=False))
    elif isinstance(chunk, str):
        click.echo(f"[{index}] {chunk}")
    else:
        click.echo(f"[{index}] {json.dumps(shown['data'], ensure_ascii=False)}")
    sys.stdout.flush()


async def _chunks_now(client: Client, run_id: str, name: str, start: int, as_json: bool) -> int:
    """Print the chunks the stream holds now, without waiting for more; returns how many."""
    codec = await codecs_for(client.world).get(run_id)
    index = start
    for _ in range(1_000_000):  # bounded: every page but the last holds a chunk
        page = await client.world.streams.read(run_id, name, index)
        if not page.chunks:
            break
        for sealed in page.chunks:
            show_chunk(index, serde.loads(codec.open_chunk(name, sealed)), as_json)
            index += 1
    return index - start


async def _follow(
    client: Client, run_id: str, namespace: str | None, start: int, as_json: bool
) -> int:
    """Print chunks as they come until the stream is closed or the run ends; a failed read is
    retried from the chunk after the last one shown (nothing missed, nothing twice)."""
    run = client.get_run(run_id)
    index, failures = start, 0
    while True:
        try:
            async for chunk in run.stream(namespace, index):
                show_chunk(index, chunk, as_json)
                index += 1
                failures = 0
            return index - start
        except (OSError, TimeoutError, ConnectionError) as error:
            failures += 1
            if failures > FOLLOW_RETRIES:
                raise
            stderr.print(f"[yellow]read failed ({error}); resuming at chunk {index}")
            await asyncio.sleep(min(2.0, 0.1 * 2**failures))


@click.command("streams")
@click.argument("run_id")
@click.option("--namespace", default=None, help="The stream's namespace (default stream: none).")
@click.option("--follow", "-f", is_flag=True, help="Keep reading until the stream or run ends.")
@click.option(
    "--start-index",
    "-s",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="First chunk to show (resume after chunk N with N+1).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one {index, data} per chunk.")
def streams(
    run_id: str, namespace: str | None, follow: bool, start_index: int, as_json: bool
) -> None:
    """A run's stream chunks (audited: chunks are user values)."""
    try:
        name = stream_name(namespace)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--namespace") from None

    async def action(client: Client) -> int:
        run = client.get_run(run_id)
        record = await run.record()  # an unknown run is an error, not an audited read
        names = await client.world.streams.names(run_id)
        if name not in names and (record.status.is_terminal or not follow):
            have = ", ".join(names) if names else "none"
            raise click.ClickException(f"run {run_id} has no stream {name!r} (its streams: {have})")
        await record_decrypt(client.world, run_id, actor=actor(), via="cli")
        if not follow:
            return await _chunks_now(client, run_id, name, start_index, as_json)
        stderr.print(f"following stream {name!r} of {run_id} (Ctrl-C stops)")
        return await _follow(client, run_id, namespace, start_index, as_json)

    try:
        shown = with_client(action)
    except KeyboardInterrupt:
        stderr.print("stopped; `--start-index N` resumes at chunk N")
        return
    stderr.print(f"{shown} chunk(s)" + ("; the stream has ended" if follow else ""))


def _age(seconds: float | None) -> str:
    """`3d 4h`, `2h 5m`, `7m 30s`, `12s`; `?` when the registry does not know."""
    if seconds is None:
        return "?"
    whole = int(seconds)
    for (unit, size), (small, small_size) in itertools.pairwise(_UNITS):
        if whole >= size:
            return f"{whole // size}{unit} {whole % size // small_size}{small}"
    return f"{whole}s"


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@click.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--cursor", default=None, help="`next_cursor` of the previous page.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_hooks(limit: int, cursor: str | None, as_json: bool) -> None:
    """Live hooks: token fingerprint, run, workflow, age, payloads received (one page)."""

    async def action(client: Client) -> dict[str, Any]:
        try:
            page = await hook_listing(client.world, limit=limit, cursor=cursor)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--cursor") from None
        return {"hooks": page.items, "next_cursor": page.next_cursor}

    listed = with_client(action)
    if as_json:
        print_json(listed)
        return
    print_rows(
        listed["hooks"],
        False,
        ("token", "run", "workflow", "age", "received"),
        lambda h: [
            h["token_fingerprint"],
            h["run_id"],
            h["workflow"] or "-",
            _age(h["age_seconds"]),
            str(h["received"]),
        ],
        empty="no live hooks",
    )
    if listed["next_cursor"]:
        stderr.print(f"more: steplane hooks list --cursor {listed['next_cursor']}")


def ui_url() -> str:
    """The web UI of the `steplane dev` running in this directory."""
    state = read_state()
    if state is None:
        raise ConfigurationError(
            "no `steplane dev` running in this directory: start `steplane dev MODULE` first"
        )
    return state.api_url.rstrip("/") + "/"


def announce_ui(url: str, open_browser: bool) -> None:
    """Print the UI's URL; with `open_browser`, also hand it to the system's browser."""
    click.echo(url)
    if open_browser and not webbrowser.open(url):
        stderr.print("[yellow]no browser to open; visit the URL above")


@click.command("web")
@click.option("--open", "open_browser", is_flag=True, help="Open it in the browser too.")
def web(open_browser: bool) -> None:
    """Print the URL of the running `steplane dev`'s web UI."""
    announce_ui(ui_url(), open_browser)
