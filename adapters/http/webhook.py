"""What the hook webhook checks before it records anything: rate limits and signatures.

`POST /v1/hooks/{token}` needs no API key (the token is the credential), so it defends
itself: a per-client and a per-token rate limit (adapters/http/ratelimit.py), and, for a hook
created with `webhook_secret=`, an HMAC-SHA256 signature of the raw body in the hook's
header (`sha256=<hex>`, as GitHub sends `X-Hub-Signature-256`). Every refusal happens before
the payload is decoded or recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import math

from starlette.requests import Request

from steplane.runtime.engine.codec import codecs_for
from steplane.runtime.engine.hook_records import webhook_check
from steplane.runtime.errors import RunNotFoundError
from steplane.runtime.hook_handle import WebhookCheck
from steplane.runtime.world import World

from .ratelimit import RateLimiter
from .responses import ApiError

_PREFIX = "sha256="
_CACHE_SIZE = 10_000


def enforce_rate_limits(
    request: Request, token: str, per_client: RateLimiter | None, per_token: RateLimiter | None
) -> None:
    """ApiError(429, Retry-After) when the client or the token is over its rate."""
    client = request.client.host if request.client else "unknown"
    # The token's bucket is keyed by a digest: this process keeps no token in memory either.
    token_key = hashlib.sha256(token.encode()).hexdigest()
    for limiter, key, what in (
        (per_client, client, "this client"),
        (per_token, token_key, "this hook"),
    ):
        if limiter is None:
            continue
        wait = limiter.acquire(key)
        if wait > 0:
            retry_after = str(max(1, math.ceil(wait)))
            raise ApiError(
                429,
                f"too many requests for {what}: retry in {retry_after} s",
                {"Retry-After": retry_after},
            )


async def verify_hook_signature(
    world: World, token: str, body: bytes, request: Request, cache: dict[tuple[str, str], object]
) -> None:
    """ApiError(401) when the token's hook requires a signature and the request lacks a
    valid one; ApiError(404) for an unknown token (nothing is recorded either way).

    The check is read from the hook's encrypted `hook_created` event once per process and
    hook (`cache`, bounded), since a recorded event never changes.
    """
    owner = await world.hooks.lookup(token)
    if owner is None:
        raise ApiError(404, "no live hook has this token")
    key = (owner.run_id, owner.hook_id)
    if key in cache:
        check = cache[key]
    else:
        try:
            codec = await codecs_for(world).get(owner.run_id)
        except RunNotFoundError:
            raise ApiError(404, "no live hook has this token") from None
        check = await webhook_check(codec, await world.log.read(owner.run_id), owner.hook_id)
        if len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = check
    if not isinstance(check, WebhookCheck):
        return
    sent = request.headers.get(check.header, "").strip()
    if not sent:
        raise ApiError(401, f"missing webhook signature: this hook requires {check.header}")
    if not sent.startswith(_PREFIX):
        raise ApiError(401, f"malformed {check.header}: expected 'sha256=<hex>'")
    expected = hmac.new(check.secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), sent[len(_PREFIX) :].lower().encode()):
        raise ApiError(401, f"wrong webhook signature in {check.header}")
