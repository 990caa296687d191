"""The run API, the hook webhook and the OpenAPI document, used the way a client would.

The emulator runs the workflows (in-process); the app under test is called through httpx's
ASGI transport, standalone and mounted under a prefix in another Starlette app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from adapters.http import create_app
from adapters.signing import sign
from local_emulator import Emulator
from runtime import get_run, start
from tests.engine import workflows as wf
from tests.engine.test_scenarios import _wait_for_event

KEY, DECRYPT_KEY = "normal-key", "decrypt-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
DECRYPT_AUTH = {"Authorization": f"Bearer {DECRYPT_KEY}"}
ADDITION = wf.addition.__steplane_workflow__.name


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(modules=["tests.engine.workflows"], world="memory") as emulator:
        yield emulator


def _app(emu: Emulator) -> Starlette:
    return create_app(emu.world, signing_secret="s", api_keys=[KEY], decrypt_api_keys=[DECRYPT_KEY])


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(emu))
    async with httpx.AsyncClient(transport=transport, base_url="http://steplane") as client:
        yield client


async def _started(client: httpx.AsyncClient, workflow: str, *args: object) -> str:
    response = await client.post(
        "/v1/runs", json={"workflow": workflow, "args": list(args)}, headers=AUTH
    )
    assert response.status_code == 201, response.text
    return response.json()["run_id"]


# --- authentication -------------------------------------------------------------------------


ROUTES = [
    ("POST", "/v1/runs", {"workflow": ADDITION, "args": [1, 2]}),
    ("GET", "/v1/runs", None),
    ("GET", "/v1/runs/{run_id}", None),
    ("GET", "/v1/runs/{run_id}/result", None),
    ("POST", "/v1/runs/{run_id}/cancel", None),
    ("GET", "/v1/runs/{run_id}/events?decrypt=true", None),
    ("GET", "/v1/runs/{run_id}/streams/default", None),
    ("GET", "/v1/runs/{run_id}/timeline", None),
    ("GET", "/v1/hooks", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}],
    ids=["no-key", "wrong-key", "not-bearer"],
)
async def test_run_api_needs_an_api_key(emu, client, method, path, body, headers) -> None:
    run = await start(wf.hold_hook, "auth-token")
    await _wait_for_event(run, "hook_created")
    runs_before = len((await emu.world.runs.list(limit=100)).items)
    events_before = await run.events()
    response = await client.request(
        method, path.format(run_id=run.run_id), json=body, headers=headers
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "API key" in response.json()["error"]
    assert len((await emu.world.runs.list(limit=100)).items) == runs_before
    assert await run.events() == events_before
    assert await run.status() == "running"


async def test_without_configured_keys_the_run_api_is_closed(emu) -> None:
    app = create_app(emu.world, signing_secret="s", api_keys=[], decrypt_api_keys=[])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        response = await c.get("/v1/runs", headers={"Authorization": "Bearer "})
    assert response.status_code == 401


# --- runs -----------------------------------------------------------------------------------


async def test_start_status_result_and_list(client) -> None:
    run_id = await _started(client, ADDITION, 2, 3)
    result = await client.get(f"/v1/runs/{run_id}/result?timeout=10", headers=AUTH)
    assert result.json() == {"run_id": run_id, "status": "completed", "result": 5}
    run = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
    assert run["status"] == "completed" and run["workflow"] == ADDITION
    assert run["created_at"].endswith("+00:00") and run["completed_at"] is not None
    assert run["parent_run_id"] is None and run["error_code"] is None
    listed = await client.get(f"/v1/runs?status=completed&workflow={ADDITION}", headers=AUTH)
    assert [r["run_id"] for r in listed.json()["runs"]] == [run_id]


async def test_runs_show_and_filter_by_their_deployment(emu, client) -> None:
    run_id = await _started(client, ADDITION, 1, 1)
    await client.get(f"/v1/runs/{run_id}/result?timeout=10", headers=AUTH)
    pinned = emu.host.deployment  # started unpinned, the run is pinned by the code running it
    assert pinned is not None
    run = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
    assert run["deployment"] == pinned
    listed = (await client.get(f"/v1/runs?deployment={pinned}", headers=AUTH)).json()
    assert [r["run_id"] for r in listed["runs"]] == [run_id]
    other = (await client.get("/v1/runs?deployment=elsewhere", headers=AUTH)).json()
    assert other["runs"] == []


async def test_the_deployment_filter_goes_with_the_others_and_checks_the_id(emu, client) -> None:
    """What the web UI's runs page sends: deployment, attribute and status filters at once."""
    first, second = (await _started(client, ADDITION, 1, 2)), await _started(client, ADDITION, 3, 4)
    for run_id in (first, second):
        await client.get(f"/v1/runs/{run_id}/result?timeout=10", headers=AUTH)
    await emu.world.runs.set_attributes(first, {"customer": "c-7"})
    pinned = emu.host.deployment

    def ids(page: httpx.Response) -> list[str]:
        assert page.status_code == 200, page.text
        return [r["run_id"] for r in page.json()["runs"]]

    query = f"/v1/runs?deployment={pinned}&status=completed"
    assert ids(await client.get(query, headers=AUTH)) == [second, first]
    assert ids(await client.get(f"{query}&attr=customer=c-7", headers=AUTH)) == [first]
    assert ids(await client.get("/v1/runs?deployment=d-0&attr=customer=c-7", headers=AUTH)) == []
    bad = await client.get("/v1/runs?deployment=d 1;drop", headers=AUTH)
    assert bad.status_code == 400
    assert bad.json()["error"] == (
        "invalid deployment id 'd 1;drop': use 1-40 letters, digits, '-' or '_'"
    )


