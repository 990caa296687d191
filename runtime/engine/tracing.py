"""OpenTelemetry spans for runs, invocations and step attempts (the optional extra `otel`).

One run reads as one trace, across invocations and processes:

- `steplane.run <workflow>`: made by `start()` where the run is created; the trace's root (or
  a child of whatever span is current where `start()` is called).
- `steplane.invocation <kind>`: one per queue message handled (workflow, step, timer), a child
  of the run span wherever it runs: the run span's W3C `traceparent` travels in every queue
  message of the run (engine/messages.py, field `trace`) and in the `run_created` event, so a
  message sent without it (a hook delivery's wake, the reconciler, a message from before
  tracing) is parented too, at the cost of one log read per run and process.
- `steplane.step <name>`: one per step attempt, inline or queued, a child of its invocation.

Attributes are ids, names, counters and outcomes only, never user values: `steplane.run_id`,
`steplane.workflow`, `steplane.invocation.kind`, `steplane.receive_count`,
`steplane.step_name`, `steplane.step_id`, `steplane.attempt`, `steplane.outcome` (an attempt's
`completed`/`failed`/`retrying`, as in runtime/describe.py's timeline; an invocation's `ok` or
`error`) and `steplane.error_type` (an exception's type name; its message may hold user data,
so it is never recorded).

Without the `opentelemetry` package (or with no tracer provider set) everything here is a
no-op: nothing is imported, no message grows, no log is read. The package is imported only
once tracing can be on (`_api`): a process where nothing imported it and no environment
variable names a provider (a Lambda cold start) does not pay its import.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

otel_trace: Any = None
"""`opentelemetry.trace` once `_api` imported it (the optional extra: absent in a core install)."""
TraceContextTextMapPropagator: Any = None
_imported = False
PROVIDER_VARIABLE = "OTEL_PYTHON_TRACER_PROVIDER"
"""The variable `opentelemetry.trace.get_tracer_provider` loads a provider from."""

TRACER_NAME = "steplane"
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
"""W3C trace context `traceparent`: what messages and `run_created` carry (55 characters)."""

_provider: Any = None
"""A tracer provider given to `use_tracer_provider` (tests, hosts with several); None: the
global one (`opentelemetry.trace.set_tracer_provider`)."""

_run_trace: ContextVar[str | None] = ContextVar("steplane_run_trace", default=None)
"""The `traceparent` of the run whose invocation is running: stamped on what it sends."""

_KNOWN_RUNS = 4096


def use_tracer_provider(provider: Any) -> None:
    """Trace with `provider` instead of the global tracer provider (None: the global again)."""
    global _provider
    _provider = provider


def _api() -> bool:
    """Import the OpenTelemetry API the first time tracing can be on: a provider was given to
    `use_tracer_provider`, something imported `opentelemetry` (only then can code have set a
    provider: the SDK, auto-instrumentation), or the environment names one. Until then
    tracing is off without importing it. False: no package, or no reason to look yet."""
    global otel_trace, TraceContextTextMapPropagator, _imported
    if _imported:
        return otel_trace is not None
    untouched = _provider is None and "opentelemetry" not in sys.modules
    if untouched and not os.environ.get(PROVIDER_VARIABLE):
        return False  # asked again next time: a later import of the package counts
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import (
            TraceContextTextMapPropagator as propagator,
        )
    except ImportError:  # exercised by tests/test_tracing.py in a subprocess
        pass
    else:
        otel_trace, TraceContextTextMapPropagator = trace, propagator
    _imported = True
    return otel_trace is not None


def _tracer() -> Any:
    """The tracer, or None when tracing is off (no package, no provider configured)."""
    if not _api():
        return None
    provider = _provider if _provider is not None else otel_trace.get_tracer_provider()
    if isinstance(provider, otel_trace.ProxyTracerProvider | otel_trace.NoOpTracerProvider):
        return None  # no SDK configured: skip even the cheap no-op spans and log reads
    return provider.get_tracer(TRACER_NAME)


def enabled() -> bool:
    return _tracer() is not None


def valid_traceparent(value: Any) -> str | None:
    """`value` if it is a well-formed traceparent, else None (a bad one is dropped, never an
    error: tracing must not fail a message)."""
    return value if isinstance(value, str) and TRACEPARENT.match(value) else None


def _parent(traceparent: str | None) -> Any:
    """An OpenTelemetry context whose parent is the span `traceparent` names (None: no parent
    from us; the current context then applies)."""
    if traceparent is None:
        return None
    return TraceContextTextMapPropagator().extract({"traceparent": traceparent})


def _traceparent(span: Any) -> str | None:
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, otel_trace.set_span_in_context(span))
    return valid_traceparent(carrier.get("traceparent"))


def _end(span: Any, outcome: str, error: BaseException | None = None) -> None:
    span.set_attribute("steplane.outcome", outcome)
    if error is not None:
        span.set_attribute("steplane.error_type", type(error).__name__)
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, type(error).__name__))
    span.end()


# --- the three kinds of span ------------------------------------------------------------------


def run_span(run_id: str, workflow: str) -> str | None:
    """Record the run's root span as it is created; its `traceparent` (None: tracing off),
    for the run's first message and its `run_created` event."""
    tracer = _tracer()
    if tracer is None:
        return None
    attributes = {"steplane.run_id": run_id, "steplane.workflow": workflow}
    span = tracer.start_span(f"steplane.run {workflow}", attributes=attributes)
    try:
        return _traceparent(span)
    finally:
        span.end()


