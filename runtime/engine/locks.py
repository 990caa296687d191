"""Durable semaphores and rate slots on the World's coordination store (compare-and-set).

One item per key (`lock#<sha256 of the key>`) holds the whole state of a semaphore:

    {"max": n, "fence": counter, "holders": {holder: {"until": t | None, "fence": f}},
     "waiters": [{"id": holder, "order": t, "lease": s | None, "wake": queue body}, ...]}

A `lock()` is a semaphore of 1; a `Limit(max=n)` one of n. Every change reads the item, decides
in `_decide` (a pure function) and writes it back conditional on its version; a lost race reads
again. So the decision is the same in every World, and racing processes cannot both win.

- **Leases.** A holder's permit expires at `until` (None: held until released, which the run's
  end does). Any acquire or release that finds an expired holder evicts it first; nobody needs
  to watch the clock.
- **Wake order.** Waiters are kept sorted by `order` (the workflow's replay time when it asked:
  for a lock taken first thing, the run's start time), then holder id. A freed permit goes to
  the first waiter *in the same write* that frees it (a hand-off), and that waiter's `wake`
  body is sent on the queue. A lost wake is harmless: the new holder's own delayed re-check
  (at the earliest lease end) or the reconciler finds it holding the permit.
- **Idempotent.** Acquiring again as a holder answers granted; as a waiter, waiting (no
  write); releasing what one does not hold is a no-op. Duplicate messages change nothing.

`reserve_slot` is the rate limiter: a GCRA-style "theoretical arrival time" per key; each call
takes the next free slot `interval` after the previous one and runs no earlier than that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..world import World
from .events import Event, EventType

MAX_WAITERS = 1000
"""Waiters one key queues (each about 200 bytes of the item); past it acquiring fails."""
_MAX_RACES = 200


def lock_key(kind: str, name: str) -> str:
    """The coordination key of a lock or limit called `name` (digested: bounded, no charset)."""
    return f"{kind}#" + hashlib.sha256(name.encode()).hexdigest()


@dataclass
class Grant:
    """What an acquire found: the permit (with its fence) or a place in the queue."""

    granted: bool
    fence: int = 0
    until: float | None = None
    recheck_at: float | None = None
    """When a waiter should look again: the earliest lease end among the holders."""
    woken: list[dict[str, Any]] = field(default_factory=list)
    """Queue bodies of the waiters this change handed a permit to (send them)."""


class LockQueueFullError(RuntimeError):
    """More than `MAX_WAITERS` waiters on one key."""


def _evict_and_hand_off(state: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Drop expired holders and give free permits to the first waiters; their wake bodies."""
    holders: dict[str, Any] = state["holders"]
    for holder, permit in list(holders.items()):
        if permit["until"] is not None and permit["until"] <= now:
            del holders[holder]
    woken = []
    while state["waiters"] and len(holders) < state["max"]:
        waiter = state["waiters"].pop(0)
        state["fence"] += 1
        lease = waiter["lease"]
        holders[waiter["id"]] = {
            "until": None if lease is None else now + lease,
            "fence": state["fence"],
        }
        woken.append(waiter["wake"])
    return woken


def _recheck_at(state: dict[str, Any]) -> float | None:
    ends = [p["until"] for p in state["holders"].values() if p["until"] is not None]
    return min(ends) if ends else None


async def _change(world: World, key: str, change: Any) -> Any:
    """Read-decide-write `key` until the conditional write wins; `change(state)` mutates the
    state and returns (answer, wrote: bool)."""
    for _ in range(_MAX_RACES):
        item = await world.coordination.get(key)
        state = (
            item.data if item is not None else {"max": 1, "fence": 0, "holders": {}, "waiters": []}
        )
        answer, dirty = change(state)
        if not dirty:
            return answer
        if await world.coordination.put(key, state, (item.version if item else 0) + 1):
            return answer
    raise RuntimeError(f"coordination item {key} kept changing under {_MAX_RACES} writers")


