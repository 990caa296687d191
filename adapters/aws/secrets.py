"""The HTTP app's bearer secrets from AWS Secrets Manager, read once per cold start and cached.

The deployment's stack keeps the signing secret and the API keys in one Secrets Manager secret
(never in the function's environment, where anyone who may read the function's configuration
reads them too); the function gets only its ARN, `STEPLANE_SECRETS_ARN`. The secret's value is
JSON:

    {"signing_secret": "...", "api_keys": "key1,key2", "decrypt_api_keys": "key3"}

Rotation: both the `AWSCURRENT` and the `AWSPREVIOUS` versions are accepted (signatures made
with either secret, either version's keys), so senders and clients can move to the new value at
their pace within one rotation. Values are re-read at most every `REFRESH_SECONDS`: a rotated
secret reaches every warm function within that time, and a busy function costs Secrets Manager
one call (two with a previous version) per refresh, not one per request.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

SECRETS_ARN_ENV = "STEPLANE_SECRETS_ARN"
SECRETS_OUTPUT = "SecretsArn"
"""The stack output naming the secret."""
REFRESH_SECONDS = 300.0
STAGES = ("AWSCURRENT", "AWSPREVIOUS")


class Credentials(NamedTuple):
    """What the HTTP app authenticates with. `signing_secrets` is current first."""

    signing_secrets: tuple[bytes, ...]
    api_keys: frozenset[str]
    decrypt_api_keys: frozenset[str]


def secret_value(signing_secret: str, api_keys: str = "", decrypt_api_keys: str = "") -> str:
    """The JSON a steplane secret holds (what `steplane dev` and tests store)."""
    return json.dumps(
        {
            "signing_secret": signing_secret,
            "api_keys": api_keys,
            "decrypt_api_keys": decrypt_api_keys,
        }
    )


def _keys(text: object) -> frozenset[str]:
    if not isinstance(text, str):
        return frozenset()
    return frozenset(key.strip() for key in text.split(",") if key.strip())


def parse(values: list[str]) -> Credentials:
    """Merge the JSON texts of the secret's versions (current first). A version that is not a
    JSON object raises ValueError: a misconfigured secret must not silently open or close routes."""
    secrets: list[bytes] = []
    api_keys: set[str] = set()
    decrypt: set[str] = set()
    for text in values:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ValueError("the steplane secret must be a JSON object (see adapters/aws/secrets)")
        secret = value.get("signing_secret")
        if isinstance(secret, str) and secret:
            secrets.append(secret.encode())
        api_keys |= _keys(value.get("api_keys"))
        decrypt |= _keys(value.get("decrypt_api_keys"))
    return Credentials(tuple(secrets), frozenset(api_keys | decrypt), frozenset(decrypt))


class SecretsManagerCredentials:
    """Callable returning the current `Credentials`, re-read after `ttl` seconds.

    Thread-safe: one reader refreshes while the others keep the cached value. A failed refresh
    of a value already held keeps serving it (Secrets Manager being briefly unreachable must not
    lock everyone out) and tries again after another `ttl`; with nothing held, it raises.
    """

    def __init__(
        self,
        arn: str,
        client: Any = None,
        ttl: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.arn = arn
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: Credentials | None = None
        self._read_at = 0.0

    @classmethod
    def from_env(cls) -> SecretsManagerCredentials:
        """On the ARN in `STEPLANE_SECRETS_ARN`, with boto3's usual region and endpoint."""
        return cls(os.environ[SECRETS_ARN_ENV])

    def __call__(self) -> Credentials:
        with self._lock:
            if self._value is None or self._clock() - self._read_at >= self._ttl:
                try:
                    self._value = parse(self._read())
                except Exception:
                    if self._value is None:
                        raise
                self._read_at = self._clock()
            return self._value

    def _read(self) -> list[str]:
        if self._client is None:
            import boto3  # only a function configured with a secret pays for the import

            self._client = boto3.client("secretsmanager")
        values = []
        for stage in STAGES:
            try:
                found = self._client.get_secret_value(SecretId=self.arn, VersionStage=stage)
            except Exception as error:
                code = getattr(error, "response", {}).get("Error", {}).get("Code")
                if stage != "AWSCURRENT" and code == "ResourceNotFoundException":
                    continue  # never rotated: there is no previous version
                raise
            values.append(found["SecretString"])
        return values