@contextlib.contextmanager
def invocation_span(
    kind: str, run_id: str, target: str, traceparent: str | None, receive_count: int
) -> Iterator[None]:
    """A span around one invocation, under the run span `traceparent`; what the invocation
    sends carries the same `traceparent`, so every invocation of the run is a child of it."""
    tracer = _tracer()
    if tracer is None:
        yield
        return
    attributes = {
        "steplane.run_id": run_id,
        "steplane.invocation.kind": kind,
        "steplane.receive_count": receive_count,
        ("steplane.step_name" if kind == "step" else "steplane.workflow"): target,
    }
    span = tracer.start_span(
        f"steplane.invocation {kind}", context=_parent(traceparent), attributes=attributes
    )
    token = _run_trace.set(traceparent)
    try:
        with otel_trace.use_span(span, record_exception=False, set_status_on_exception=False):
            yield
    except BaseException as error:
        _end(span, "error", error)
        raise
    finally:
        _run_trace.reset(token)
    _end(span, "ok")


@contextlib.contextmanager
def attempt_span(run_id: str, step_name: str, step_id: str, attempt: int) -> Iterator[Any]:
    """A span around one step attempt (a child of the current invocation's span). Yields a
    callable taking the attempt's outcome (`completed`, `failed`, `retrying`)."""
    tracer = _tracer()
    if tracer is None:
        yield _ignore
        return
    attributes = {
        "steplane.run_id": run_id,
        "steplane.step_name": step_name,
        "steplane.step_id": step_id,
        "steplane.attempt": attempt,
    }
    span = tracer.start_span(f"steplane.step {step_name}", attributes=attributes)
    outcome: list[str] = []
    try:
        with otel_trace.use_span(span, record_exception=False, set_status_on_exception=False):
            yield outcome.append
    except BaseException as error:
        _end(span, "error", error)
        raise
    ended = outcome[-1] if outcome else "error"
    if ended != "completed":  # failed or retrying: the attempt did not succeed
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, ended))
    _end(span, ended)


def _ignore(outcome: str) -> None:
    """What `attempt_span` yields when tracing is off."""


# --- carrying the run's trace -----------------------------------------------------------------


def stamp(body: dict[str, Any], traceparent: str | None = None) -> dict[str, Any]:
    """`body` with the run's trace (`traceparent`, else the running invocation's) if any."""
    carried = traceparent or _run_trace.get()
    if carried is not None and "trace" not in body:
        body["trace"] = carried
    return body


class RunTraces:
    """Each run's `traceparent` as recorded on its `run_created` event, remembered per World
    and process (bounded), for messages that arrive without one."""

    def __init__(self) -> None:
        self._known: collections.OrderedDict[str, str | None] = collections.OrderedDict()

    async def of(self, world: Any, run_id: str) -> str | None:
        if not enabled():
            return None
        if run_id in self._known:
            self._known.move_to_end(run_id)
            return self._known[run_id]
        try:
            log = await world.log.read(run_id)
        except Exception:  # tracing must not fail a message: the invocation meets it itself
            return None
        first = log[0] if log else None
        found = valid_traceparent(first.attrs.get("trace")) if first is not None else None
        self._known[run_id] = found
        while len(self._known) > _KNOWN_RUNS:
            self._known.popitem(last=False)
        return found


def run_traces(world: Any) -> RunTraces:
    """The process-wide `RunTraces` of a World (kept on the World, like its codecs)."""
    traces = getattr(world, "_steplane_traces", None)
    if traces is None:
        traces = RunTraces()
        world._steplane_traces = traces
    return traces
