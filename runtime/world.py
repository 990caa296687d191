"""The World protocol: everything the engine needs from storage, queueing and key management.

A World is a bundle of seven small stores. Each method is shaped so that the AWS World can
implement it with single-item conditional writes (docs/invariants.md #1-#3):

- `log`     append-only event log per run; an append names the position it expects to write at
            and exactly one of several racing writers wins (`AppendConflictError` for the others).
            A log whose last event is terminal accepts nothing more (`RunTerminalError`).
- `runs`    run records (plaintext: ids, names, statuses, timestamps, the encrypted data key),
            listable by status and workflow name with opaque cursor pagination, newest first.
- `hooks`   hook-token registry: a token is held by at most one live hook.
- `blobs`   large payloads by key (already encrypted by the engine).
- `streams` ordered chunks per (run, stream name), readable from any index, closable.
- `queue`   at-least-once delivery with per-message delay, visibility timeout, receive counts and
            an optional idempotency key (a send whose key is already waiting may be dropped);
            optional capabilities (a dead-letter queue, a clock-timed skip-ahead) are declared
            members with a documented answer when absent.
- `keys`    a per-run data key (plaintext for this process, encrypted copy for the run record).
- `coordination` small versioned items written with compare-and-set: the state of locks,
            concurrency limits, rate limits, debounces and schedules (runtime/engine/locks.py).

All methods are async. Worlds never see user values in the clear: the engine serializes and
encrypts before calling them.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .engine.events import Event, RunStatus


class Clock(Protocol):
    """Seconds since the epoch. The emulator swaps in a virtual clock to skip durable waits."""

    def time(self) -> float: ...


class RealClock:
    def time(self) -> float:
        return time.time()


class QueueClock:
    """A World's `clock` attribute that is its queue's clock (`clock = QueueClock()` in the
    class): a queue that times messages by the World's clock must follow when the emulator
    swaps in a virtual clock after the World was made."""

    def __get__(self, world: Any, owner: type | None = None) -> Clock:
        return world.queue.clock  # type: ignore[no-any-return]

    def __set__(self, world: Any, clock: Clock) -> None:
        world.queue.clock = clock


@dataclass
class RunRecord:
    """What a World keeps about a run besides its log: enough to list and route it."""

    run_id: str
    workflow_name: str
    status: RunStatus
    created_at: float
    updated_at: float
    parent_run_id: str | None = None
    encrypted_data_key: bytes | None = None
    error_code: str | None = None
    completed_at: float | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    """What the run's `set_attributes()` recorded (plaintext by choice, runtime/attributes.py)."""
    deployment: str | None = None
    """The deployment the run is pinned to (runtime/deployment.py); None: unpinned (a run
    started before steplane knew deployments), which any host may run."""


@dataclass
class Page:
    """One page of a listing; pass `next_cursor` back to get the next page (None: no more)."""

    items: list[Any]
    next_cursor: str | None = None


@dataclass(frozen=True)
class HookOwner:
    """Who holds a hook token. The token is a bearer secret: it never appears in a repr, so
    an owner that ends up in a log line or an error does not leak it."""

    token: str = field(repr=False)
    run_id: str
    hook_id: str
    created_at: float | None = field(default=None, compare=False)
    """When the hook claimed the token (World clock), kept for listings; not part of who
    the owner is, so a replayed claim with a later time is the same owner."""


@dataclass(frozen=True)
class HookEntry:
    """A live hook as `HookRegistry.list` gives it: its token only by `token_fingerprint`.
    `created_at` is None for a token claimed before registries kept the time."""

    fingerprint: str
    run_id: str
    hook_id: str
    created_at: float | None = None


@dataclass
class StreamChunks:
    """A read of a stream: chunks from `start`, and whether the stream has been closed."""

    start: int
    chunks: list[bytes]
    closed: bool

    @property
    def next_index(self) -> int:
        return self.start + len(self.chunks)


@dataclass
class Delivery:
    """A received queue message. Delete it when handled; otherwise it comes back later."""

    body: dict[str, Any]
    receipt: str
    receive_count: int
    message_id: str = ""


