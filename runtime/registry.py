"""`@workflow` and `@step`: turn ordinary functions into durable ones, registered at import.

The function host finds code by name when a queue message arrives, so every workflow and step
is registered under a stable name (`module:qualname` unless `name=` says otherwise). Calling a
step inside a workflow records a step call instead of running it; anywhere else the decorated
function is a plain call, so steps stay unit-testable.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from . import type_registry
from .context import check_step_thread, current_instance
from .definitions import Limit, Rate, StartOptions, StepDef, WorkflowDef
from .durations import parse_duration
from .errors import WorkflowNotFoundError
from .schedules import add_schedule

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MAX_RETRIES = 3


_workflows: dict[str, WorkflowDef] = {}
_steps: dict[str, StepDef] = {}


def _default_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def _register(table: dict[str, Any], definition: WorkflowDef | StepDef, kind: str) -> None:
    existing = table.get(definition.name)
    if existing is not None and existing.fn is not definition.fn:
        reimport = (
            _default_name(existing.fn) == _default_name(definition.fn)
            and "<locals>" not in definition.fn.__qualname__
        )
        if not reimport:  # two live functions under one name: messages would run the wrong one
            raise ValueError(
                f"{kind} name {definition.name!r} is already used by {_default_name(existing.fn)}; "
                f"cannot register {_default_name(definition.fn)} under it too: pass name="
            )
    table[definition.name] = definition  # a re-import of the same module replaces quietly


@overload
def workflow(fn: F) -> F: ...
@overload
def workflow(
    *, name: str | None = None, concurrency: Limit | None = None, schedule: str | None = None
) -> Callable[[F], F]: ...


def workflow(
    fn: Any = None,
    *,
    name: str | None = None,
    concurrency: Limit | None = None,
    schedule: str | None = None,
) -> Any:
    """Mark an `async def` as a workflow. Start it with `runtime.start(fn, *args)`.

    `concurrency=Limit(key=..., max=n)`: at most n runs with the same key run at once; the
    others wait, suspended, in start order (runtime/locks.py). `schedule="cron(...)"` or
    `"rate(...)"`: runs start on that schedule (runtime/schedules.py)."""
    _check_option("concurrency", concurrency, Limit)

    def decorate(func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"@workflow needs an async def, got {_default_name(func)}")
        definition = WorkflowDef(name=name or _default_name(func), fn=func, concurrency=concurrency)
        _register(_workflows, definition, "workflow")
        if schedule is not None:
            add_schedule(definition, schedule)
        type_registry.note_function(func)  # its hints and module allow classes (serde)
        func.__steplane_workflow__ = definition  # type: ignore[attr-defined]
        func.with_options = functools.partial(StartOptions, definition)  # type: ignore[attr-defined]
        return func

    return decorate(fn) if fn is not None else decorate


@overload
def step(fn: F) -> F: ...
@overload
def step(
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    name: str | None = None,
    timeout: Any = None,
    concurrency: Limit | None = None,
    rate: Rate | None = None,
) -> Callable[[F], F]: ...


def step(
    fn: Any = None,
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    name: str | None = None,
    timeout: Any = None,
    concurrency: Limit | None = None,
    rate: Rate | None = None,
) -> Any:
    """Mark a function as a step: inside a workflow each call runs durably, with retries.

    `timeout` (any `sleep` duration form) bounds one attempt: past it the attempt fails with
    `StepTimeoutError` and is retried per `max_retries`. `concurrency=Limit(...)` bounds the
    attempts of one key running at once, `rate=Rate(10, per="1s")` how fast they start; such
    a step always goes through the queue, where waiting costs no compute."""
    if not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a whole number >= 0, got {max_retries!r}")
    timeout_seconds = _step_timeout(timeout)
    _check_option("concurrency", concurrency, Limit)
    _check_option("rate", rate, Rate)

    def decorate(func: F) -> F:
        definition = StepDef(
            name=name or _default_name(func),
            fn=func,
            max_retries=max_retries,
            is_async=inspect.iscoroutinefunction(func),
            timeout=timeout_seconds,
            timeout_text=_timeout_text(timeout),
            concurrency=concurrency,
            rate=rate,
        )
        _register(_steps, definition, "step")
        type_registry.note_function(func)

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            instance = current_instance()
            check_step_thread(definition.name, instance)
            if instance is None:
                return func(*args, **kwargs)
            return instance.call_step(definition, args, kwargs)

        call.__steplane_step__ = definition  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def _check_option(name: str, value: Any, kind: type) -> None:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{name}= takes a {kind.__name__}(...), got {value!r}")


def _step_timeout(value: Any) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        raise ValueError(f"@step(timeout=...): {error}") from None
    if seconds <= 0:
        raise ValueError(f"@step(timeout=...) must be longer than 0 s, got {value!r}")
    return seconds


def _timeout_text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else f"{parse_duration(value):g}s"


def workflow_def_of(fn: Any) -> WorkflowDef:
    """The registration of a function decorated with `@workflow`, or a clear TypeError."""
    definition = getattr(fn, "__steplane_workflow__", None)
    if definition is None:
        label = getattr(fn, "__qualname__", type(fn).__name__)
        raise TypeError(f"{label} is not a workflow: decorate it with @workflow to start it")
    return definition


def get_workflow(name: str) -> WorkflowDef:
    try:
        return _workflows[name]
    except KeyError:
        raise WorkflowNotFoundError(
            f"unknown workflow {name!r}: import the module that defines it"
        ) from None


def get_step(name: str) -> StepDef:
    try:
        return _steps[name]
    except KeyError:
        raise WorkflowNotFoundError(
            f"unknown step {name!r}: import the module that defines it"
        ) from None


def registered_modules() -> list[str]:
    """The modules that defined the registered workflows and steps, sorted: the code a
    deployment id is a hash of (runtime/deployment.py)."""
    found = {definition.fn.__module__ for definition in (*_workflows.values(), *_steps.values())}
    return sorted(found)
