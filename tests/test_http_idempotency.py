"""The `Idempotency-Key` header on the run API's start route and on the hook webhook."""

from __future__ import annotations

from runtime import start
from tests.engine import workflows as wf
from tests.engine.test_scenarios import _wait_for_event
from tests.test_http_runs_api import ADDITION, AUTH, client, emu  # noqa: F401  (fixtures)


async def test_start_with_the_same_key_returns_the_same_run(client) -> None:  # noqa: F811
    body = {"workflow": ADDITION, "args": [2, 3]}
    headers = {**AUTH, "Idempotency-Key": "order:o-1"}
    first = await client.post("/v1/runs", json=body, headers=headers)
    again = await client.post("/v1/runs", json={**body, "args": [7, 7]}, headers=headers)
    assert first.status_code == again.status_code == 201
    run_id = first.json()["run_id"]
    assert again.json()["run_id"] == run_id
    other = await client.post("/v1/runs", json=body, headers={**AUTH, "Idempotency-Key": "o-2"})
    assert other.json()["run_id"] != run_id
    result = await client.get(f"/v1/runs/{run_id}/result?timeout=10", headers=AUTH)
    assert result.json()["result"] == 5  # the first request's arguments
    too_long = await client.post(
        "/v1/runs", json=body, headers={**AUTH, "Idempotency-Key": "k" * 256}
    )
    assert too_long.status_code == 400
    assert "Idempotency-Key" in too_long.json()["error"]


async def test_the_hook_webhook_delivers_once_per_key(client) -> None:  # noqa: F811
    run = await start(wf.three_payloads, "order:43")
    await _wait_for_event(run, "hook_created")
    for _ in range(3):  # a client retrying the same delivery
        response = await client.post(
            "/v1/hooks/order:43", json="one", headers={"Idempotency-Key": "d-1"}
        )
        assert response.status_code == 200
        assert response.json() == {"run_id": run.run_id}
    for payload, key in (("two", "d-2"), ("three", "d-3")):
        response = await client.post(
            "/v1/hooks/order:43", json=payload, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 200
    assert (await run.result(timeout=10))["payloads"] == ["one", "two", "three"]
