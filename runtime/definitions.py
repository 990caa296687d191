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


def positive_seconds(what: str, value: Any) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None
    if seconds <= 0:
        raise ValueError(f"{what} must be longer than 0 s, got {value!r}")
    return seconds


@dataclass(frozen=True)
class Limit:
    """At most `max` runs (on `@workflow`) or step attempts (on `@step`) with the same key at
    once. `key` is called with the workflow's or step's arguments and returns the key (any
    value; its `str()` names the key, so keep it short and free of secrets). `lease`: how long
    a permit is held at most (default: a workflow's until the run ends; a step's its timeout,
    else 15 minutes), after which another waiter may take it."""

    key: Callable[..., Any]
    max: int = 1
    lease: Any = None

    def __post_init__(self) -> None:
        if not callable(self.key):
            raise TypeError(f"Limit(key=...) must be a function of the arguments, got {self.key!r}")
        if not isinstance(self.max, int) or isinstance(self.max, bool) or self.max < 1:
            raise ValueError(f"Limit(max=...) must be a whole number >= 1, got {self.max!r}")
        if self.lease is not None:
            positive_seconds("Limit(lease=...)", self.lease)

    @property
    def lease_seconds(self) -> float | None:
        return None if self.lease is None else positive_seconds("Limit(lease=...)", self.lease)

    def key_of(self, owner: str, args: Any, kwargs: Any) -> str:
        """The limit's name for one call: the owner's name and the user's key."""
        return f"{owner}|{self.key(*args, **kwargs)}"


@dataclass(frozen=True)
class Rate:
    """At most `count` calls per `per` (a duration: "1s", "1m", seconds), evenly spaced: one
    call every `per / count`, with no burst, so the rate holds over any window."""

    count: int
    per: Any = "1s"
    key: Callable[..., Any] | None = None
    """Optional: a function of the step's arguments; one rate per key (default: one for all)."""

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise ValueError(f"Rate(count) must be a whole number >= 1, got {self.count!r}")
        positive_seconds("Rate(per=...)", self.per)

    @property
    def interval(self) -> float:
        return positive_seconds("Rate(per=...)", self.per) / self.count

    def key_of(self, owner: str, args: Any, kwargs: Any) -> str:
        return owner if self.key is None else f"{owner}|{self.key(*args, **kwargs)}"


@dataclass(frozen=True)
class WorkflowDef:
    name: str
    fn: Callable[..., Any]
    concurrency: Limit | None = None
    """`@workflow(concurrency=Limit(...))`: runs of one key at once (runtime/locks.py)."""

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
    concurrency: Limit | None = None
    """`@step(concurrency=Limit(...))`: attempts of one key at once."""
    rate: Rate | None = None
    """`@step(rate=Rate(10, per="1s"))`: how fast attempts start."""

    @property
    def flow_controlled(self) -> bool:
        """Whether attempts wait for a permit or a slot (such steps always go through the
        queue: waiting there costs no compute, and never holds up an inline loop)."""
        return self.concurrency is not None or self.rate is not None

    def check_arguments(self, args: Any, kwargs: Any) -> None:
        check_arguments("step", self.name, self.fn, args, kwargs)


@dataclass(frozen=True)
class StartOptions:
    """`wf.with_options(idempotency_key=..., timeout=..., deployment=..., debounce=..., key=...)`:
    what `start()` accepts in place of `wf`.

    `timeout` (any `sleep` duration form) fails a run that has not ended in time with
    `TIMED_OUT`; it is kept in seconds. `deployment` pins the new run to that deployment
    instead of the default (runtime/deployment.py; a child run started from a step: its
    parent's). `debounce="5s", key=k`: starts with the same key within the window collapse
    into one run, which starts once no start came for `debounce` and runs with the last
    arguments."""

    definition: WorkflowDef
    idempotency_key: str | None = None
    timeout: Any = None
    deployment: str | None = None
    debounce: Any = None
    key: str | None = None

    @property
    def debounce_seconds(self) -> float | None:
        return None if self.debounce is None else positive_seconds("debounce", self.debounce)

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
        if self.debounce is not None:
            self.debounce_seconds  # noqa: B018  (checks the duration)
            if not isinstance(self.key, str) or not self.key or len(self.key) > 255:
                raise ValueError(
                    "debounce= needs key=, a non-empty string of at most 255 characters"
                )
            if self.idempotency_key is not None:
                raise ValueError("debounce= and idempotency_key= do not go together")
        elif self.key is not None:
            raise ValueError("key= goes with debounce= (for a run per key, use idempotency_key=)")
        key = self.idempotency_key
        if key is not None and (not isinstance(key, str) or not key or len(key) > 255):
            raise ValueError(
                f"idempotency_key must be a non-empty string of at most 255 characters, got {key!r}"
            )

    @property
    def __steplane_workflow__(self) -> WorkflowDef:
        return self.definition
