"""A moto server whose DynamoDB answers one request at a time: `python -m
local_emulator.aws.moto_server -H 127.0.0.1 -p PORT`, or `MotoServer` in a thread of this
process.

moto's server serves each request on its own thread and locks only its routing, not the
backends: two conditional PutItems racing on one key can both "win" (measured: 5 of 100 rounds
of 8 racing appends), which breaks the log's exactly-one-writer rule (docs/invariants.md #1)
under `steplane dev`, the chaos harness and the server-mode tests. Serializing DynamoDB's
requests restores it. SQS, S3 and KMS stay concurrent: an SQS long poll waits inside moto, and
under a lock it would stall every other request for its whole wait. Templates are parsed as
JSON first, KMS keys made lazily (moto_patches.py).
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server, run_simple

from . import moto_patches

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerialDynamoDB:
    """WSGI middleware: DynamoDB requests (`X-Amz-Target: DynamoDB_...`) one at a time, the
    whole response produced inside the lock; every other request passes straight through."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def make_app() -> SerialDynamoDB:
    moto_patches.install()
    return SerialDynamoDB(DomainDispatcherApplication(create_backend_app))


class MotoServer(ThreadedMotoServer):
    """moto's `ThreadedMotoServer` with DynamoDB serialized (see the module docstring)."""

    def _server_entry(self) -> None:
        self._server = make_server(
            self._ip_address, self._port, make_app(), True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto server, DynamoDB serialized")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto's own server does
    run_simple(args.host, args.port, make_app(), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