@dataclass
class Limits:
    """Size limits a World imposes; the engine checks them before writing anything."""

    max_payload_bytes: int = 50 * 1024 * 1024
    max_run_bytes: int = 2 * 1024 * 1024 * 1024
    inline_payload_bytes: int = 64 * 1024
    max_batch_bytes: int = 256 * 1024
    max_events_per_run: int = 100_000


# --- argument checks every World makes the same way (one message per mistake) -----------------


def check_append(run_id: str, position: int, events: Sequence[Event]) -> None:
    """What any `EventLog.append` refuses before touching storage."""
    if not events:
        raise ValueError(f"run {run_id}: append of no events")
    if position < 0:
        raise ValueError(f"run {run_id}: negative log position {position}")
    if any(event.is_terminal for event in events[:-1]):
        # Only the last event of a batch may end the run: anything after it would be an
        # event on a terminal run, which no log may hold.
        raise ValueError(f"run {run_id}: a terminal event must be the last of its batch")


def check_at_least_one(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def check_not_negative(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


class EventLog(Protocol):
    async def append(self, run_id: str, position: int, events: Sequence[Event]) -> None:
        """Store `events` at positions `position`, `position + 1`, ... as one atomic write.

        Raises `AppendConflictError` if `position` is already written, `RunTerminalError` if the
        log already holds a terminal event, `ValueError` if `position` skips past the end.
        """

    async def read(self, run_id: str, start: int = 0) -> list[Event]:
        """Events at positions >= `start`, in order, each with `seq` set."""

    def known(self, run_id: str, start: int, max_age: float) -> tuple[list[Event], float] | None:
        """Optional (a World without it answers None): the events from `start` that this
        process already holds, and how many seconds ago it saw them reach the end, without a
        call; None unless it saw so within `max_age` seconds and holds them all. A view, not
        the truth: for a writer whose next append is conditional on that end anyway."""


@dataclass(frozen=True)
class RunQuery:
    """What `RunStore.list` selects, checked where it is made: `limit` at least 1, `status` a
    `RunStatus` (a plain string is converted, an unknown one is a `ValueError`)."""

    status: RunStatus | None = None
    workflow_name: str | None = None
    limit: int = 50
    cursor: str | None = None
    updated_before: float | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    """Only runs with every one of these (name, value) attributes."""
    deployment: str | None = None

    def __post_init__(self) -> None:
        check_at_least_one("limit", self.limit)
        if isinstance(self.attributes, dict):
            object.__setattr__(self, "attributes", tuple(sorted(self.attributes.items())))
        if self.status is not None:
            object.__setattr__(self, "status", RunStatus(self.status))


@dataclass(frozen=True)
class StatusChange:
    """What `RunStore.update_status` asks for; `completed_at` is set with a terminal status."""

    status: RunStatus
    updated_at: float
    error_code: str | None = None
    deployment: str | None = None
    """Pin the run to this deployment in the same write if it is not pinned yet (the first
    host to run an unpinned start, docs/deployments.md)."""


class RunStore(Protocol):
    """Implementations subclass it (explicitly) for `update_status` and `list`, which it
    implements, once for every World, on `change_status` and `query`."""

    async def create(self, record: RunRecord) -> None:
        """Store a new run record; `ValueError` if the run id already exists."""

    async def get(self, run_id: str) -> RunRecord | None: ...

    async def update_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        updated_at: float,
        error_code: str | None = None,
        deployment: str | None = None,
    ) -> bool:
        """Move a run to `status`. A terminal status is final: returns False and changes
        nothing when the run already has a terminal status (or the same status);
        `RunNotFoundError` for an unknown run. With `deployment`, an unpinned run is pinned
        to it in the same write. A store implements `change_status`."""
        return await self.change_status(
            run_id, StatusChange(RunStatus(status), updated_at, error_code, deployment)
        )

    async def change_status(self, run_id: str, change: StatusChange) -> bool:
        """`update_status` with its arguments checked: one conditional write."""

    async def list(
        self,
        *,
        status: RunStatus | None = None,
        workflow_name: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        updated_before: float | None = None,
        attributes: dict[str, str] | None = None,
        deployment: str | None = None,
    ) -> Page:
        """Run records newest first, filtered by status and/or workflow name, and with
        `updated_before` to records last updated strictly before that time (the reconciler's
        stalled-run candidates), by `attributes` (every name=value given), and with
        `deployment` to the runs pinned to it. A store implements `query`; this checks the
        arguments once for every World."""
        pairs = tuple(sorted((attributes or {}).items()))
        return await self.query(
            RunQuery(status, workflow_name, limit, cursor, updated_before, pairs, deployment)
        )

    async def set_attributes(
        self, run_id: str, attributes: dict[str, str], *, version: int = 0
    ) -> bool:
        """Make the record's attributes `attributes` (the run's merged attributes, names and
        values checked by runtime/attributes.py) unless it holds a newer copy: `version` is the
        log position of the last `attributes_set` they include, and a write with a version
        not above the stored one changes nothing (False), so a slow host never puts back an
        older copy. RunNotFoundError for an unknown run. Listing by them
        (`list(attributes=...)`) must not read every record."""

    async def set_deployment(self, run_id: str, expected: str | None, deployment: str) -> bool:
        """Pin a live run to `deployment` (`steplane runs upgrade`): one conditional write,
        done only while the record still names `expected` and the run has not ended; False
        otherwise. `RunNotFoundError` for an unknown run."""

    async def query(self, query: RunQuery) -> Page:
        """One page of the records `query` selects; `ValueError` for a cursor this store did
        not hand out."""


def hook_token_digest(key: bytes, token: str) -> str:
    """The keyed hash under which a registry stores a hook token (docs/invariants.md #9).

    HMAC-SHA256 with a per-deployment key, not a plain hash: custom tokens such as
    `approve:o-1` have little entropy, and a plain digest of them would be reversed by trying
    the likely values. A registry stores and compares only this digest.
    """
    return hmac.new(key, b"hook-token|" + token.encode(), hashlib.sha256).hexdigest()


def token_fingerprint(digest: str) -> str:
    """A short, non-reversible name for a token (from its keyed digest) that events, errors
    and logs may carry so people can tell tokens apart without seeing one."""
    return "tok_" + digest[:8]


class HookRegistry(Protocol):
    """Hook tokens, stored and compared only as `hook_token_digest` values."""

    async def claim(self, owner: HookOwner) -> None:
        """Give `owner.token` to `owner`. Idempotent for the same owner; `HookConflictError`
        when another hook holds the token (its message names the token by fingerprint only)."""

    async def lookup(self, token: str) -> HookOwner | None:
        """The owner of `token` (hashed before it is looked up), or None."""

    async def release(self, owner: HookOwner) -> None:
        """Free the token if `owner` holds it; a no-op otherwise (never frees someone else's)."""

    async def list(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        """One page of the live hooks (`HookEntry` items, in no promised order); pass
        `next_cursor` back for the next. For inspection (CLI, UI), never the hot path: on
        AWS it is a Scan. `ValueError` for a cursor this registry did not hand out."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes:
        """The blob's bytes; `KeyError` if there is none."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every blob whose key starts with `prefix`; returns how many."""


class StreamStore(Protocol):
    async def append(self, run_id: str, name: str, data: bytes) -> int:
        """Add a chunk at the end of the stream; returns its index. `ValueError` if closed."""

    async def read(self, run_id: str, name: str, start: int = 0) -> StreamChunks: ...

    async def close(self, run_id: str, name: str) -> None:
        """Mark the stream closed (idempotent; creates an empty closed stream if needed)."""

    async def names(self, run_id: str) -> list[str]:
        """The names of the run's streams."""


class Queue(Protocol):
    max_delay: float
    """Longest delay one message can carry (SQS: 900 s); longer waits are chained."""

    max_receives: int
    """After this many receives a message is moved to the dead-letter queue."""

    async def send(
        self, body: dict[str, Any], *, delay: float = 0.0, idempotency_key: str | None = None
    ) -> None: ...

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0.0, visibility_timeout: float = 30.0
    ) -> list[Delivery]: ...

    async def delete(self, delivery: Delivery) -> None: ...

    async def change_visibility(self, delivery: Delivery, timeout: float) -> None: ...

    # Optional capabilities: every queue has these members; one that lacks the capability
    # gives the answer documented here, so callers never probe for them.

    def next_visible_at(self) -> float | None:
        """World-clock time at which the next message becomes visible (a delay ending, or an
        in-flight message's visibility timeout; maybe in the past), for a queue that times its
        messages by the World's clock. None when nothing is waiting, or when the queue's
        service keeps the time itself (SQS): then no one can skip a virtual clock ahead."""

    @property
    def dead_letters(self) -> list[Any]:
        """Bodies of the messages set aside after `max_receives` receives, oldest first
        (blocking; [] for a queue that keeps no dead letters)."""

    def redrive(self) -> int:
        """Move every dead letter back to the queue, visible now; returns how many (blocking;
        0 for a queue that keeps no dead letters)."""

    async def has_route(self, deployment: str) -> bool:
        """Whether `send` delivers a body with `"dep": deployment` to that deployment's own
        hosts (the AWS World: a queue per live deployment, docs/deployments.md). False for a
        queue every host shares (memory): then no host may hand a foreign message on."""


@dataclass(frozen=True)
class Versioned:
    """A coordination item: its JSON-able `data` and the `version` that wrote it (from 1)."""

    data: dict[str, Any]
    version: int


MAX_COORDINATION_BYTES = 350_000
"""The largest item a coordination store must hold (DynamoDB's item limit is 400 KB)."""


def check_coordination(key: str, version: int) -> None:
    """What any `CoordinationStore` refuses before touching storage."""
    if not isinstance(key, str) or not key or len(key) > 512:
        raise ValueError("a coordination key must be a non-empty string of at most 512 characters")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"a coordination version must be a whole number >= 1, got {version!r}")


