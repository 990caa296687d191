"""Shared fixtures: an emulator on the memory World and the app under test over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from adapters.http import create_app
from adapters.http.ratelimit import Rate
from local_emulator import Emulator

KEY = "security-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET = "security-signing-secret"
MODULES = ["tests.engine.workflows", "tests.security.workflows"]


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(modules=MODULES, world="memory") as emulator:
        yield emulator


def make_app(emu: Emulator, **options: object) -> Starlette:
    options.setdefault("webhook_token_rate", Rate(1000, 1000))
    options.setdefault("webhook_client_rate", Rate(1000, 1000))
    return create_app(
        emu.world, signing_secret=SECRET, api_keys=[KEY], max_body_bytes=64 * 1024, **options
    )


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(emu))
    async with httpx.AsyncClient(transport=transport, base_url="http://steplane") as http:
        yield http
