"""Checks of one chaos run's log: every event the model requires, none twice, the right result."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from .workflow import STEPS_PER_RUN, WAITS_PER_RUN, expected_result

ONCE_PER_RUN = ("run_created", "run_started")
ONCE_PER_ENTITY = ("step_created", "wait_created", "wait_completed", "hook_created")
TERMINAL = ("run_completed", "run_failed", "run_cancelled")


@dataclass
class RunCheck:
    run_id: str
    status: str
    duplicated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrong_result: str | None = None
    failure: str | None = None


def check_run(run_id: str, n: int, status: str, events: list[dict[str, Any]]) -> RunCheck:
    check = RunCheck(run_id, status)
    types = collections.Counter(e["type"] for e in events)
    per_entity = collections.Counter((e["type"], e.get("correlation_id")) for e in events)
    ids = collections.Counter(e["event_id"] for e in events)
    check.duplicated += [f"event id {i} x{c}" for i, c in ids.items() if c > 1]
    check.duplicated += [f"{t} x{types[t]}" for t in ONCE_PER_RUN if types[t] > 1]
    check.duplicated += [
        f"{t} {cid} x{c}" for (t, cid), c in per_entity.items() if t in ONCE_PER_ENTITY and c > 1
    ]
    ends = collections.Counter(
        e.get("correlation_id") for e in events if e["type"] in ("step_completed", "step_failed")
    )
    check.duplicated += [f"step outcome {cid} x{c}" for cid, c in ends.items() if c > 1]
    terminal = [e for e in events if e["type"] in TERMINAL]
    if len(terminal) > 1:
        check.duplicated.append(f"terminal events x{len(terminal)}")
    if terminal and events[-1] is not terminal[-1]:
        check.duplicated.append("events after the terminal event")
    if types["run_created"] == 0:
        check.missing.append("run_created")
    if status == "completed":
        steps = [e.get("correlation_id") for e in events if e["type"] == "step_created"]
        if len(steps) != STEPS_PER_RUN:
            check.missing.append(f"{len(steps)} of {STEPS_PER_RUN} steps created")
        check.missing += [f"outcome of {cid}" for cid in steps if ends[cid] == 0]
        if types["wait_completed"] != WAITS_PER_RUN:
            check.missing.append(f"{types['wait_completed']} of {WAITS_PER_RUN} waits completed")
        result = terminal[-1].get("data") if terminal else None
        if result != expected_result(n):
            check.wrong_result = f"got {result!r}, expected {expected_result(n)}"
    elif status == "failed" and terminal:
        data = terminal[-1].get("data") or {}
        check.failure = f"{terminal[-1].get('code')}: {data.get('message', '')}"[:300]
    return check