class CoordinationStore(Protocol):
    """One small item per key, replaced only by compare-and-set: of racing writers of the same
    version exactly one wins (docs/invariants.md #1). Keys are engine-made digests and names;
    data holds ids, names, times and counters, never user values in the clear."""

    async def get(self, key: str) -> Versioned | None:
        """The item's current data and version (a strongly consistent read), or None."""

    async def put(self, key: str, data: dict[str, Any], version: int) -> bool:
        """Store `data` as `version` if the item is now at `version - 1` (absent for 1);
        False, changing nothing, when another writer got there first. `ValueError` for data
        larger than `MAX_COORDINATION_BYTES` as JSON."""


class KeyProvider(Protocol):
    async def generate_data_key(self, run_id: str) -> tuple[bytes, bytes]:
        """A fresh 256-bit data key for the run: (plaintext, encrypted copy to store)."""

    async def decrypt_data_key(self, run_id: str, encrypted: bytes) -> bytes:
        """The plaintext of a key `generate_data_key` made for this run."""


@runtime_checkable
class World(Protocol):
    name: str
    clock: Clock
    limits: Limits
    log: EventLog
    runs: RunStore
    hooks: HookRegistry
    blobs: BlobStore
    streams: StreamStore
    queue: Queue
    keys: KeyProvider
    coordination: CoordinationStore

    async def create_run(self, record: RunRecord, events: Sequence[Event]) -> None:
        """Store a new run's record and the first batch of its log (`run_created`, at position
        0), in one call where the World can: one write for what `start()` records before its
        first message. For a run id nobody else uses (a fresh one): a World need not check
        that the record is new. Not atomic: if it fails, either part may have been written
        alone (a record with an empty log, as when a start dies between two writes, or a log
        no record lists); the caller's start then fails, and nothing runs."""

    async def purge_run(self, run_id: str) -> None:
        """Delete everything an ended run left in this World: its log, payload blobs,
        streams and record (with its listing and attribute index entries), so that a
        long-lived World (a `steplane dev` session on moto, the memory World) does not grow
        with every run it ever held (retention: runtime/engine/retention.py). `ValueError`
        for a run that has not ended; a no-op for an unknown one; safe to repeat after a
        failure half-way (the record goes last, so a sweep that lists ended runs finds a
        half-purged one again). Audit records of decrypts (`audit/...` blobs) are kept.
        Hook tokens are not a World's to find (stored by keyed digest): a run's ending
        releases them before its status becomes terminal, so an ended run holds none."""

    async def close(self) -> None: ...