async def test_list_pages_with_a_cursor(client) -> None:
    started = [await _started(client, ADDITION, i, i) for i in range(3)]
    seen, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/v1/runs?{query}", headers=AUTH)).json()
        seen += [r["run_id"] for r in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(started)


@pytest.mark.parametrize(
    "query", ["status=bogus", "limit=0", "limit=x", "cursor=!!"], ids=lambda q: q.split("=")[0]
)
async def test_bad_list_parameters_are_400(client, query) -> None:
    response = await client.get(f"/v1/runs?{query}", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]


async def test_tagged_json_arguments_and_results(client) -> None:
    value = {"$t": "bytes", "v": "AP8="}  # b"\x00\xff"
    run_id = await _started(client, wf.round_trip.__steplane_workflow__.name, value)
    result = await client.get(f"/v1/runs/{run_id}/result?timeout=10", headers=AUTH)
    assert result.json()["result"] == value
    assert await get_run(run_id).result() == b"\x00\xff"


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ({"workflow": "nowhere:wf"}, 404, "unknown workflow 'nowhere:wf'"),
        ({"workflow": ADDITION, "args": [1]}, 400, "missing a required argument"),
        ({"workflow": ADDITION, "args": {"a": 1}}, 400, "'args' must be a list"),
        ({"args": []}, 400, "expected"),
        ({"workflow": ADDITION, "args": [{"$t": "nope", "v": 1}, 2]}, 400, "args"),
    ],
    ids=["unknown-workflow", "bad-arguments", "args-not-list", "no-workflow", "bad-tag"],
)
async def test_start_refuses_bad_requests(emu, client, body, status, problem) -> None:
    response = await client.post("/v1/runs", json=body, headers=AUTH)
    assert response.status_code == status
    assert problem in response.json()["error"]
    assert (await emu.world.runs.list(limit=10)).items == []


async def test_start_location_header(client) -> None:
    response = await client.post(
        "/v1/runs", json={"workflow": ADDITION, "args": [1, 1]}, headers=AUTH
    )
    assert response.headers["location"] == f"/v1/runs/{response.json()['run_id']}"


