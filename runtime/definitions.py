"""What `@workflow` and `@step` register: a name, the function, and its options.

Plain data, importable by everything that handles registrations (the replay engine, the step
runner, `start()`) without importing the decorators or their name tables (runtime/registry.py).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .durations import parse_duration
from .ids import check_deployment_id

_cached_signature = functools.lru_cache(maxsize=4096)(inspect.signature)


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    """Arguments are checked at every call, replays included: build each function's signature
    once (an unhashable callable, which the cache cannot key, gets it built each time)."""
    try:
        return _cached_signature(fn)
    except TypeError:
        return inspect.signature(fn)


def check_arguments(kind: str, name: str, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
    """Raise a clear TypeError at the call site when the arguments cannot bind, instead of
    recording a call that can only fail later."""
    try:
        _signature(fn).bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"{kind} {name!r}: {error}") from None


@dataclass(frozen=True)
class WorkflowDef:
    name: str
    fn: Callable[..., Any]

    def check_arguments(self, args: Any, kwargs: Any) -> None:
        check_arguments("workflow", self.name, self.fn, args, kwargs)


@dataclass(frozen=True)
class StepDef:
    name: str
    fn: Callable[..., Any]
    max_retries: int
    is_async: bool
    timeout: float | None = None
    """Seconds one attempt may run (`@step(timeout=...)`); None: no limit but the host's."""
    timeout_text: str = ""
    """The timeout as the user wrote it, for the error message ("10m")."""

    def check_arguments(self, args: Any, kwargs: Any) -> None:
        check_arguments("step", self.name, self.fn, args, kwargs)


@dataclass(frozen=True)
class StartOptions:
    """`wf.with_options(idempotency_key=..., timeout=..., deployment=...)`: what `start()`
    accepts in place of `wf`. `timeout` (any `sleep` duration form) fails a run that has not
    ended in time with `TIMED_OUT`; it is kept in seconds. `deployment` pins the new run to
    that deployment instead of the default (runtime/deployment.py; a child run started from a
    step: its parent's)."""

    definition: WorkflowDef
    idempotency_key: str | None = None
    timeout: Any = None
    deployment: str | None = None

    def __post_init__(self) -> None:
        if self.deployment is not None:
            check_deployment_id(self.deployment)
        if self.timeout is not None:
            try:
                seconds = parse_duration(self.timeout)
            except ValueError as error:
                raise ValueError(f"with_options(timeout=...): {error}") from None
            if seconds <= 0:
                raise ValueError(
                    f"with_options(timeout=...) must be over 0 s, got {self.timeout!r}"
                )
            object.__setattr__(self, "timeout", float(seconds))
        key = self.idempotency_key
        if key is not None and (not isinstance(key, str) or not key or len(key) > 255):
            raise ValueError(
                f"idempotency_key must be a non-empty string of at most 255 characters, got {key!r}"
            )

    @property
    def __steplane_workflow__(self) -> WorkflowDef:
        return self.definition
