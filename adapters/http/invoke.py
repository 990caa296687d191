"""`POST /invoke`: one queue message, delivered over HTTP, processed by the function host.

The body is exactly the queue message (JSON). The request must be signed (`adapters.signing`);
the signature is checked before anything else, so an unsigned, tampered, stale or replayed
request gets 401 and the host never sees it. Status codes tell the deliverer what to do next:

- 200 `{"ok": true}`: done, delete the message.
- 400 `{"error": ..., "run_ended": code | null}`: settled, do not deliver it again: it can never
  succeed (malformed, too deeply nested, unknown workflow/step, corrupted log) or failed on its
  last allowed receive; the host has already ended its run, when there is one
  (runtime/engine/give_up.py).
- 404 `{"error": ..., "run_ended": null}`: settled too: the message names a run this World does
  not have.
- 413: the body is over the app's size limit (adapters/http/limits.py), never read.
- 500 `{"error": ...}`: something transient failed; deliver it again later.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from steplane.runtime.errors import InvalidMessageError, RunNotFoundError

from ..invocation_log import log_invocation
from ..signing import RECEIVE_COUNT_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from .context import AppContext
from .json_input import JsonInputError, JsonTooDeepError, loads_bounded
from .responses import error_response

__all__ = ["RECEIVE_COUNT_HEADER", "routes"]

log = logging.getLogger("steplane.http.invoke")


def _receive_count(request: Request) -> int:
    raw = request.headers.get(RECEIVE_COUNT_HEADER, "1")
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise InvalidMessageError(f"malformed {RECEIVE_COUNT_HEADER}: expected a whole number >= 1")
    return int(raw)


def _message(body: bytes) -> Any:
    """The parsed body, or the raw bytes so that the host reports what is wrong with them.
    Nesting past the limit is refused here: the host's parser would recurse on it."""
    try:
        return loads_bounded(body)
    except JsonTooDeepError as error:
        raise InvalidMessageError(str(error)) from None
    except JsonInputError:
        return body


def routes(ctx: AppContext) -> list[Route]:
    async def invoke(request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:  # the sender gave up; the queue delivers the message again
            return error_response(400, "the client disconnected before sending the whole body")
        secrets = ctx.signing_secrets  # two while the secret rotates: either one signs
        if not secrets:
            return error_response(401, "invocations are disabled: no signing secret configured")
        nonce = ""
        for index, secret in enumerate(secrets):
            try:
                nonce = verify(secret, body, request.headers, tolerance=ctx.signature_tolerance)
                break
            except SignatureError as error:
                if index == len(secrets) - 1:
                    return error_response(401, str(error))
        if not ctx.replay_guard.first_use(nonce, int(request.headers[TIMESTAMP_HEADER])):
            return error_response(401, "replayed request: this signature was already used")
        started = time.perf_counter()
        message: Any = None  # logged: only what parsed within the limits
        receive_count = 1
        try:
            message = _message(body)
            receive_count = _receive_count(request)
        except InvalidMessageError as error:
            log_invocation(
                log, message, outcome="rejected", started=started, receive_count=1, error=error
            )
            return error_response(400, str(error))
        verdict = await ctx.host.process(message, receive_count=receive_count)
        log_invocation(
            log,
            message,
            outcome=verdict.outcome,
            started=started,
            receive_count=receive_count,
            error=verdict.error,
        )
        if verdict.outcome == "rejected":
            status = 404 if isinstance(verdict.error, RunNotFoundError) else 400
            return JSONResponse({"error": str(verdict.error), "run_ended": verdict.ended}, status)
        if verdict.outcome == "failed":
            error = verdict.error
            return error_response(500, f"{type(error).__name__}: {error}")
        return JSONResponse({"ok": True})

    return [Route("/invoke", invoke, methods=["POST"], name="invoke")]
