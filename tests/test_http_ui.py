"""The web UI's server side without a browser: the login and its session cookie, and the
run-API routes the UI uses (rerun, timeline, live hooks, resume by hook id, stream names,
`since` and `steps` on the list). The browser suite (tests/browser) drives the pages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.http import create_app
from adapters.http.session import COOKIE, SESSION_SECONDS, session_key, session_value
from local_emulator import Emulator
from runtime import Client
from tests.browser import ui_workflows as uw
from tests.engine.test_scenarios import _wait_for_event

KEY, DECRYPT_KEY = "ui-key", "ui-decrypt-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
UI = {"X-Steplane-UI": "1"}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(modules=["tests.browser.ui_workflows"], world="memory") as emulator:
        yield emulator


def _app(emu: Emulator, ui: bool = True) -> Starlette:
    return create_app(
        emu.world, signing_secret="s", api_keys=[KEY], decrypt_api_keys=[DECRYPT_KEY], ui=ui
    )


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(emu))
    async with httpx.AsyncClient(transport=transport, base_url="http://steplane") as http:
        yield http


async def _login(client: httpx.AsyncClient, key: str = KEY, prefix: str = "") -> httpx.Response:
    return await client.post(f"{prefix}/ui/login", data={"key": key})


async def _finished(emu: Emulator, run_id: str) -> None:
    await Client(emu.world).get_run(run_id).result(timeout=15)


# --- signing in ------------------------------------------------------------------------------


async def test_without_a_session_the_pages_lead_to_the_login(client) -> None:
    for path in ("/", "/ui"):
        response = await client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/ui/login")
    page = await client.get("/ui/login")
    assert page.status_code == 200 and 'name="key"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert (await client.get("/ui/assets/app.js")).status_code == 401
    assert (await client.get("/ui/assets/style.css")).status_code == 200
    assert (await client.get("/ui/assets/../app.py")).status_code == 404


@pytest.mark.parametrize("key", ["", "wrong", KEY + "x"])
async def test_a_wrong_key_gets_no_session(client, key) -> None:
    response = await _login(client, key)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert ("Enter an API key." if not key else "That API key is not valid.") in response.text


async def test_the_session_cookie_opens_the_pages_and_the_run_api(emu, client) -> None:
    run = await Client(emu.world).start(uw.checkout, "o-1")
    response = await _login(client)
    assert (response.status_code, response.headers["location"]) == (303, "/")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert KEY not in cookie  # the cookie stands for the key without holding it
    shell = await client.get("/")
    assert shell.status_code == 200 and 'src="/ui/assets/app.js"' in shell.text
    assert (await client.get("/ui/assets/app.js")).status_code == 200
    listed = await client.get("/v1/runs")
    assert [r["run_id"] for r in listed.json()["runs"]] == [run.run_id]
    await client.post("/ui/logout")
    assert (await client.get("/v1/runs")).status_code == 401


async def test_a_changing_request_needs_the_ui_header_besides_the_cookie(emu, client) -> None:
    run = await Client(emu.world).start(uw.hold, "csrf-token")
    await _wait_for_event(run, "hook_created")
    await _login(client)
    refused = await client.post(f"/v1/runs/{run.run_id}/cancel")  # what a forged form sends
    assert refused.status_code == 401
    assert await run.status() == "running"
    done = await client.post(f"/v1/runs/{run.run_id}/cancel", headers=UI)
    assert done.json() == {"run_id": run.run_id, "status": "cancelled"}


async def test_the_cookie_is_accepted_only_with_the_ui_on(emu) -> None:
    cookies = {COOKIE: session_value(KEY)}
    for ui, expected in ((True, 200), (False, 401)):
        transport = httpx.ASGITransport(app=_app(emu, ui=ui))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://s", cookies=cookies
        ) as http:
            assert (await http.get("/v1/runs")).status_code == expected
            if not ui:
                assert (await http.get("/")).status_code == 404


def test_session_values_expire_and_die_with_their_key() -> None:
    now = time.time()
    value = session_value(KEY, now)
    assert session_key(value, [DECRYPT_KEY, KEY], now) == KEY
    assert session_key(value, [DECRYPT_KEY], now) is None  # the key was removed
    assert session_key(value, [KEY], now + SESSION_SECONDS + 1) is None
    expiry, mac = value.split(".")[1:]
    assert session_key(f"v1.{int(expiry) + 1}.{mac}", [KEY], now) is None  # tampered
    far = f"v1.{int(now + 10 * SESSION_SECONDS)}.{mac}"
    assert session_key(far, [KEY], now) is None
    for junk in ("", "v1", "v2.1.x", "v1.abc.def", "v1.-5.x"):
        assert session_key(junk, [KEY], now) is None


async def test_a_decrypt_through_the_ui_is_audited_as_such(emu, client, caplog) -> None:
    run = await Client(emu.world).start(uw.checkout, "o-2")
    await _finished(emu, run.run_id)
    await _login(client, DECRYPT_KEY)
    with caplog.at_level("WARNING", logger="steplane.audit"):
        events = (await client.get(f"/v1/runs/{run.run_id}/events?decrypt=true")).json()
    assert events["events"][0]["data"] == {"args": ["o-2"], "kwargs": {}}
    [line] = [r.getMessage() for r in caplog.records if r.name == "steplane.audit"]
    assert '"via":"ui"' in line and run.run_id in line
    await _login(client, KEY)  # a key that may not decrypt cannot, session or not
    assert (await client.get(f"/v1/runs/{run.run_id}/events?decrypt=true")).status_code == 403


async def test_the_ui_mounted_under_a_prefix(emu) -> None:
    outer = Starlette(routes=[Mount("/ops", app=_app(emu))])
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as http:
        assert (await http.get("/ops/")).headers["location"] == "/ops/ui/login"
        login = await _login(http, prefix="/ops")
        assert login.headers["location"] == "/ops/"
        assert "Path=/ops/" in login.headers["set-cookie"]
        shell = await http.get("/ops/")
        assert 'data-root="/ops"' in shell.text and "/ops/ui/assets/app.js" in shell.text
        assert (await http.get("/ops/v1/runs")).status_code == 200


async def test_openapi_describes_the_ui_routes_too(emu) -> None:
    app = _app(emu)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        document = (await c.get("/openapi.json")).json()
    described = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    served = {
        (method, route.path.replace("{token:path}", "{token}"))
        for route in app.routes
        for method in route.methods - {"HEAD"}
    }
    assert served == described


# --- routes the UI uses ----------------------------------------------------------------------


async def test_rerun_starts_the_same_workflow_with_the_same_input(emu, client) -> None:
    first = await Client(emu.world).start(uw.checkout, "o-3")
    await _finished(emu, first.run_id)
    response = await client.post(f"/v1/runs/{first.run_id}/rerun", headers=AUTH)
    assert response.status_code == 201
    again = response.json()
    assert again["rerun_of"] == first.run_id and again["run_id"] != first.run_id
    assert response.headers["location"] == f"/v1/runs/{again['run_id']}"
    rerun = Client(emu.world).get_run(again["run_id"])
    assert await rerun.result(timeout=15) == await first.result()
    [created] = [e for e in await rerun.events() if e["type"] == "run_created"]
    assert created["rerun_of"] == first.run_id and created["data"]["args"] == ["o-3"]
    missing = await client.post("/v1/runs/run_nothere/rerun", headers=AUTH)
    assert missing.status_code == 404 and "run_nothere" in missing.json()["error"]


async def test_the_timeline_of_a_run_that_failed_after_retries(emu, client) -> None:
    """What the Gantt chart draws (runtime/describe.py's timeline): attempts in order, each
    back-off (a retrying attempt's `ended_at` to its `retry_at`) the step's 0.2 s."""
    run = await Client(emu.world).start(uw.declined, "o-4")
    with pytest.raises(Exception, match="card declined"):
        await run.result(timeout=15)
    timeline = (await client.get(f"/v1/runs/{run.run_id}/timeline", headers=AUTH)).json()
    assert timeline == {"run_id": run.run_id, **await run.timeline()}
    assert timeline["ended_at"] is not None
    validate, card = timeline["steps"]
    assert validate["step_name"] == uw.validate.__steplane_step__.name
    assert validate["seq"] < card["seq"]
    assert [a["outcome"] for a in card["attempts"]] == ["retrying", "retrying", "failed"]
    assert [a["attempt"] for a in card["attempts"]] == [1, 2, 3]
    assert card["status"] == "failed" and card["ended_at"] is not None
    t = datetime.fromisoformat
    edges = [t(validate["created_at"])]
    edges += [t(x) for a in card["attempts"] for x in (a["started_at"], a["ended_at"])]
    assert edges == sorted(edges)
    assert t(timeline["started_at"]) <= edges[0] and edges[-1] <= t(timeline["ended_at"])
    for attempt, after in zip(card["attempts"], card["attempts"][1:], strict=False):
        backoff = (t(attempt["retry_at"]) - t(attempt["ended_at"])).total_seconds()
        assert backoff == pytest.approx(0.2, abs=0.01)
        assert t(after["started_at"]) >= t(attempt["retry_at"])


async def test_live_hooks_are_listed_by_fingerprint_and_resumed_by_id(emu, client) -> None:
    run = await Client(emu.world).start(uw.approval, "o-5")
    await _wait_for_event(run, "hook_created")
    hooks = (await client.get("/v1/hooks", headers=AUTH)).json()["hooks"]
    [hook] = hooks
    assert (hook["run_id"], hook["workflow"], hook["received"]) == (run.run_id, "ui.approval", 0)
    assert hook["token_fingerprint"].startswith("tok_")
    [pending] = (await client.get(f"/v1/runs/{run.run_id}/timeline", headers=AUTH)).json()["hooks"]
    assert pending["hook_id"] == hook["hook_id"] and pending["disposed_at"] is None
    path = f"/v1/runs/{run.run_id}/hooks/{hook['hook_id']}/resume"
    wrong = await client.post(f"/v1/runs/{run.run_id}/hooks/hook_99/resume", json=1, headers=AUTH)
    assert wrong.status_code == 404
    assert (await client.post(path, json={"ok": True})).status_code == 401  # no key
    done = await client.post(path, json={"ok": True}, headers=AUTH)
    assert done.json() == {"run_id": run.run_id, "hook_id": hook["hook_id"]}
    assert (await run.result(timeout=15))["decision"] == {"ok": True}
    assert (await client.get("/v1/hooks", headers=AUTH)).json()["hooks"] == []
    assert (await client.post(path, json=2, headers=AUTH)).status_code == 404  # gone
    [used] = (await client.get(f"/v1/runs/{run.run_id}/timeline", headers=AUTH)).json()["hooks"]
    assert len(used["received_at"]) == 1 and used["disposed_at"] is not None


async def test_one_route_per_path_and_the_ui_uses_the_shapes_documented(emu) -> None:
    """The run API's timeline and hook listing are the only ones (runs_api.py); the OpenAPI
    document names one schema per shape."""
    app = _app(emu)
    served = [(m, r.path) for r in app.routes for m in sorted(getattr(r, "methods", ()) or ())]
    assert len(served) == len(set(served)), sorted(p for p in served if served.count(p) > 1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        schemas = (await c.get("/openapi.json")).json()["components"]["schemas"]
    assert {"Timeline", "Attempt", "Hook"} <= set(schemas)
    assert not {"TimelineRow", "LiveHook"} & set(schemas)
    timeline = schemas["Timeline"]["properties"]
    assert {"started_at", "ended_at", "steps", "waits", "hooks"} <= set(timeline)
    assert "received_at" in timeline["hooks"]["items"]["properties"]
    assert "received" in schemas["Hook"]["properties"]


async def test_stream_names(emu, client) -> None:
    run = await Client(emu.world).start(uw.streaming, 2, 0.0)
    await _finished(emu, run.run_id)
    names = (await client.get(f"/v1/runs/{run.run_id}/streams", headers=AUTH)).json()
    assert names == {"run_id": run.run_id, "streams": ["default"]}


async def test_list_since_and_steps(emu, client) -> None:
    older = await Client(emu.world).start(uw.checkout, "o-6")
    await _finished(emu, older.run_id)
    await asyncio.sleep(0.01)
    cut = time.time()
    newer = await Client(emu.world).start(uw.declined, "o-7")
    page = (await client.get(f"/v1/runs?since={cut}&steps=true", headers=AUTH)).json()
    assert [r["run_id"] for r in page["runs"]] == [newer.run_id] and page["next_cursor"] is None
    everything = (await client.get("/v1/runs?steps=true&limit=1", headers=AUTH)).json()
    assert everything["next_cursor"] is not None  # since= stops the paging, nothing else does
    listed = (await client.get("/v1/runs?steps=true", headers=AUTH)).json()["runs"]
    assert {r["run_id"]: r["steps"] for r in listed}[older.run_id] == 3
    iso = (await client.get("/v1/runs?since=2000-01-01T00:00:00%2B00:00", headers=AUTH)).json()
    assert len(iso["runs"]) == 2
    for bad in ("yesterday", "2000-01-01T00:00:00"):
        response = await client.get(f"/v1/runs?since={bad}", headers=AUTH)
        assert response.status_code == 400 and "since" in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/runs/{run_id}/rerun"),
        ("GET", "/v1/runs/{run_id}/timeline"),
        ("GET", "/v1/runs/{run_id}/streams"),
        ("GET", "/v1/hooks"),
        ("POST", "/v1/runs/{run_id}/hooks/hook_1/resume"),
    ],
)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, UI], ids=["none", "wrong", "ui-header"]
)
async def test_the_ui_routes_need_a_key(emu, client, method, path, headers) -> None:
    run = await Client(emu.world).start(uw.hold, "guarded-token")
    await _wait_for_event(run, "hook_created")
    before = len((await emu.world.runs.list(limit=100)).items), await run.events()
    response = await client.request(method, path.format(run_id=run.run_id), json=1, headers=headers)
    assert response.status_code == 401 and "API key" in response.json()["error"]
    assert (len((await emu.world.runs.list(limit=100)).items), await run.events()) == before
    assert await run.status() == "running"