async def acquire(
    world: World,
    key: str,
    holder: str,
    *,
    max_holders: int,
    lease: float | None,
    wake: dict[str, Any],
    order: float,
) -> Grant:
    """Take a permit of `key` for `holder`, or queue it (sorted by `order`, then id)."""
    now = world.clock.time()

    def change(state: dict[str, Any]) -> tuple[Grant, bool]:
        dirty = state["max"] != max_holders
        state["max"] = max_holders  # the latest caller's limit applies
        before = len(state["holders"]), len(state["waiters"])
        woken = _evict_and_hand_off(state, now)
        dirty = dirty or woken != [] or before != (len(state["holders"]), len(state["waiters"]))
        permit = state["holders"].get(holder)
        if permit is None and not any(w["id"] == holder for w in state["waiters"]):
            if len(state["holders"]) < max_holders and not state["waiters"]:
                state["fence"] += 1
                permit = state["holders"][holder] = {
                    "until": None if lease is None else now + lease,
                    "fence": state["fence"],
                }
            else:
                if len(state["waiters"]) >= MAX_WAITERS:
                    raise LockQueueFullError(
                        f"more than {MAX_WAITERS} waiters on one lock or limit: "
                        "split the key or lower the contention"
                    )
                entry = {"id": holder, "order": order, "lease": lease, "wake": wake}
                state["waiters"].append(entry)
                state["waiters"].sort(key=lambda w: (w["order"], w["id"]))
            dirty = True
        mine = [w for w in woken if w is not wake and w != wake]
        if permit is not None:
            return Grant(True, permit["fence"], permit["until"], woken=mine), dirty
        return Grant(False, recheck_at=_recheck_at(state), woken=mine), dirty

    return await _change(world, key, change)  # type: ignore[no-any-return]


async def release(world: World, key: str, holder: str) -> list[dict[str, Any]]:
    """Give up `holder`'s permit or place in the queue; the wake bodies of the new holders."""
    now = world.clock.time()

    def change(state: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        had = holder in state["holders"] or any(w["id"] == holder for w in state["waiters"])
        state["holders"].pop(holder, None)
        state["waiters"] = [w for w in state["waiters"] if w["id"] != holder]
        woken = _evict_and_hand_off(state, now)
        return woken, had or bool(woken)

    return await _change(world, key, change)  # type: ignore[no-any-return]


async def send_wakes(world: World, wakes: list[dict[str, Any]]) -> None:
    for body in wakes:
        await world.queue.send(body)


async def reserve_slot(world: World, key: str, interval: float) -> float:
    """The World-clock time at which the next call under `key` may run, `interval` after the
    previous reservation (or now, if that is later)."""
    now = world.clock.time()

    def change(state: dict[str, Any]) -> tuple[float, bool]:
        slot = max(float(state.get("tat", 0.0)), now)
        state["tat"] = slot + interval
        return slot, True

    return await _change(world, key, change)  # type: ignore[no-any-return]


def lock_claims(run_id: str, log: list[Event]) -> list[tuple[str, str]]:
    """(key, holder) of every lock a run's log asked for and did not give back."""
    claims: dict[str, str] = {}
    for event in log:
        if event.type == EventType.LOCK_REQUESTED and event.correlation_id:
            claims[event.correlation_id] = str(event.attrs["key"])
        elif event.type == EventType.LOCK_RELEASED:
            claims.pop(event.correlation_id or "", None)
    return [(key, f"{run_id}/{lock_id}") for lock_id, key in claims.items()]


async def release_all(world: World, claims: list[tuple[str, str]]) -> None:
    """Give back every claim of an ended run (its permits and places in queues), waking the
    next holders. Idempotent: a repeated ending releases nothing twice."""
    for key, holder in claims:
        await send_wakes(world, await release(world, key, holder))