async def test_result_of_unfinished_failed_and_cancelled_runs(client) -> None:
    holding = await _started(client, wf.hold_hook.__steplane_workflow__.name, "result-token")
    pending = await client.get(f"/v1/runs/{holding}/result", headers=AUTH)
    assert pending.status_code == 409
    assert pending.json()["status"] in ("pending", "running")
    waited = await client.get(f"/v1/runs/{holding}/result?timeout=1", headers=AUTH)
    assert waited.status_code == 409

    cancelled = await client.post(f"/v1/runs/{holding}/cancel", headers=AUTH)
    assert cancelled.json() == {"run_id": holding, "status": "cancelled"}
    again = await client.post(f"/v1/runs/{holding}/cancel", headers=AUTH)
    assert again.json()["status"] == "cancelled"
    result = (await client.get(f"/v1/runs/{holding}/result", headers=AUTH)).json()
    assert result["status"] == "cancelled" and result["error"]["code"] == "CANCELLED"

    failing = await _started(client, wf.raises_in_workflow.__steplane_workflow__.name, "boom")
    failed = (await client.get(f"/v1/runs/{failing}/result?timeout=10", headers=AUTH)).json()
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "USER_ERROR", "message": "ValueError: boom"}
    assert (await client.get(f"/v1/runs/{failing}", headers=AUTH)).json()["error_code"] == (
        "USER_ERROR"
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/runs/run_missing"),
        ("GET", "/v1/runs/run_missing/result"),
        ("POST", "/v1/runs/run_missing/cancel"),
        ("GET", "/v1/runs/run_missing/events"),
        ("GET", "/v1/runs/run_missing/streams/default"),
    ],
)
async def test_unknown_runs_are_404(client, method, path) -> None:
    response = await client.request(method, path, headers=DECRYPT_AUTH)  # chunks need it
    assert response.status_code == 404
    assert "run_missing" in response.json()["error"]


async def test_unknown_route_is_json_404(client) -> None:
    response = await client.get("/v2/nothing", headers=AUTH)
    assert response.status_code == 404 and "error" in response.json()


# --- events ---------------------------------------------------------------------------------


async def test_events_stay_ciphertext_unless_the_key_may_decrypt(client) -> None:
    run_id = await _started(client, wf.round_trip.__steplane_workflow__.name, "top secret")
    await client.get(f"/v1/runs/{run_id}/result?timeout=10", headers=AUTH)

    plain = (await client.get(f"/v1/runs/{run_id}/events", headers=AUTH)).json()["events"]
    assert [e["seq"] for e in plain] == list(range(len(plain)))
    assert plain[0]["type"] == "run_created" and plain[-1]["type"] == "run_completed"
    assert "top secret" not in str(plain)
    sealed = [e["data"] for e in plain if "data" in e]
    assert sealed and all(d["encrypted"] is True and d["size"] > 0 for d in sealed)

    refused = await client.get(f"/v1/runs/{run_id}/events?decrypt=true", headers=AUTH)
    assert refused.status_code == 403

    opened = await client.get(f"/v1/runs/{run_id}/events?decrypt=true", headers=DECRYPT_AUTH)
    events = opened.json()["events"]
    assert events[0]["data"] == {"args": ["top secret"], "kwargs": {}}
    assert events[-1]["data"] == "top secret"
    assert [e["type"] for e in events] == [e["type"] for e in plain]
    assert (await client.get(f"/v1/runs/{run_id}/events?start=2", headers=AUTH)).json()[
        "events"
    ] == plain[2:]


async def test_decrypting_writes_an_audit_line(client, caplog) -> None:
    run_id = await _started(client, ADDITION, 1, 2)
    with caplog.at_level("INFO", logger="steplane.audit"):
        await client.get(f"/v1/runs/{run_id}/events?decrypt=1", headers=DECRYPT_AUTH)
    [line] = [r.getMessage() for r in caplog.records if r.name == "steplane.audit"]
    assert run_id in line and '"audit":"decrypt"' in line and DECRYPT_KEY not in line


# --- hooks ----------------------------------------------------------------------------------


