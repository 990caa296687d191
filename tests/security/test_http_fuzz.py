"""Property-based fuzz of every route in `/openapi.json`: whatever the method, path values,
query, headers and body, the app never answers 5xx, and a rejected request (any 4xx) leaves
no new run and no new event behind. Bounded for CI: 30 examples per route, no deadline."""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.signing import sign
from local_emulator import Emulator

from .conftest import KEY, MODULES, SECRET, make_app

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_BODY = st.one_of(
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.fixed_dictionaries({"workflow": _TEXT, "args": st.lists(_JSON, max_size=3)}).map(
        lambda v: json.dumps(v).encode()
    ),
)
_SEGMENT = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF, blacklist_characters="/?#%"),
    min_size=1,
    max_size=30,
)


def _routes() -> list[tuple[str, str]]:
    """(method, path template) of every operation the OpenAPI document describes."""
    from adapters.http.openapi import _paths

    return [
        (method.upper(), path)
        for path, operations in _paths().items()
        for method in operations
        if method in ("get", "post", "put", "delete", "patch")
    ]


ROUTES = _routes()


def test_the_openapi_document_lists_the_routes() -> None:
    assert ("POST", "/invoke") in ROUTES and ("POST", "/v1/runs") in ROUTES
    assert len(ROUTES) >= 8


async def _state(emu: Emulator) -> tuple[int, int]:
    runs = (await emu.world.runs.list(limit=1000)).items
    return len(runs), sum([len(await emu.world.log.read(r.run_id)) for r in runs])


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_fuzz_route(method: str, template: str) -> None:
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(
        segments=st.lists(_SEGMENT, min_size=4, max_size=4),
        query=st.dictionaries(
            st.sampled_from(["limit", "status", "cursor", "timeout", "decrypt", "start", "x"]),
            _TEXT,
            max_size=3,
        ),
        body=_BODY,
        auth=st.sampled_from(["none", "key", "wrong"]),
        signed=st.booleans(),
        receive_count=st.sampled_from(["1", "0", "-1", "abc", "99999999999999999999"]),
    )
    def check(segments, query, body, auth, signed, receive_count) -> None:
        asyncio.run(_one(method, template, segments, query, body, auth, signed, receive_count))

    check()


async def _one(method, template, segments, query, body, auth, signed, receive_count) -> None:
    async with Emulator(modules=MODULES, world="memory") as emu:
        names = iter(segments)
        path = re.sub(r"\{[^}]+\}", lambda _: quote(next(names), safe=":"), template)
        headers = {"Content-Type": "application/json", "X-Steplane-Receive-Count": receive_count}
        if auth != "none":
            headers["Authorization"] = f"Bearer {KEY if auth == 'key' else 'nope'}"
        if signed and template == "/invoke":
            headers.update(sign(SECRET, body, receive_count=1))
            headers["X-Steplane-Receive-Count"] = receive_count
        transport = httpx.ASGITransport(app=make_app(emu, max_result_wait=0.1))
        before = await _state(emu)
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as http:
            response = await http.request(
                method,
                path,
                params=query,
                content=body if method != "GET" else None,
                headers=headers,
                timeout=10,
            )
        assert response.status_code < 500, (method, path, response.status_code, response.text)
        if response.status_code >= 400:
            assert "error" in response.json()
            assert await _state(emu) == before, (method, path, response.text)
