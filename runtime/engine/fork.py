"""Fork a run (DBOS's fork): a new run that reuses the recorded results of the steps before
step N and runs the rest on the code deployed now. For the run that failed on a bug: fix
the code, fork from the failed step, and the steps before it do not run again.

The new run's log is the old run's `run_created` (same arguments) and the events of its
first steps, each opened with the old run's key and sealed again with the new run's own key
(a ciphertext never moves between runs: docs/invariants.md #5). Step ids carry a suffix
derived from the run's key, so each reused step is recorded under the id the new run's
replay gives it (`step_id_for`); waits keep theirs. What is cut off:

- everything from step N's `step_created` on;
- before it, steps and waits that had not finished (they run again), and `run_started`
  (the new run records its own).

A fork refuses a log whose kept part holds hooks or child runs (a hook's token and a child
belong to the old run); fork from an earlier step instead. The new run's `run_created` names
the old one (`forked_from`). Replay checks the rest: if the code now calls other steps where
the reused ones were recorded, the fork fails with REPLAY_DIVERGENCE, as any replay would.
"""

from __future__ import annotations

import re

from ..errors import RunNotFoundError
from ..ids import new_id
from ..world import World
from .codec import RunCodec, codecs_for
from .events import Event, EventType
from .instance import step_id_for
from .starting import StartRequest, start_run

_STEP_ID = re.compile(r"step_(\d+)_[a-z2-7]+\Z")
_STEP_EVENTS = {
    EventType.STEP_CREATED,
    EventType.STEP_STARTED,
    EventType.STEP_COMPLETED,
    EventType.STEP_FAILED,
    EventType.STEP_RETRYING,
}
_REFUSED = {
    EventType.HOOK_CREATED: "a hook",
    EventType.HOOK_CONFLICT: "a hook",
    EventType.CHILD_CREATED: "a child run",
}


def step_number(step_id: str) -> int | None:
    match = _STEP_ID.match(step_id)
    return int(match.group(1)) if match else None


def kept_events(run_id: str, log: list[Event], from_step: int) -> list[Event]:
    """The events of `log` a fork from step `from_step` reuses (module docstring)."""
    numbers = {
        step_number(e.correlation_id or ""): e.seq for e in log if e.type == EventType.STEP_CREATED
    }
    if from_step not in numbers:
        known = ", ".join(str(n) for n in sorted(n for n in numbers if n is not None)) or "none"
        raise ValueError(f"run {run_id} has no step {from_step} (its steps: {known})")
    cut = next(i for i, e in enumerate(log) if e.seq == numbers[from_step])
    prefix = log[1:cut]
    for event in prefix:
        what = _REFUSED.get(event.type)  # type: ignore[call-overload]
        if what is not None:
            raise ValueError(
                f"run {run_id} records {what} ({event.correlation_id}) before step {from_step}: "
                "a fork cannot reuse it; fork from an earlier step"
            )
    finished = {
        e.correlation_id
        for e in prefix
        if e.type in (EventType.STEP_COMPLETED, EventType.STEP_FAILED, EventType.WAIT_COMPLETED)
    }
    return [
        e
        for e in prefix
        if ((e.type in _STEP_EVENTS or e.type.startswith("wait_")) and e.correlation_id in finished)
        or e.type == EventType.ATTRIBUTES_SET
    ]


async def fork_run(world: World, run_id: str, from_step: int) -> str:
    """Start the fork of `run_id` from step `from_step` (its number in the step id,
    `step_N_...`, as `runs events` shows it); returns the new run's id. ValueError for a step
    the run does not have or a log a fork cannot reuse; RunNotFoundError for an unknown run."""
    if isinstance(from_step, bool) or not isinstance(from_step, int) or from_step < 1:
        raise ValueError(f"from_step must be a step number of at least 1, got {from_step!r}")
    record = await world.runs.get(run_id)
    if record is None:
        raise RunNotFoundError(f"no run {run_id!r} in this World")
    log = await world.log.read(run_id)
    if not log or log[0].type != EventType.RUN_CREATED:
        raise ValueError(f"run {run_id} has no recorded start to fork")
    kept = kept_events(run_id, log, from_step)
    old = await codecs_for(world).get(run_id)
    arguments = await old.open_bytes(log[0])
    now = world.clock.time()
    fork_id = new_id("run", now)

    async def copy(codec: RunCodec) -> list[Event]:
        copied = []
        for event in kept:
            cid = event.correlation_id
            number = step_number(cid or "")
            if number is not None:
                cid = step_id_for(codec.secret, fork_id, number)
            data = await old.open_bytes(event) if event.has_payload else None
            copied.append(
                await codec.event(
                    event.type,
                    correlation_id=cid,
                    attrs=event.public_attrs,
                    data=data,
                    created_at=now,
                )
            )
        return copied

    request = StartRequest(
        fork_id, record.workflow_name, arguments or b"", now, attrs={"forked_from": run_id}
    )
    await start_run(world, request, copy)
    return fork_id