async def test_hook_webhook_needs_no_api_key(emu, client) -> None:
    run = await start(wf.three_payloads, "order:42")
    await _wait_for_event(run, "hook_created")
    for payload in ({"n": 1}, "two", [3]):
        response = await client.post("/v1/hooks/order:42", json=payload)
        assert response.status_code == 200
        assert response.json() == {"run_id": run.run_id}
    assert (await run.result(timeout=10))["payloads"] == [{"n": 1}, "two", [3]]
    gone = await client.post("/v1/hooks/order:42", json="late")
    assert gone.status_code == 404
    assert (await client.post("/v1/hooks/never-issued", json=1)).status_code == 404


async def test_hook_webhook_payload_forms(client) -> None:
    run = await start(wf.iterate_hook, "forms/with/slashes")
    await _wait_for_event(run, "hook_created")
    assert (await client.post("/v1/hooks/forms/with/slashes")).status_code == 200  # empty: None
    tagged = {"$t": "set", "v": [1, 2]}  # webhook bodies are plain JSON: just a dict
    assert (await client.post("/v1/hooks/forms/with/slashes", json=tagged)).status_code == 200
    bad = await client.post("/v1/hooks/forms/with/slashes", content=b"{not json")
    assert bad.status_code == 400
    await client.post("/v1/hooks/forms/with/slashes", json="stop")
    assert await run.result(timeout=10) == [None, {"$t": "set", "v": [1, 2]}]


# --- OpenAPI and mounting -------------------------------------------------------------------


async def test_openapi_describes_every_route(emu) -> None:
    app = _app(emu)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        document = (await c.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    described = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    served = {
        (method, route.path.replace("{token:path}", "{token}"))
        for route in app.routes
        for method in route.methods - {"HEAD"}
    }
    assert served == described
    assert document["servers"] == [{"url": "/"}]
    assert document["paths"]["/v1/hooks/{token}"]["post"]["security"] == []
    assert document["paths"]["/v1/runs"]["get"]["security"] == [{"apiKey": []}]


async def test_app_mounted_under_a_prefix(emu) -> None:
    async def home(request):
        return PlainTextResponse("the host app")

    outer = Starlette(routes=[Route("/", home), Mount("/steplane", app=_app(emu))])
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
        assert (await client.get("/")).text == "the host app"
        started = await client.post(
            "/steplane/v1/runs", json={"workflow": ADDITION, "args": [4, 5]}, headers=AUTH
        )
        assert started.status_code == 201
        run_id = started.json()["run_id"]
        assert started.headers["location"] == f"/steplane/v1/runs/{run_id}"
        result = await client.get(f"/steplane/v1/runs/{run_id}/result?timeout=10", headers=AUTH)
        assert result.json()["result"] == 9
        assert (await client.get("/steplane/v1/runs", headers={})).status_code == 401
        document = (await client.get("/steplane/openapi.json")).json()
        assert document["servers"] == [{"url": "/steplane"}]
        body = b'{"v": 1, "kind": "teleport", "run_id": "run_1"}'
        invoked = await client.post("/steplane/invoke", content=body, headers=sign("s", body))
        assert invoked.status_code == 400
        assert (await client.post("/steplane/invoke", content=body)).status_code == 401


async def test_list_filters_by_attributes(emu, client) -> None:
    first, second = (await _started(client, ADDITION, 1, 2)), await _started(client, ADDITION, 3, 4)
    await emu.world.runs.set_attributes(first, {"customer": "c-7", "stage": "paid"})
    await emu.world.runs.set_attributes(second, {"customer": "c-8", "stage": "paid"})
    listed = (await client.get("/v1/runs?attr=customer=c-7", headers=AUTH)).json()["runs"]
    assert [r["run_id"] for r in listed] == [first]
    assert listed[0]["attributes"] == {"customer": "c-7", "stage": "paid"}
    both = (await client.get("/v1/runs?attr=stage=paid&attr=customer=c-8", headers=AUTH)).json()
    assert [r["run_id"] for r in both["runs"]] == [second]
    bad = await client.get("/v1/runs?attr=customer", headers=AUTH)
    assert bad.status_code == 400
    assert bad.json()["error"] == "an attribute filter is name=value, got 'customer'"
