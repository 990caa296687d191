"""`steplane dev`: a long-running local stack other processes can reach.

A moto server on 127.0.0.1 plays DynamoDB, S3, SQS and KMS; the emulator's function host drains
its queue; the HTTP app (run API, hook webhooks, streams) is served by uvicorn. The state file
(`dev_state.py`) tells `steplane runs ...` where all of it is.

With `reload=True` the workflow code runs in one host process per deployment instead, and a
change of the code starts a new deployment (local_emulator/dev_reload.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from steplane.runtime.extras import requires_extra

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from steplane.adapters.aws import AwsConfig
    from steplane.runtime import Client
    from steplane.runtime.engine.host import FunctionHost

    from .dev_reload import Reloader

from .dev_state import DevState, clear_state, write_state
from .emulator import Emulator

PREFIX = "steplane-dev"
REGION = "us-east-1"
TRIM_EVERY_SECONDS = 60.0
DEV_RETAIN_RUNS = 1000
"""Ended runs a dev session keeps by default (`--retain-runs`; runtime/engine/retention.py)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def serve_dev(
    modules: list[str],
    port: int,
    virtual_time: bool,
    say: Callable[[str], None],
    on_ready: Callable[[str], None] | None = None,
    reload: bool = False,
    retain_runs: int | None = DEV_RETAIN_RUNS,
) -> None:
    """Run until interrupted (Ctrl-C / SIGTERM). `on_ready` gets the web UI's URL once
    everything answers (`steplane dev --open` prints and opens it). `retain_runs`: keep
    the data of only the newest this many ended runs (None: every run), so a long session's
    memory stays bounded (moto keeps everything it is given)."""
    if reload and virtual_time:
        raise ValueError(
            "--reload runs each deployment's host in its own process: no --virtual-time"
        )
    with requires_extra("local"):
        import uvicorn

        from .aws.embedded import trim
        from .aws.moto_server import MotoServer
        from .aws.world import EmulatedAwsWorld
    from steplane.adapters.http import create_app
    from steplane.runtime import Client

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's access log
    moto_port = free_port()
    moto_server = MotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto_server.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    api_key = secrets.token_urlsafe(24)
    try:
        config = await asyncio.to_thread(_create_dev_stack, endpoint, api_key)
    except BaseException:
        moto_server.stop()
        raise
    if reload:
        from steplane.adapters.aws import AwsWorld

        world: AwsWorld = AwsWorld(config)  # SQS times the messages: several processes consume
    else:
        world = EmulatedAwsWorld(config)
    try:
        serving_options = (modules, virtual_time, reload, retain_runs, say)
        async with _serving(world, *serving_options) as (host, reloader):
            # secrets: STEPLANE_SECRETS_ARN, as deployed
            app = create_app(world, host=host, ui=True)
            app.router.routes[:0] = module_routes(modules, Client(world))
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            )
            api_url = f"http://127.0.0.1:{port}"
            serving = asyncio.create_task(server.serve())
            trimmer = asyncio.create_task(_trim_forever(lambda: trim(world)))
            watcher = asyncio.create_task(reloader.run()) if reloader is not None else None
            try:
                while not server.started:  # announce only what already answers
                    if serving.done():
                        await serving  # e.g. the port is taken: uvicorn says so and exits
                        raise RuntimeError(f"the HTTP server on port {port} did not start")
                    await asyncio.sleep(0.02)
                path = write_state(
                    DevState(os.getpid(), endpoint, PREFIX, config.region, api_url, api_key)
                )
                say(f"steplane dev: web UI {api_url}/ (sign in with the API key in {path})")
                say(f"steplane dev: run API {api_url}/v1/runs (openapi: {api_url}/openapi.json)")
                say(f"steplane dev: emulated AWS at {endpoint}; state in {path}")
                say("steplane dev: `steplane runs list` from this directory sees these runs")
                if on_ready is not None:
                    on_ready(f"{api_url}/")
                await serving
            finally:
                trimmer.cancel()
                if watcher is not None:
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
                clear_state(os.getpid())
    finally:
        await world.close()
        moto_server.stop()


def module_routes(modules: list[str], client: Client) -> list[BaseRoute]:
    """Routes a served module adds to the app (its own pages and endpoints, e.g. the chat
    page of examples/agent_chat): a module-level `http_routes(client)` returning Starlette
    routes, given the emulator's `runtime.Client`."""
    routes: list[BaseRoute] = []
    for name in modules:
        make = getattr(importlib.import_module(name), "http_routes", None)
        if callable(make):
            routes += make(client)
    return routes


