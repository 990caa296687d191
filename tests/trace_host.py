"""A function host process for tests/test_tracing.py's cross-process test: it plays Lambda's
event source mapping against the World the environment configures (a moto server), through
`adapters.lambda_handler.handler`, with a global OpenTelemetry provider of its own, until the
run named on the command line has ended; then it prints the spans it made as JSON lines."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.lambda_loop import serve_one_batch


def main(run_id: str, seconds: float) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # the global one, as a deployment sets it up

    from adapters import lambda_handler

    world = lambda_handler.get_host().world
    deadline = time.monotonic() + seconds
    loop = asyncio.new_event_loop()
    while time.monotonic() < deadline:
        record = loop.run_until_complete(world.runs.get(run_id))
        if record is not None and record.status.is_terminal:
            break
        if not serve_one_batch(loop, world.queue, visibility=5):
            time.sleep(0.05)
    for span in exporter.get_finished_spans():
        print(
            json.dumps(
                {
                    "name": span.name,
                    "trace_id": f"{span.context.trace_id:032x}",
                    "span_id": f"{span.context.span_id:016x}",
                    "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                    "attributes": dict(span.attributes),
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
