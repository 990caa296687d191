"""What every route of the HTTP app needs: the World, a client of it, the function host and
the credentials.

Resolved once per app. The World may be given (or the host's), or built from the environment
on the first request (`runtime.config.world_from_env`, so a cold start builds nothing until it
must). The app never reads or installs the process's current World: every route acts through
the app's own `Client`, so one process can serve several Worlds, one app each.

Credentials come from the arguments of `create_app`; else from the Secrets Manager secret named
by `STEPLANE_SECRETS_ARN` (what a deployed function gets: `adapters.aws.secrets`, cached and
refreshed); else, as an explicit local override that wins over the secret, from
`STEPLANE_SIGNING_SECRET`, `STEPLANE_API_KEYS` and `STEPLANE_DECRYPT_API_KEYS`. None configured
means the routes that need them refuse every request (fail closed), never that they are open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from steplane.runtime.client import Client
from steplane.runtime.config import world_from_env
from steplane.runtime.engine.host import FunctionHost
from steplane.runtime.errors import ConfigurationError
from steplane.runtime.world import World

from ..signing import DEFAULT_TOLERANCE, SECRET_ENV, secret_from_env
from .ratelimit import RateLimiter
from .replay import ReplayGuard

API_KEYS_ENV = "STEPLANE_API_KEYS"
DECRYPT_API_KEYS_ENV = "STEPLANE_DECRYPT_API_KEYS"
SECRETS_ARN_ENV = "STEPLANE_SECRETS_ARN"  # = adapters.aws.secrets.SECRETS_ARN_ENV


def keys_from_env(name: str) -> frozenset[str]:
    """Comma-separated keys from an environment variable (blanks ignored)."""
    return frozenset(key.strip() for key in os.environ.get(name, "").split(",") if key.strip())


def key_id(api_key: str) -> str:
    """A short, non-reversible name for an API key, for audit logs (never log the key)."""
    return "key_" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


@dataclass
class AppContext:
    """Shared state of one app instance; routes receive it instead of reaching for globals."""

    _signing_secret: bytes | None
    _api_keys: frozenset[str]
    _decrypt_api_keys: frozenset[str]
    signature_tolerance: float = DEFAULT_TOLERANCE
    max_result_wait: float = 60.0
    webhook_client_limiter: RateLimiter | None = None
    webhook_token_limiter: RateLimiter | None = None
    replay_guard: ReplayGuard = field(default_factory=lambda: ReplayGuard(DEFAULT_TOLERANCE))
    ui: bool = False
    """The web UI is served: its session cookie is accepted in place of a bearer key."""
    webhook_checks: dict[tuple[str, str], object] = field(default_factory=dict, repr=False)
    """(run_id, hook_id) -> its recorded WebhookCheck or None: immutable once recorded."""
    _world: World | None = None
    _host: FunctionHost | None = field(default=None, repr=False)
    _client: Client | None = field(default=None, repr=False)
    _secrets: Callable[[], Any] | None = field(default=None, repr=False)
    """`adapters.aws.secrets.SecretsManagerCredentials` when the secrets live there."""

    @classmethod
    def build(
        cls,
        world: World | None,
        host: FunctionHost | None,
        signing_secret: str | bytes | None,
        api_keys: Iterable[str] | None,
        decrypt_api_keys: Iterable[str] | None,
        signature_tolerance: float,
        max_result_wait: float,
        webhook_client_limiter: RateLimiter | None = None,
        webhook_token_limiter: RateLimiter | None = None,
    ) -> AppContext:
        if world is None and host is not None:
            world = host.world
        if world is not None and host is not None and host.world is not world:
            raise ConfigurationError("create_app: `host` runs against a different World")
        stored = None
        if (
            signing_secret is None
            and api_keys is None
            and decrypt_api_keys is None
            and os.environ.get(SECRETS_ARN_ENV)
            and not any(os.environ.get(v) for v in (SECRET_ENV, API_KEYS_ENV, DECRYPT_API_KEYS_ENV))
        ):
            from ..aws.secrets import SecretsManagerCredentials

            stored = SecretsManagerCredentials.from_env()  # read on the first request
        secret = signing_secret if signing_secret is not None else secret_from_env()
        keys = frozenset(api_keys) if api_keys is not None else keys_from_env(API_KEYS_ENV)
        decrypt = (
            frozenset(decrypt_api_keys)
            if decrypt_api_keys is not None
            else keys_from_env(DECRYPT_API_KEYS_ENV)
        )
        return cls(
            _signing_secret=secret.encode() if isinstance(secret, str) else secret,
            _api_keys=keys | decrypt,  # a decrypt key is also an API key
            _decrypt_api_keys=decrypt,
            signature_tolerance=signature_tolerance,
            max_result_wait=max_result_wait,
            webhook_client_limiter=webhook_client_limiter,
            webhook_token_limiter=webhook_token_limiter,
            replay_guard=ReplayGuard(signature_tolerance),
            _world=world,
            _host=host,
            _secrets=stored,
        )

    @property
    def signing_secrets(self) -> tuple[bytes, ...]:
        """Every secret a valid signature may use, current first (two while rotating)."""
        if self._secrets is not None:
            return tuple(self._secrets().signing_secrets)
        return () if self._signing_secret is None else (self._signing_secret,)

    @property
    def signing_secret(self) -> bytes | None:
        """The current signing secret (None: invocations are refused)."""
        return next(iter(self.signing_secrets), None)

    @property
    def api_keys(self) -> frozenset[str]:
        if self._secrets is not None:
            return frozenset(self._secrets().api_keys)
        return self._api_keys

    @property
    def decrypt_api_keys(self) -> frozenset[str]:
        if self._secrets is not None:
            return frozenset(self._secrets().decrypt_api_keys)
        return self._decrypt_api_keys

    @property
    def world(self) -> World:
        if self._world is None:
            try:
                self._world = world_from_env()
            except ConfigurationError as error:
                raise ConfigurationError(
                    f"the HTTP app has no World: pass create_app(world=...) ({error})"
                ) from None
        return self._world

    @property
    def client(self) -> Client:
        """What the run API and the webhook start, resume and read runs through."""
        if self._client is None:
            self._client = Client(self.world)
        return self._client

    @property
    def host(self) -> FunctionHost:
        if self._host is None:
            self._host = FunctionHost(self.world)
        return self._host

    def is_api_key(self, candidate: str) -> bool:
        return _matches(candidate, self.api_keys)

    def may_decrypt(self, candidate: str) -> bool:
        return _matches(candidate, self.decrypt_api_keys)


def _matches(candidate: str, keys: frozenset[str]) -> bool:
    """Constant-time membership: compare against every key, whatever matches first."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(candidate.encode(), key.encode())
    return found
