"""`GET /openapi.json`: an OpenAPI 3.1 description of the app, written by hand.

Hand-written because the routes are few and their security rules (signatures, API keys,
token-only webhook) matter more than anything a generator would infer. `servers` follows the
mount point, so the document is right whether the app is served alone or under a prefix.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..signing import NONCE_HEADER, RECEIVE_COUNT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER

_ERROR = {"$ref": "#/components/schemas/Error"}
_STRING = {"type": "string"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_SEQ = {"type": "integer", "description": "The seq of the event that made it."}
_API_KEY = [{"apiKey": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_RUN_ID = _path_param("run_id", "The run's id (`run_...`).")
_UNAUTHORIZED = _error("Missing or invalid API key; nothing was read or recorded.")
_NO_RUN = _error("No such run.")
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "1-255 characters: a retry with the same key has the effect of one request "
    "(the same run for a start, one delivery for a hook payload).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "One line saying what is wrong."}
        },
    },
    "TaggedJSON": {
        "description": (
            "A value in steplane's tagged JSON: JSON types as themselves, other types as "
            '{"$t": TAG, "v": ...} (bytes, datetime, date, time, timedelta, decimal, uuid, '
            "tuple, set, dict with non-string keys, enum, dataclass, namedtuple)."
        ),
    },
    "QueueMessage": {
        "type": "object",
        "description": "A queue message, exactly as the queue carries it.",
        "required": ["v", "kind", "run_id"],
        "properties": {
            "v": {"const": 1},
            "kind": {"enum": ["workflow", "step", "timer"]},
            "run_id": {"type": "string"},
            "workflow": {"type": "string"},
            "wake": {"type": ["string", "null"]},
            "step": {"type": "string"},
            "step_id": {"type": "string"},
            "hint": {"type": "integer", "minimum": 0},
            "attempt": {"type": "integer", "minimum": 1},
            "due": {"type": "number"},
            "hop": {"type": "integer", "minimum": 1},
            "trace": {
                "type": "string",
                "description": "W3C traceparent of the run's span (optional; a malformed one "
                "is ignored).",
            },
        },
    },
    "Run": {
        "type": "object",
        "required": ["run_id", "workflow", "status", "created_at", "updated_at"],
        "properties": {
            "run_id": {"type": "string"},
            "workflow": {"type": "string"},
            "status": {"enum": ["pending", "running", "completed", "failed", "cancelled"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
            "parent_run_id": {"type": ["string", "null"]},
            "error_code": {"type": ["string", "null"]},
            "attributes": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "What set_attributes() recorded: plaintext, not encrypted.",
            },
            "deployment": {"type": ["string", "null"]},
            "steps": {"type": "integer", "description": "With `steps=true` only."},
        },
    },
    "RunResult": {
        "type": "object",
        "required": ["run_id", "status"],
        "properties": {
            "run_id": {"type": "string"},
            "status": {"enum": ["completed", "failed", "cancelled"]},
            "result": _ref("TaggedJSON"),
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "Event": {
        "type": "object",
        "required": ["seq", "type", "event_id", "created_at"],
        "additionalProperties": True,
        "description": (
            "One log entry; the event's plaintext attributes appear as extra properties. "
            "`data` is the decrypted value (tagged JSON) with `decrypt=true`, else a summary "
            "of the ciphertext (SealedValue)."
        ),
        "properties": {
            "seq": {"type": "integer"},
            "type": {"type": "string"},
            "event_id": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "correlation_id": {"type": ["string", "null"]},
            "data": {},
        },
    },
    "SealedValue": {
        "type": "object",
        "required": ["encrypted", "size"],
        "description": "An event's value without the key: where its ciphertext is, how big.",
        "properties": {
            "encrypted": {"const": True},
            "size": {"type": "integer", "description": "Ciphertext bytes."},
            "blob": {"type": "string", "description": "Blob store key, for a large value."},
        },
    },
    "Attempt": _object(
        ("attempt", "outcome"),
        attempt={"type": "integer", "minimum": 1},
        started_at=_TIME,
        ended_at=_TIME,
        outcome={"enum": ["completed", "failed", "retrying", None]},
        error_type={"type": ["string", "null"]},
        retry_at=_TIME,
    ),
    "Timeline": {
        **_object(
            ("started_at", "ended_at", "steps", "waits", "hooks"),
            run_id=_STRING,
            started_at=_TIME,
            ended_at={**_TIME, "description": "The run's ending; null while it runs."},
            steps={
                "type": "array",
                "items": _object(
                    ("step_id", "seq", "step_name", "status", "attempts"),
                    step_id=_STRING,
                    seq=_SEQ,
                    step_name=_STRING,
                    status={"enum": ["pending", "running", "retrying", "completed", "failed"]},
                    created_at=_TIME,
                    ended_at=_TIME,
                    attempts={"type": "array", "items": _ref("Attempt")},
                ),
            },
            waits={
                "type": "array",
                "items": _object(
                    ("wait_id", "seq"),
                    wait_id=_STRING,
                    seq=_SEQ,
                    created_at=_TIME,
                    resume_at=_TIME,
                    completed_at=_TIME,
                ),
            },
            hooks={
                "type": "array",
                "items": _object(
                    ("hook_id", "seq", "received_at"),
                    hook_id=_STRING,
                    seq=_SEQ,
                    created_at=_TIME,
                    received_at={
                        "type": "array",
                        "items": {"type": "string", "format": "date-time"},
                        "description": "When each payload was delivered.",
                    },
                    disposed_at=_TIME,
                    conflict={"type": ["string", "null"]},
                ),
            },
        ),
        "description": (
            "Steps, waits and hooks on one time axis, from the plaintext part of the log; "
            "`seq` orders the three lists as the workflow made them. A retrying attempt's "
            "back-off lasts from its `ended_at` to its `retry_at`; a hook is live while it has "
            "no `disposed_at` nor `conflict` and the run has no `ended_at`."
        ),
    },
    "Hook": _object(
        ("token_fingerprint", "run_id", "hook_id"),
        token_fingerprint={"type": "string", "description": "`tok_` + 8 hex: never the token."},
        run_id=_STRING,
        hook_id=_STRING,
        workflow={"type": ["string", "null"]},
        received={"type": "integer", "description": "Payloads delivered so far."},
        created_at=_TIME,
        age_seconds={"type": ["number", "null"]},
    ),
}


def _paths() -> dict[str, Any]:
    signed = [{"signature": [], "signatureTimestamp": []}]
    return {
        "/invoke": {
            "post": {
                "summary": "Process one queue message (workflow or step invocation)",
                "security": signed,
                "parameters": [
                    {
                        "name": RECEIVE_COUNT_HEADER,
                        "in": "header",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "How many times the queue has delivered this message "
                        "(covered by the signature).",
                    },
                    {
                        "name": NONCE_HEADER,
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                        "description": "Unique per request (signed); a repeated one is refused.",
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("QueueMessage")}},
                },
                "responses": {
                    "200": _json(_object(ok={"const": True}), "Done."),
                    "400": _error("The message can never succeed (malformed, unknown code)."),
                    "401": _error(
                        "Unsigned, wrongly signed, stale or replayed; nothing was recorded."
                    ),
                    "404": _error("The message names a run this World does not have."),
                    "413": _error("The body is over the size limit; it was not read."),
                    "500": _error("A transient failure: deliver the message again later."),
                },
            }
        },
        "/v1/runs": {
            "post": {
                "summary": "Start a run of a registered workflow",
                "security": _API_KEY,
                "parameters": [_IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["workflow"],
                                "properties": {
                                    "workflow": {"type": "string"},
                                    "args": {"type": "array", "items": _ref("TaggedJSON")},
                                    "kwargs": {
                                        "type": "object",
                                        "additionalProperties": _ref("TaggedJSON"),
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(
                        _object(("run_id",), run_id=_STRING),
                        "Started; `Location` names the run.",
                    ),
                    "400": _error("Bad body, or arguments that do not fit or cannot be stored."),
                    "401": _UNAUTHORIZED,
                    "404": _error("No workflow of that name is registered (import its module)."),
                    "413": _error("An argument is over the payload size limit."),
                },
            },
            "get": {
                "summary": "List runs, newest first",
                "security": _API_KEY,
                "parameters": [
                    _query(
                        "status",
                        {"enum": ["pending", "running", "completed", "failed", "cancelled"]},
                        "Only runs in this status.",
                    ),
                    _query("workflow", {"type": "string"}, "Only runs of this workflow."),
                    _query(
                        "deployment", {"type": "string"}, "Only runs pinned to this deployment."
                    ),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                        "Page size.",
                    ),
                    _query("cursor", {"type": "string"}, "`next_cursor` of the previous page."),
                    {
                        **_query(
                            "attr",
                            {"type": "array", "items": {"type": "string"}},
                            "Only runs whose set_attributes() recorded name=value "
                            "(e.g. `attr=customer=c-7`); repeat for several (all must match).",
                        ),
                        "style": "form",
                        "explode": True,
                    },
                    _query(
                        "since",
                        {"type": "string"},
                        "Only runs created at or after this time (ISO 8601 with a zone, or "
                        "epoch seconds).",
                    ),
                    _query(
                        "steps",
                        {"type": "boolean", "default": False},
                        "Add `steps`, how many steps each run has called (reads each log).",
                    ),
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "runs": {"type": "array", "items": _ref("Run")},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                        "One page of runs.",
                    ),
                    "400": _error("Bad filter, limit or cursor."),
                    "401": _UNAUTHORIZED,
                },
            },
        },
        "/v1/runs/{run_id}": {
            "get": {
                "summary": "A run's status, workflow, timestamps, parent and error code",
                "security": _API_KEY,
                "parameters": [_RUN_ID],
                "responses": {
                    "200": _json(_ref("Run"), "The run."),
                    "401": _UNAUTHORIZED,
                    "404": _NO_RUN,
                },
            }
        },
        "/v1/runs/{run_id}/result": {
            "get": {
                "summary": "The run's outcome, waiting up to `timeout` seconds for it to end",
                "security": _API_KEY,
                "parameters": [
                    _RUN_ID,
                    _query(
                        "timeout",
                        {"type": "integer", "minimum": 0, "default": 0},
                        "Seconds to wait (capped by the server).",
                    ),
                ],
                "responses": {
                    "200": _json(
                        _ref("RunResult"),
                        "The run ended: `result` if completed, else `error` {code, message}.",
                    ),
                    "401": _UNAUTHORIZED,
                    "404": _NO_RUN,
                    "409": _json(
                        _object(run_id=_STRING, status=_STRING, error=_STRING),
                        "The run has not finished yet.",
                    ),
                },
            }
        },
        "/v1/runs/{run_id}/cancel": {
            "post": {
                "summary": "Cancel a run (no-op for a run that has ended)",
                "security": _API_KEY,
                "parameters": [_RUN_ID],
                "responses": {
                    "200": _json(
                        _object(run_id=_STRING, status=_STRING),
                        "The run's status afterwards.",
                    ),
                    "401": _UNAUTHORIZED,
                    "404": _NO_RUN,
                },
            }
        },
        "/v1/runs/{run_id}/events": {
            "get": {
                "summary": "The run's event log; payloads stay ciphertext unless `decrypt=true`",
                "security": _API_KEY,
                "parameters": [
                    _RUN_ID,
                    _query(
                        "decrypt",
                        {"type": "boolean", "default": False},
                        "Decrypt `data` (keys in STEPLANE_DECRYPT_API_KEYS only; audited).",
                    ),
                    _query(
                        "start",
                        {"type": "integer", "minimum": 0, "default": 0},
                        "First event position.",
                    ),
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "run_id": {"type": "string"},
                                "events": {"type": "array", "items": _ref("Event")},
                            },
                        },
                        "The events, in log order.",
                    ),
                    "401": _UNAUTHORIZED,
                    "403": _error("This API key may not decrypt."),
                    "404": _NO_RUN,
                },
            }
        },
        "/v1/runs/{run_id}/timeline": {
            "get": {
                "summary": "The run's steps with their attempts, waits and hooks (no values)",
                "security": _API_KEY,
                "parameters": [_RUN_ID],
                "responses": {
                    "200": _json(_ref("Timeline"), "From the plaintext part of the log."),
                    "401": _UNAUTHORIZED,
                    "404": _NO_RUN,
                },
            }
        },
        "/v1/hooks": {
            "get": {
                "summary": "Live hooks, by token fingerprint",
                "security": _API_KEY,
                "parameters": [
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                        "Page size (a page may hold fewer and still have a next cursor).",
                    ),
                    _query("cursor", {"type": "string"}, "`next_cursor` of the previous page."),
                ],
                "responses": {
                    "200": _json(
                        _object(
                            hooks={"type": "array", "items": _ref("Hook")},
                            next_cursor={"type": ["string", "null"]},
                        ),
                        "One page of live hooks.",
                    ),
                    "400": _error("Bad limit or cursor."),
                    "401": _UNAUTHORIZED,
                },
            }
        },
        "/v1/runs/{run_id}/streams/{name}": {
            "get": {
                "summary": "A run's stream as Server-Sent Events",
                "description": (
                    "Each chunk is an event with `id: <index>` and `data: <tagged JSON>`; the "
                    "response ends with `event: end` when the stream is closed or the run has "
                    "ended. Resume with `Last-Event-ID` (continues after that index) or "
                    "`start_index`. Chunks are user values: the key must be one that may "
                    "decrypt, and each request leaves an audit record."
                ),
                "security": _API_KEY,
                "parameters": [
                    _RUN_ID,
                    _path_param(
                        "name", "The stream's namespace; `default` for the default stream."
                    ),
                    _query(
                        "start_index",
                        {"type": "integer", "minimum": 0, "default": 0},
                        "First chunk index.",
                    ),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "Index of the last chunk received; overrides start_index.",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The event stream.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "400": _error("Bad stream name, start_index or Last-Event-ID."),
                    "401": _UNAUTHORIZED,
                    "403": _error("This API key may not decrypt."),
                    "404": _NO_RUN,
                },
            }
        },
        "/v1/hooks/{token}": {
            "post": {
                "summary": "Deliver a payload to the live hook holding `token` (webhook)",
                "description": "No API key: the unguessable token is the credential.",
                "security": [],
                "parameters": [_path_param("token", "The hook's token."), _IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": False,
                    "description": "Plain JSON, delivered as it is (no tags are decoded).",
                    "content": {"application/json": {"schema": {}}},
                },
                "responses": {
                    "200": _json(
                        _object(("run_id",), run_id=_STRING),
                        "Delivered to this run.",
                    ),
                    "400": _error("The body is not valid JSON, or nested too deeply."),
                    "401": _error(
                        "The hook requires a webhook signature (`sha256=<hex>` HMAC of the "
                        "raw body) and it is missing or wrong; nothing was recorded."
                    ),
                    "404": _error("No live hook holds this token."),
                    "413": _error("The payload is over the size limit."),
                    "429": _error("Over the per-token or per-client rate; see `Retry-After`."),
                },
            }
        },
        "/v1/runs/{run_id}/rerun": {
            "post": {
                "summary": "Start a new run of the same workflow with the same input",
                "description": "The new run's `run_created` event carries `rerun_of`.",
                "security": _API_KEY,
                "parameters": [_RUN_ID],
                "responses": {
                    "201": _json(
                        _object(("run_id", "rerun_of"), run_id=_STRING, rerun_of=_STRING),
                        "Started; `Location` names the new run.",
                    ),
                    "401": _UNAUTHORIZED,
                    "404": _NO_RUN,
                },
            }
        },
        "/v1/runs/{run_id}/streams": {
            "get": {
                "summary": "The names of the run's streams",
                "security": _API_KEY,
                "parameters": [_RUN_ID],
                "responses": {
                    "200": _json(
                        _object(run_id=_STRING, streams={"type": "array", "items": _STRING}),
                        "Stream names (`default` for the default stream).",
                    ),
                    "401": _UNAUTHORIZED,
                    "404": _NO_RUN,
                },
            }
        },
        "/v1/runs/{run_id}/hooks/{hook_id}/resume": {
            "post": {
                "summary": "Deliver a payload to the run's live hook `hook_id` (no token needed)",
                "security": _API_KEY,
                "parameters": [_RUN_ID, _path_param("hook_id", "The hook's id (`hook_...`).")],
                "requestBody": {
                    "required": False,
                    "description": "Plain JSON, delivered as it is (no tags are decoded).",
                    "content": {"application/json": {"schema": {}}},
                },
                "responses": {
                    "200": _json(
                        _object(run_id=_STRING, hook_id=_STRING), "Delivered to the hook."
                    ),
                    "400": _error("The body is not valid JSON."),
                    "401": _UNAUTHORIZED,
                    "404": _error("No such run, or it has no live hook of that id."),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document."}},
            }
        },
    }


def _ui_paths() -> dict[str, Any]:
    page = {"200": {"description": "HTML.", "content": {"text/html": {}}}}
    shell = {
        "get": {
            "summary": "The web UI (303 to the login page without a session)",
            "security": [],
            "responses": {**page, "303": {"description": "Sign in first."}},
        }
    }
    return {
        "/": shell,
        "/ui": shell,
        "/ui/login": {
            "get": {"summary": "The login page", "security": [], "responses": page},
            "post": {
                "summary": "Sign in with an API key (form field `key`); sets the session cookie",
                "security": [],
                "responses": {
                    "303": {"description": "Signed in."},
                    "401": {"description": "Not a valid key.", "content": {"text/html": {}}},
                },
            },
        },
        "/ui/logout": {
            "post": {
                "summary": "Sign out (clears the session cookie)",
                "security": [],
                "responses": {"303": {"description": "Signed out."}},
            }
        },
        "/ui/assets/{name}": {
            "get": {
                "summary": "The UI's style sheet and script (the script needs a session)",
                "security": [],
                "parameters": [_path_param("name", "`style.css` or `app.js`.")],
                "responses": {
                    "200": {"description": "The file."},
                    "401": {"description": "Sign in first."},
                    "404": {"description": "No such file."},
                },
            }
        },
    }


def openapi_document(server_url: str = "/", ui: bool = False) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "steplane",
            "version": "1",
            "description": "Invocation endpoint and run API of a steplane function host.",
        },
        "servers": [{"url": server_url}],
        "paths": {**_paths(), **(_ui_paths() if ui else {})},
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from STEPLANE_API_KEYS.",
                },
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": SIGNATURE_HEADER,
                    "description": (
                        "v1=<hex HMAC-SHA256(secret, timestamp + '.' + body)> with the secret "
                        "from STEPLANE_SIGNING_SECRET."
                    ),
                },
                "signatureTimestamp": {
                    "type": "apiKey",
                    "in": "header",
                    "name": TIMESTAMP_HEADER,
                    "description": "Unix seconds; requests older than 5 minutes are refused.",
                },
            },
        },
    }


def routes(ui: bool = False) -> list[Route]:
    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(request.scope.get("root_path") or "/", ui))

    return [Route("/openapi.json", openapi, methods=["GET"], name="openapi")]
