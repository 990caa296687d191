"""Shared fixtures: a manual clock and a `world` fixture parametrized over every World.

A World joins the conformance suite by adding a factory to `WORLD_FACTORIES`.

The AWS World runs twice: on moto in-process ("aws-inprocess", the emulator's embedded moto)
and on a moto server in a subprocess on a free 127.0.0.1 port ("aws-server", started once per
session and reset with `POST /moto-api/reset` before each test). Both get fresh resources per
test, made as the emulator makes them: the deployment's stack from the infra template.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.aws import AwsWorld
from adapters.memory import MemoryWorld
from adapters.worlds import register as register_worlds
from local_emulator.aws.embedded import start_embedded_world
from local_emulator.aws.stack import create_storage_stack_at
from local_emulator.aws.world import EmulatedAwsWorld
from runtime.config import set_world
from runtime.world import Clock, RealClock, World

register_worlds()  # STEPLANE_WORLD=aws from this source checkout, entry points or not


class ManualClock:
    """A clock that only moves when told to, so tests of delays never sleep."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def _memory_world(clock: Clock) -> World:
    return MemoryWorld(clock=clock)


TEST_PREFIX = "steplane-test"


async def aws_inprocess_world(clock: Clock, **options: object) -> AwsWorld:
    """An AWS World on a fresh in-process moto (the emulator's); closing it stops the mock.
    `options`: AwsConfig fields (see `local_emulator.aws.stack.create_storage_stack`)."""
    options.setdefault("prefix", TEST_PREFIX)
    return start_embedded_world(clock, **options)


class MotoServer:
    """`python -m moto.server` on a free loopback port, started on first use."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        if self.process is not None:
            return self.url
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "steplane.local_emulator.aws.moto_server",
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "MOTO_CALL_RESET_API": "true"},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return self.url
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process = None


_moto_server = MotoServer()


def server_stack_world(url: str, clock: Clock, **options: object) -> AwsWorld:
    """An AWS World on a new stack of the moto server at `url` (`options` as for
    `aws_inprocess_world`; `prefix` default "steplane-test", which names the stack too)."""
    options.setdefault("prefix", TEST_PREFIX)
    config = create_storage_stack_at(url, str(options["prefix"]), **options)
    return EmulatedAwsWorld(config, clock)


async def aws_server_world(clock: Clock, **options: object) -> AwsWorld:
    """An AWS World on the session's moto server, reset first."""
    url = _moto_server.start()
    _moto_server.reset()
    return server_stack_world(url, clock, **options)


WORLD_FACTORIES: dict[str, Callable[[Clock], Awaitable[World]]] = {
    "memory": _memory_world,
    "aws-inprocess": aws_inprocess_world,
    "aws-server": aws_server_world,
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """The session's moto server (started on first use, stopped at the end)."""
    try:
        yield _moto_server
    finally:
        _moto_server.stop()


FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""Credentials and region for moto (no real account is ever reached)."""


@pytest.fixture
def deploy_endpoint(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """A fresh moto server to deploy stacks to (its URL): fake credentials, no profile, and a
    private cache for the deployment zip."""
    from infra import deploy as deploy_module

    url = moto_server.start()
    moto_server.reset()
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(deploy_module, "CACHE", tmp_path / "cache")
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=list(WORLD_FACTORIES), ids=list(WORLD_FACTORIES))
async def world(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[World]:
    if request.param == "aws-server":
        request.getfixturevalue("moto_server")  # stops the server at the session's end
    built = await WORLD_FACTORIES[request.param](clock)
    try:
        yield built
    finally:
        await built.close()


@contextlib.asynccontextmanager
async def installed(world: World) -> AsyncIterator[World]:
    """`world` as the current World (what `start()` uses) for the block; closed after."""
    previous = set_world(world)
    try:
        yield world
    finally:
        set_world(previous)
        await world.close()


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every microsecond: a data race that is rare by default shows at once."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.fixture(params=["inprocess", "server"])
async def aws(request: pytest.FixtureRequest) -> Any:
    """What `Emulator(world=...)` gets: the embedded moto, or an AWS World on a moto server."""
    if request.param == "inprocess":
        yield "aws"
        return
    request.getfixturevalue("moto_server")
    world = await aws_server_world(RealClock())
    try:
        yield world
    finally:
        await world.close()