@contextlib.asynccontextmanager
async def _serving(
    world: Any,
    modules: list[str],
    virtual_time: bool,
    reload: bool,
    retain_runs: int | None,
    say: Callable[[str], None],
) -> AsyncIterator[tuple[FunctionHost | None, Reloader | None]]:
    """The in-process emulator (its host serves `/invoke`), or with `reload` the reloader
    whose host processes run the code (the app's `/invoke` then makes a host of its own).
    Retention runs in this process either way: the emulator's, or with `reload` a sweep of
    its own through a host that only purges (the host processes' late messages for a
    purged run are dropped, runtime/engine/retention.py)."""
    if not reload:
        options = {"modules": modules, "virtual_time": virtual_time, "retain_runs": retain_runs}
        async with Emulator(world=world, **options) as emu:
            yield emu.host, None
        return
    retainer = None
    if retain_runs is not None:
        retainer = asyncio.create_task(_retain_forever(world, retain_runs), name="retention")
    import boto3

    from .dev_reload import Reloader, stack_updater

    cloudformation = boto3.client("cloudformation", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    update = stack_updater(cloudformation, PREFIX, {"Prefix": PREFIX, "WithFunction": "false"})
    env = dict(os.environ) | {
        "STEPLANE_WORLD": "aws",
        "STEPLANE_STACK": PREFIX,
        "STEPLANE_LOG_LEVEL": os.environ.get("STEPLANE_LOG_LEVEL", "WARNING"),
    }
    try:
        yield None, Reloader(modules, world, env, update, say)
    finally:
        if retainer is not None:
            retainer.cancel()
            await asyncio.gather(retainer, return_exceptions=True)


async def _retain_forever(world: Any, keep: int) -> None:
    """`--reload`'s retention: runs end in the host processes, so every sweep lists the
    World's runs (`Retention.sweep(full=True)`), once a minute, through a host of its own."""
    from steplane.runtime.engine.host import FunctionHost
    from steplane.runtime.engine.retention import Retention

    retention = Retention(world, FunctionHost(world), keep)
    while True:
        await asyncio.sleep(TRIM_EVERY_SECONDS)
        try:
            await retention.sweep(full=True)
        except Exception as error:
            logging.getLogger("steplane.dev").warning("retention pass failed: %s", error)


def _create_dev_stack(endpoint: str, api_key: str) -> AwsConfig:
    """The deployment's own stack (without the function) on the moto server: the same
    resources and names as `steplane deploy` and the embedded emulator.

    The HTTP app's secrets (a fresh signing secret; `api_key` for the run API and decrypting)
    go into the stack's Secrets Manager secret, and this process reads them from there as a
    deployed function does (`STEPLANE_SECRETS_ARN`). The template creates the secret only with
    the function (and moto 5.2.5's CloudFormation lacks `AWS::SecretsManager::Secret`), so it is
    created here under the template's name when the stack has none. This process then talks
    only to the moto server: its environment points boto3 there (never at a real account).
    """
    import boto3

    from steplane.adapters.aws.secrets import SECRETS_ARN_ENV, SECRETS_OUTPUT, secret_value
    from steplane.adapters.aws.stack_outputs import config_from_outputs
    from steplane.infra.template import load_template

    from .aws.stack import FAKE_CREDENTIALS, create_stack
    from .aws.world import LOCAL_LOG_CACHE_BYTES

    os.environ |= {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["secret_access_key"],
    }
    for override in ("STEPLANE_SIGNING_SECRET", "STEPLANE_API_KEYS", "STEPLANE_DECRYPT_API_KEYS"):
        os.environ.pop(override, None)  # the session's own secrets, not a shell's leftovers
    os.environ.pop("AWS_PROFILE", None)
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    parameters = {"Prefix": PREFIX, "WithFunction": "false"}
    outputs = create_stack(cloudformation, PREFIX, load_template(), parameters)
    value = secret_value(secrets.token_urlsafe(32), api_key, api_key)
    manager = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    if SECRETS_OUTPUT in outputs:
        manager.put_secret_value(SecretId=outputs[SECRETS_OUTPUT], SecretString=value)
        arn = outputs[SECRETS_OUTPUT]
    else:
        arn = manager.create_secret(Name=f"{PREFIX}-secrets", SecretString=value)["ARN"]
    os.environ[SECRETS_ARN_ENV] = arn
    return config_from_outputs(
        outputs,
        region=REGION,
        endpoint_url=endpoint,
        log_cache_bytes=LOCAL_LOG_CACHE_BYTES,
        **FAKE_CREDENTIALS,
    )


async def _trim_forever(trim: Callable[[], None]) -> None:
    """Bound what moto keeps of deleted messages for the whole session."""
    while True:
        await asyncio.sleep(TRIM_EVERY_SECONDS)
        with contextlib.suppress(Exception):
            trim()
