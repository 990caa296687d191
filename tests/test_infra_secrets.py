"""The HTTP app's secrets from Secrets Manager (moto): read once, cached, refreshed after the
TTL, both versions accepted while rotating; the environment variables override them locally."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from adapters.aws.secrets import SecretsManagerCredentials, secret_value
from adapters.http import create_app
from adapters.memory import MemoryWorld
from adapters.signing import sign
from runtime.world import World
from tests.conftest import FAKE_AWS_ENV, installed


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("STEPLANE_SIGNING_SECRET", "STEPLANE_API_KEYS", "STEPLANE_DECRYPT_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


class CountingClient:
    """The real (moto) client, counting GetSecretValue calls."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, 0

    def get_secret_value(self, **request: Any) -> Any:
        self.calls += 1
        return self.client.get_secret_value(**request)


def test_values_are_cached_refreshed_after_the_ttl_and_both_versions_accepted(
    secretsmanager: Any,
) -> None:
    arn = secretsmanager.create_secret(
        Name="shop-secrets", SecretString=secret_value("old-secret", "old-key", "admin")
    )["ARN"]
    now = [0.0]
    client = CountingClient(secretsmanager)
    credentials = SecretsManagerCredentials(arn, client, ttl=300, clock=lambda: now[0])
    first = credentials()
    assert first.signing_secrets == (b"old-secret",)
    assert first.api_keys == {"old-key", "admin"} and first.decrypt_api_keys == {"admin"}
    assert client.calls == 2  # AWSCURRENT, and AWSPREVIOUS (none yet)
    for _ in range(50):
        credentials()
    assert client.calls == 2  # cached

    secretsmanager.put_secret_value(SecretId=arn, SecretString=secret_value("new", "new-key"))
    now[0] = 299.0
    assert credentials().signing_secrets == (b"old-secret",)  # within the TTL
    now[0] = 300.0
    rotated = credentials()
    assert rotated.signing_secrets == (b"new", b"old-secret")  # current first
    assert rotated.api_keys == {"new-key", "old-key", "admin"}


def test_a_secret_that_is_not_json_is_refused_not_taken_as_no_keys(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(Name="bad", SecretString="just-a-string")["ARN"]
    with pytest.raises(ValueError, match="must be a JSON object"):
        SecretsManagerCredentials(arn, secretsmanager)()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with installed(MemoryWorld()) as built:
        yield built


async def _signed(client: httpx.AsyncClient, secret: str) -> bool:
    """Whether an invocation signed with `secret` gets past the signature check (this body is
    then refused as an invalid message: 400, not 401)."""
    body = json.dumps({"kind": "nothing"}).encode()
    response = await client.post("/invoke", content=body, headers=sign(secret, body))
    assert response.status_code in (400, 401), response.text
    return response.status_code == 400


async def _runs(client: httpx.AsyncClient, key: str) -> int:
    response = await client.get("/v1/runs", headers={"Authorization": f"Bearer {key}"})
    return response.status_code


async def test_the_app_reads_its_secrets_from_the_arn_in_the_environment(
    secretsmanager: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = secretsmanager.create_secret(
        Name="shop-secrets", SecretString=secret_value("old-secret", "old-key")
    )["ARN"]
    secretsmanager.put_secret_value(SecretId=arn, SecretString=secret_value("new-secret", "k2"))
    monkeypatch.setenv("STEPLANE_SECRETS_ARN", arn)
    app = create_app(world)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert await _signed(c, "new-secret")
        assert await _signed(c, "old-secret")  # AWSPREVIOUS, while rotating
        assert not await _signed(c, "never-the-secret")
        assert await _runs(c, "k2") == 200 and await _runs(c, "old-key") == 200
        assert await _runs(c, "not-a-key") == 401


async def test_the_environment_variables_override_the_secret_locally(
    secretsmanager: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = secretsmanager.create_secret(Name="s", SecretString=secret_value("stored", "k"))["ARN"]
    monkeypatch.setenv("STEPLANE_SECRETS_ARN", arn)
    monkeypatch.setenv("STEPLANE_SIGNING_SECRET", "local")
    monkeypatch.setenv("STEPLANE_API_KEYS", "local-key")
    app = create_app(world)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert await _signed(c, "local")
        assert not await _signed(c, "stored")
        assert await _runs(c, "local-key") == 200 and await _runs(c, "k") == 401


async def test_the_lambda_handler_reads_the_secret_once_per_cold_start(
    secretsmanager: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production path: a Function URL request to `adapters.lambda_handler.handler`."""
    import asyncio

    from adapters import lambda_handler
    from tests.test_lambda_handler import http_event

    arn = secretsmanager.create_secret(Name="fn", SecretString=secret_value("s", "fn-key"))["ARN"]
    monkeypatch.setenv("STEPLANE_SECRETS_ARN", arn)
    reads: list[str] = []
    secretsmanager.meta.events.register(  # boto3 clients of one session share no hooks: count
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("read")
    )
    monkeypatch.setattr("boto3.client", lambda service, **_: secretsmanager)

    def get(key: str) -> int:
        event = http_event("GET", "/v1/runs", headers={"authorization": f"Bearer {key}"})
        return int(lambda_handler.handler(event, None)["statusCode"])

    assert await asyncio.to_thread(get, "fn-key") == 200
    assert await asyncio.to_thread(get, "other") == 401
    assert await asyncio.to_thread(get, "fn-key") == 200
    assert reads == ["read", "read"]  # AWSCURRENT and AWSPREVIOUS, once for the warm function
