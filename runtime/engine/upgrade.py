"""Moving a live run to another deployment's code, only when its history replays there.

`check_replay(world, run_id)` replays the run's recorded log against the workflow code this
process has registered (the *other* deployment's code, loaded by the caller) without running
anything: steps are not executed, waits and hooks are not created; the replay only compares
each recorded command with the one the code issues at that position, exactly as a workflow
invocation would on its first cold replay. The first mismatch is where the run would fail with
`REPLAY_DIVERGENCE` after an upgrade.

`upgrade_run(world, run_id, to)` records the move: the run record's deployment changes with one
conditional write (only from the deployment the check saw, only while the run is live), then
`run_upgraded` goes at the head of the log, then a workflow message goes to the new
deployment. The log event is what every host goes by (engine/workflow_invocation.py): a host of
the old deployment that still gets one of the run's queued wake-ups reads it on catch-up and
hands the run on instead of advancing it. A run with a step in flight is refused: that step's
message would be run on the old code (retry when it has finished).

Both decrypt the run's values outside the function host, so each leaves an audit record
(engine/audit.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RunNotFoundError, WorkflowNotFoundError
from ..ids import check_deployment_id
from ..registry import get_workflow
from ..world import World
from .audit import record_decrypt
from .codec import codecs_for
from .events import Event, EventType, RunStatus
from .instance import ReplayDivergence, WorkflowInstance
from .lifecycle import append_at_head
from .messages import WorkflowMessage


@dataclass(frozen=True)
class ReplayReport:
    """Whether one run's history replays on the loaded code; where it diverges if not."""

    run_id: str
    workflow_name: str
    deployment: str | None
    ok: bool
    position: int | None = None
    """Log position of the first recorded event the code disagrees with."""
    command_id: str | None = None
    """The step, wait or hook id recorded there (`step_3_...`)."""
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow_name,
            "deployment": self.deployment,
            "ok": self.ok,
            "position": self.position,
            "command_id": self.command_id,
            "reason": self.reason,
        }


class UpgradeRefused(Exception):
    """`upgrade_run` did not move the run; the message says why (one line)."""


async def check_replay(world: World, run_id: str, *, actor: str = "cli") -> ReplayReport:
    """Replay `run_id`'s log against the registered code (module docstring)."""
    record = await world.runs.get(run_id)
    if record is None:
        raise RunNotFoundError(f"no run {run_id!r} in this World")
    name, pinned = record.workflow_name, record.deployment
    try:
        definition = get_workflow(name)
    except WorkflowNotFoundError as error:
        return ReplayReport(run_id, name, pinned, False, reason=str(error))
    events = await world.log.read(run_id)
    await record_decrypt(world, run_id, actor=actor, via="replay-check")
    codec = await codecs_for(world).get(run_id)
    limits = world.limits
    instance = WorkflowInstance(
        run_id, definition, codec.secret, limits.max_payload_bytes, limits.max_run_bytes
    )
    event: Event | None = None
    try:
        for event in events:
            value = await codec.open(event) if instance.wants_value(event) else None
            instance.apply(event, value)
    except ReplayDivergence as divergence:
        assert event is not None
        return ReplayReport(
            run_id, name, pinned, False, event.seq, event.correlation_id, str(divergence)
        )
    finally:
        instance.discard()
    return ReplayReport(run_id, name, pinned, True)


def log_deployment(events: list[Event]) -> str | None:
    """The deployment the log pins the run to: the last `run_upgraded`'s, else the one
    `run_created` recorded (None: unpinned)."""
    for event in reversed(events):
        if event.type in (EventType.RUN_UPGRADED, EventType.RUN_CREATED):
            found = event.attrs.get("deployment")
            return found if isinstance(found, str) else None
    return None


def steps_in_flight(events: list[Event]) -> list[str]:
    """Step ids created but not yet completed or failed."""
    open_steps: dict[str, None] = {}
    for event in events:
        if event.type == EventType.STEP_CREATED and event.correlation_id:
            open_steps[event.correlation_id] = None
        elif event.type in (EventType.STEP_COMPLETED, EventType.STEP_FAILED):
            open_steps.pop(event.correlation_id or "", None)
    return list(open_steps)


async def upgrade_run(world: World, run_id: str, to: str, *, actor: str = "cli") -> ReplayReport:
    """Pin live run `run_id` to deployment `to` if its history replays on the loaded code
    (which must be `to`'s); `UpgradeRefused` otherwise, with nothing changed."""
    check_deployment_id(to)
    report = await check_replay(world, run_id, actor=actor)
    record = await world.runs.get(run_id)
    assert record is not None  # check_replay found it
    if record.status.is_terminal:
        raise UpgradeRefused(f"run {run_id} has ended ({record.status}): nothing to upgrade")
    log = await world.log.read(run_id)
    if record.deployment == to and log_deployment(log) == to:
        raise UpgradeRefused(f"run {run_id} is already on deployment {to}")
    if not report.ok:
        where = "" if report.position is None else f" at position {report.position}"
        where += f" ({report.command_id})" if report.command_id else ""
        raise UpgradeRefused(
            f"run {run_id} would diverge on deployment {to}{where}: {report.reason}"
        )
    busy = steps_in_flight(log)
    if busy:
        raise UpgradeRefused(
            f"run {run_id} has {len(busy)} step(s) in flight ({busy[0]}, ...): "
            "upgrade it when they have finished"
        )
    # The record first (conditional: one of two racing upgrades wins), then the log. A crash
    # in between leaves the record on `to` and the log on the old deployment: running the
    # upgrade again finishes it (the check above lets it through).
    if record.deployment != to and not await world.runs.set_deployment(
        run_id, record.deployment, to
    ):
        raise UpgradeRefused(f"run {run_id} changed while it was checked: try again")
    codec = await codecs_for(world).get(run_id)
    previous = log_deployment(log) or "unpinned"

    async def build(log: list[Event]) -> list[Event] | None:
        if log and log[-1].is_terminal:
            return None
        attrs = {"deployment": to, "previous": previous}
        return [await codec.event(EventType.RUN_UPGRADED, attrs=attrs)]

    await append_at_head(world, run_id, build)
    message = WorkflowMessage(run_id, record.workflow_name, dep=to)
    await world.queue.send(message.body(), idempotency_key=f"upgrade:{run_id}:{to}")
    return report


LIVE_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)
MAX_COUNT_PAGES = 1000


async def live_runs_by_deployment(world: World, *, page_size: int = 500) -> dict[str | None, int]:
    """How many runs that have not ended each deployment holds (None: unpinned runs).

    An operator's listing (`steplane deployments list`, `deploy --prune`), not a hot path:
    it pages through the World's non-terminal runs (bounded at `MAX_COUNT_PAGES` pages a
    status; past that a RuntimeError rather than a count too low to prune by)."""
    counts: dict[str | None, int] = {}
    for status in LIVE_STATUSES:
        cursor: str | None = None
        for _ in range(MAX_COUNT_PAGES):
            page = await world.runs.list(status=status, limit=page_size, cursor=cursor)
            for record in page.items:
                counts[record.deployment] = counts.get(record.deployment, 0) + 1
            cursor = page.next_cursor
            if cursor is None:
                break
        else:
            raise RuntimeError(f"more than {MAX_COUNT_PAGES * page_size} {status} runs to count")
    return counts
