"""Web UI sessions: a signed cookie that stands for an API key, so a browser never holds one.

The login page posts the key once; the answer sets `steplane_session`, an HttpOnly,
SameSite=Strict cookie `v1.<expiry>.<HMAC-SHA256(key, "steplane-ui|" + expiry)>`. Nothing in it
reveals the key; it is checked against every configured key (so a removed key ends its
sessions at once) and it expires after `SESSION_SECONDS`. It is stateless, so every process
of a deployment accepts it.

A cookie is sent by the browser on its own, so a request authenticated only by the cookie and
able to change something (any method but GET/HEAD) must also carry `X-Steplane-UI: 1`: a
cross-site page cannot add that header without a CORS preflight, which this app never grants.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "steplane_session"
CSRF_HEADER = "x-steplane-ui"
SESSION_SECONDS = 12 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _mac(key: str, expiry: int) -> str:
    return hmac.new(key.encode(), f"steplane-ui|{expiry}".encode(), hashlib.sha256).hexdigest()


def session_value(key: str, now: float | None = None) -> str:
    """A fresh cookie value for `key`, valid for `SESSION_SECONDS`."""
    expiry = int((time.time() if now is None else now) + SESSION_SECONDS)
    return f"v1.{expiry}.{_mac(key, expiry)}"


def session_key(value: str | None, keys: Iterable[str], now: float | None = None) -> str | None:
    """The configured key a cookie value was made for; None if it is malformed, expired or
    made for no current key. Every key is compared in constant time."""
    if not value:
        return None
    version, _, rest = value.partition(".")
    expiry_text, _, mac = rest.partition(".")
    if version != "v1" or not expiry_text.isascii() or not expiry_text.isdigit():
        return None
    expiry, current = int(expiry_text), time.time() if now is None else now
    if not current <= expiry <= current + SESSION_SECONDS:
        return None
    found = None
    for key in keys:
        if hmac.compare_digest(_mac(key, expiry), mac):
            found = key
    return found


def request_session_key(request: Request, keys: Iterable[str]) -> str | None:
    """The key behind the request's session cookie, if the request may use it: a state
    changing request also needs the `X-Steplane-UI` header (see module docstring)."""
    key = session_key(request.cookies.get(COOKIE), keys)
    if key is None:
        return None
    if request.method not in _SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
        return None
    return key


def cookie_path(request: Request) -> str:
    return (request.scope.get("root_path") or "") + "/"


def set_session(response: Response, request: Request, key: str) -> None:
    response.set_cookie(
        COOKIE,
        session_value(key),
        max_age=SESSION_SECONDS,
        path=cookie_path(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=cookie_path(request), httponly=True, samesite="strict")
