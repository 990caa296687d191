"""The event log on DynamoDB: one item per appended batch, written with one conditional put.

Table layout (`config.events_table`, pk `run_id` S, sk `pos` N):

    batch item  {run_id, pos: first position, n: event count, ev: encoded events (B),
                 t: true if its last event is terminal}
                or, for a batch over `MAX_ITEM_BYTES`, `ref` (S3 key of the encoded events)
    seal item   {run_id, pos: the position after a terminal batch, seal: true}
                (written by earlier versions after every terminal batch; still honoured)

An append at `position` is `PutItem(attribute_not_exists(pos))` of the batch item: of several
writers racing on one position exactly one wins (docs/invariants.md #1). A batch item with `t`
ends the log: every append first checks its position against what this process knows of the
log (`_check_position`), and knowing that the log ends at p means having seen the batch
before p, with its `t`; a process that knows nothing of the log learns it from the item at or
before the position (`_discover`). So an append at the head of an ended log fails with
`RunTerminalError` without a seal item, and ending a run costs one write, not two. The loser
of a race on a position reads the item that beat it (returned by the failed put) to tell an
ending from another batch.

Reads walk the chain of items with GetItem: each batch item says where the next one starts.
A process remembers what it has seen of each log (`log_cache.py`: boundaries, the end, and the
decoded batches within a byte budget; all facts that stay true since the log only grows), so
a warm read costs one GetItem at the known end when nothing is new and two when one batch is
(no Query: docs/invariants.md #2), however far back it starts; a read of an ended log that
this process has seen end costs none. A read the memory cannot start (a cold process) walks
from the item at `start`, or, when `start` falls inside a batch (no item there), from the
batch one Query finds. After `CHAIN_LIMIT` items a read looks for the run's compacted object
first (`compaction.py`: the log from 0 to a multiple of `compact_every` positions, one S3
object): when it reaches further, the read takes its batches and walks the chain from its end;
otherwise (none yet, or it does not reach further, or it fails its checks) it switches to
Query, cheaper for long reads (a cold replay). The object is written by the appender whose
batch reaches or crosses a multiple of `compact_every`, on the client pool after the append
returns (off the latency path), from the batches this process holds; when it does not hold
them all, or the put fails, or the process dies first, there is no new object and readers use
the chain: the items stay the truth.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from steplane.runtime.engine.events import Event
from steplane.runtime.errors import AppendConflictError, CorruptedDataError, RunTerminalError
from steplane.runtime.world import check_append

from .batches import decode_batch, encode_batch
from .clients import AwsClients, delete_items, error_code, is_condition_failure, query_keys
from .compaction import compacted_key, crosses, decode_compacted, encode_compacted
from .log_cache import LogCache

log = logging.getLogger("steplane.aws.log")

CHAIN_LIMIT = 16
"""GetItems along the chain before a read switches to Query (measured on moto: a GetItem is
~1.3 ms; a Query scans the whole table there, 2 ms empty and ~28 ms at 5,000 items)."""

DELETE_CHAIN_LIMIT = 64
"""Items a purge walks along the chain before it lists a long log's keys with a Query."""

MAX_ITEM_BYTES = 350_000
"""Encoded batches above this go to S3 and the item keeps a reference (DynamoDB: 400 KB)."""

Item = dict[str, Any]


class DynamoEventLog:
    def __init__(self, aws: AwsClients) -> None:
        self._aws = aws
        self._table = aws.config.events_table
        self._bucket = aws.config.bucket
        self._max_spill_bytes = aws.config.limits.max_payload_bytes
        self._cache = LogCache(aws.config.log_cache_bytes)
        self._compact_every = aws.config.compact_every
        self._compacting: dict[str, Future[None]] = {}  # run id -> its object's put in flight
        self._compacting_lock = threading.Lock()

    # --- protocol -------------------------------------------------------------------------

    async def append(self, run_id: str, position: int, events: Sequence[Event]) -> None:
        """Store `events` at `position`... with one conditional put (see the module doc)."""
        check_append(run_id, position, events)
        encoded = encode_batch(events)
        if len(encoded) > self._max_spill_bytes:
            raise ValueError(
                f"run {run_id}: a batch of {len(events)} events encodes to {len(encoded)} "
                f"bytes, over the {self._max_spill_bytes}-byte limit of one log write"
            )
        await self._aws.call(
            self._append_sync, run_id, position, len(events), encoded, events[-1].is_terminal
        )

    async def read(self, run_id: str, start: int = 0) -> list[Event]:
        """Events at positions >= `start` (an unknown run has none)."""
        return await self._aws.call(self._read_sync, run_id, max(start, 0))

    def known(self, run_id: str, start: int, max_age: float) -> tuple[list[Event], float] | None:
        """The events from `start` that this process holds, and how many seconds ago it saw
        that they reach the end, without a call: when it saw so within `max_age` seconds (or
        the log ended there) and every batch is in memory; else None (then `read`). For a
        writer whose next append is conditional on that end anyway (a run it just started, a
        step result it just appended): the append fails if anything was written since."""
        facts = self._cache.age(run_id)
        if facts is None:
            return None
        end, sealed, age = facts
        if start > end or (age > max_age and not sealed):
            return None
        position = self._cache.read_from(run_id, start)
        if position is None:
            return None
        events: list[Event] = []
        while position < end:
            batch = self._cache.cached(run_id, position, start)
            if not batch:
                return None
            events.extend(batch)
            position = batch[-1].seq + 1
        return events, (0.0 if sealed else age)

    async def delete_run(self, run_id: str) -> int:
        """Delete every item of the run's log (retention; not for live runs). Returns how many."""
        return await self._aws.call(self._delete_run_sync, run_id)

    # --- appending (runs on the client pool) ------------------------------------------------

    def first_batch(self, run_id: str, events: Sequence[Event]) -> tuple[Item, bytes] | None:
        """The item of a new log's first batch and its encoding, for a write that puts it
        together with the run's record (`AwsWorld.create_run`); None when the batch is too
        big for an item (it goes to S3 first: `append`). Once written, `written(...)`."""
        check_append(run_id, 0, events)
        encoded = encode_batch(events)
        if len(encoded) > MAX_ITEM_BYTES:
            return None
        return self._batch_item(run_id, 0, len(events), encoded, events[-1].is_terminal), encoded

    def written(self, run_id: str, position: int, count: int, encoded: bytes) -> None:
        """What this process knows once a batch is stored: its events (decoded from the bytes
        written: callers keep ownership of their events), the log's end (sealed by a terminal
        batch), and a compaction due."""
        self._cache.batch(run_id, position, decode_batch(encoded, position, where=run_id))
        self._cache.confirm(run_id, position + count)
        if self._compaction_due(run_id, position, count):
            self._start_compaction(run_id, position + count)

    def _batch_item(
        self, run_id: str, position: int, count: int, encoded: bytes | None, terminal: bool
    ) -> Item:
        """A batch item holding `encoded` (None: the caller adds its S3 `ref`)."""
        item: Item = {"run_id": {"S": run_id}, "pos": {"N": str(position)}, "n": {"N": str(count)}}
        if encoded is not None:
            item["ev"] = {"B": encoded}
        if terminal:
            item["t"] = {"BOOL": True}
        return item

    def _append_sync(
        self, run_id: str, position: int, count: int, encoded: bytes, terminal: bool
    ) -> None:
        self._check_position(run_id, position)
        spilled = None
        if len(encoded) > MAX_ITEM_BYTES:
            spilled = f"{run_id}/log/{position}-{uuid.uuid4().hex}"
            self._aws.s3.put_object(Bucket=self._bucket, Key=spilled, Body=encoded)
            item = self._batch_item(run_id, position, count, None, terminal)
            item["ref"] = {"S": spilled}
        else:
            item = self._batch_item(run_id, position, count, encoded, terminal)
        try:
            self._aws.dynamodb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pos)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            if spilled is not None:
                self._aws.s3.delete_object(Bucket=self._bucket, Key=spilled)
            winner = error.response.get("Item") or self._get(run_id, position)  # type: ignore[attr-defined]
            if winner is not None and "seal" in winner:
                self._cache.end(run_id, position, sealed=True)
                raise RunTerminalError(run_id) from None
            if winner is not None and "ev" in winner:
                self._events_of(run_id, winner, position)  # cached: handed to the loser
            elif winner is not None:
                self._learn_boundary(run_id, winner)
            raise self._conflict(run_id, position) from None
        self.written(run_id, position, count, encoded)

    def _check_position(self, run_id: str, position: int) -> None:
        """Refuse positions known to be written, sealed, or past the end, before writing.
        Free when this process has read the log up to `position` (the engine always has)."""
        facts = self._cache.facts(run_id)
        if facts is None and position > 0:
            self._discover(run_id, position)
            facts = self._cache.facts(run_id)
        elif facts is not None and position > facts[0] and not facts[1]:
            self._chain(run_id, facts[0], None)  # others may have appended: find the end
            facts = self._cache.facts(run_id)
        end, sealed = facts if facts is not None else (0, False)
        if position < end:
            raise self._conflict(run_id, position)
        if position == end and sealed:
            raise RunTerminalError(run_id)
        if position > end:
            raise ValueError(
                f"run {run_id}: position {position} skips past the end of the log (length {end})"
            )

    def _conflict(self, run_id: str, position: int) -> AppendConflictError:
        """The error for a lost append, with the events from `position` to the known end
        when all of them are in memory (so the loser need not read them)."""
        newer: list[Event] = []
        at = position
        while (batch := self._cache.cached(run_id, at, position)) is not None:
            newer.extend(batch)
            at = batch[-1].seq + 1
        facts = self._cache.facts(run_id)
        known = bool(newer) and facts is not None and facts[0] == at
        return AppendConflictError(run_id, position, newer=newer if known else None)

    def _discover(self, run_id: str, position: int) -> None:
        """Learn whether `position` of a log this process has not seen is written, covered by
        a batch, the end, or past it: one GetItem, and one Query when it is no batch start."""
        item = self._get(run_id, position)
        if item is None:
            item = self._floor(run_id, position)
        if item is None:
            return
        if "seal" in item:
            self._cache.end(run_id, int(item["pos"]["N"]), sealed=True)
        else:
            self._learn_boundary(run_id, item)

    def _learn_boundary(self, run_id: str, item: Item) -> None:
        """A batch item seen without decoding it: where it starts, how long, whether it ends
        the log (its `t`)."""
        start, count = int(item["pos"]["N"]), int(item["n"]["N"])
        self._cache.boundary(run_id, start, count, terminal="t" in item)

    # --- reading (runs on the client pool) --------------------------------------------------

    def _read_sync(self, run_id: str, start: int) -> list[Event]:
        first: Item | None = None
        position = self._cache.read_from(run_id, start)
        if position is None and start == 0:
            position = 0
        elif position is None:
            first = self._get(run_id, start) or self._floor(run_id, start)
            if first is None:
                return []
            position = int(first["pos"]["N"])
        events: list[Event] = []
        if first is None:
            while (batch := self._cache.cached(run_id, position, start)) is not None:
                events.extend(batch)
                position = batch[-1].seq + 1  # a batch read from `start` holds one at least
            facts = self._cache.facts(run_id)
            if facts is not None and facts == (position, True):
                return [event for event in events if event.seq >= start]  # nothing follows a seal
        events.extend(self._chain(run_id, position, first))
        return [event for event in events if event.seq >= start]

    def _chain(self, run_id: str, position: int, first: Item | None) -> list[Event]:
        """Events from the batch at `position` to the end, following each item to the next."""
        events: list[Event] = []
        looked = False  # for the compacted object, once per read
        while True:
            for _ in range(CHAIN_LIMIT):
                item = first if first is not None else self._get(run_id, position)
                first = None
                if item is None:
                    self._cache.end(run_id, position, sealed=False)
                    self._cache.confirm(run_id, position)
                    return events
                if "seal" in item:
                    self._cache.end(run_id, position, sealed=True)
                    return events
                batch = self._events_of(run_id, item, position)  # a terminal one seals it
                events.extend(batch)
                position += len(batch)
                if "t" in item:
                    return events  # nothing follows a terminal batch: no GetItem after it
            compacted = None if looked else self._compacted_from(run_id, position)
            looked = True
            if not compacted:
                return events + self._query_from(run_id, position)
            events.extend(compacted)
            position = compacted[-1].seq + 1
            if compacted[-1].is_terminal:
                return events

    def _query_from(self, run_id: str, position: int) -> list[Event]:
        """Events from the batch at `position` to the end with Query (long reads)."""
        events: list[Event] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "run_id = :r AND pos >= :p",
            "ExpressionAttributeValues": {":r": {"S": run_id}, ":p": {"N": str(position)}},
            "ConsistentRead": True,
        }
        while True:
            page = self._aws.dynamodb.query(**request)
            for item in page.get("Items", []):
                if "seal" in item:
                    self._cache.end(run_id, int(item["pos"]["N"]), sealed=True)
                    return events
                batch = self._events_of(run_id, item, position)
                events.extend(batch)
                position += len(batch)
                if "t" in item:
                    return events
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        self._cache.end(run_id, position, sealed=False)
        return events

    def _events_of(self, run_id: str, item: Item, expected: int) -> list[Event]:
        start = int(item["pos"]["N"])
        if start != expected:
            raise CorruptedDataError(
                f"run {run_id}: log item at position {start} where {expected} was expected"
            )
        if "ref" in item:
            key = item["ref"]["S"]
            data = self._aws.s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        else:
            data = item["ev"]["B"]
        events = decode_batch(data, start, where=f"run {run_id}, position {start}")
        if len(events) != int(item["n"]["N"]):
            raise CorruptedDataError(f"run {run_id}: log item at {start} has a wrong count")
        self._cache.batch(run_id, start, events)
        return self._cache.cached(run_id, start) or events

    def _delete_run_sync(self, run_id: str) -> int:
        with self._compacting_lock:
            pending = self._compacting.get(run_id)
        if pending is not None:  # its put lands before the caller deletes the run's objects
            with contextlib.suppress(Exception):  # a failed or cancelled put left nothing
                pending.result(timeout=60)
        keys = self._chain_keys(run_id)
        if keys is None:  # not a whole chain: every item the partition holds
            keys = query_keys(self._aws, self._table, "run_id", run_id, projection="run_id, pos")
        delete_items(self._aws, self._table, keys)
        self._cache.forget(run_id)
        return len(keys)

    def _chain_keys(self, run_id: str) -> list[Item] | None:
        """The keys of an ended log's items, found by walking its chain with GetItem (about
        1 ms each) instead of a Query, which on moto scans the whole table (47 ms per run
        at 1,000 runs): one item per batch, the terminal one last, plus the position after
        it (a seal item of earlier versions; deleting a missing key is a no-op). None when
        the chain does not reach a terminal batch within `DELETE_CHAIN_LIMIT` items (a
        long log, a log a failed purge left half-deleted, no log): the caller queries."""
        keys: list[Item] = []
        position = 0
        for _ in range(DELETE_CHAIN_LIMIT):
            item = self._get(run_id, position, projection="pos, n, t, seal")
            if item is None or "seal" in item:
                return None  # a chain that ends unsealed, or a sealed one already counted
            keys.append({"run_id": {"S": run_id}, "pos": {"N": str(position)}})
            position += int(item["n"]["N"])
            if "t" in item:
                keys.append({"run_id": {"S": run_id}, "pos": {"N": str(position)}})
                return keys
        return None

    def _get(self, run_id: str, position: int, projection: str | None = None) -> Item | None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"run_id": {"S": run_id}, "pos": {"N": str(position)}},
            "ConsistentRead": True,
        }
        if projection is not None:
            request["ProjectionExpression"] = projection
        return self._aws.dynamodb.get_item(**request).get("Item")

    def _floor(self, run_id: str, position: int) -> Item | None:
        """The last item at or before `position` (the batch covering it, or the log's last)."""
        page = self._aws.dynamodb.query(
            TableName=self._table,
            KeyConditionExpression="run_id = :r AND pos <= :p",
            ExpressionAttributeValues={":r": {"S": run_id}, ":p": {"N": str(position)}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = page.get("Items", [])
        return items[0] if items else None

    # --- the compacted object (compaction.py) ------------------------------------------------

    def _compaction_due(self, run_id: str, position: int, count: int) -> bool:
        """A batch that reaches or crosses a multiple of `compact_every`, or one `compact_every`
        or more past the object this process last saw (a crossing made by a process that did
        not hold the log, such as a step invocation's, is made up by the next one that does)."""
        every = self._compact_every
        if crosses(position, count, every):
            return True
        known = self._cache.compacted(run_id)
        return every > 0 and known > 0 and position + count - known >= every

    def _start_compaction(self, run_id: str, end: int) -> None:
        """Put the log up to `end` as the run's compacted object, on the pool, not waited for.
        Only from batches this process holds (a writer has read its log, so it usually holds
        them all); one put per run at a time (a later boundary waits for the next crossing)."""
        batches = self._cache.prefix(run_id, end)
        if batches is None:
            log.debug("run %s: log up to %d not all in memory, not compacted", run_id, end)
            self._cache.note_compacted(run_id, end)  # not again before `compact_every` more
            return
        with self._compacting_lock:
            if run_id in self._compacting:
                return
            try:
                future = self._aws.submit(self._put_compacted, run_id, batches)
            except RuntimeError:  # the World is closing
                return
            self._compacting[run_id] = future
        future.add_done_callback(lambda _: self._compaction_done(run_id, future))

    def _compaction_done(self, run_id: str, future: Future[None]) -> None:
        with self._compacting_lock:
            if self._compacting.get(run_id) is future:
                del self._compacting[run_id]

    def _put_compacted(self, run_id: str, batches: list[tuple[int, list[Event]]]) -> None:
        end = batches[-1][0] + len(batches[-1][1])
        self._cache.note_compacted(run_id, end)  # done or failed: the next try is K later
        try:
            data = encode_compacted(batches)
            self._aws.s3.put_object(Bucket=self._bucket, Key=compacted_key(run_id), Body=data)
        except Exception as error:  # readers use the chain: nothing is lost
            log.warning(
                "run %s: compacted log not written (%s); readers use the items", run_id, error
            )

    def wait_compacted(self, timeout: float = 30.0) -> None:
        """Wait for this process's compacted-object puts in flight (tests, benchmarks)."""
        with self._compacting_lock:
            pending = list(self._compacting.values())
        for future in pending:
            with contextlib.suppress(Exception):  # logged by the put itself
                future.result(timeout=timeout)

    def _compacted_from(self, run_id: str, position: int) -> list[Event] | None:
        """Events from `position` (a batch start) to the end of the run's compacted object,
        when there is a readable one that reaches past `position`; else None (use the chain).
        Its batches go to the cache with their true boundaries."""
        key = compacted_key(run_id)
        try:
            data = self._aws.s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except Exception as error:  # an optimisation: the items are the truth
            if error_code(error) not in ("NoSuchKey", "404"):
                log.warning("run %s: compacted log unreadable (%s); using the items", run_id, error)
            return None
        try:
            batches = decode_compacted(data, where=f"run {run_id}")
        except CorruptedDataError as error:
            log.warning("%s; ignored, using the items", error)
            return None
        end = batches[-1][0] + len(batches[-1][1])
        self._cache.note_compacted(run_id, end)
        if end <= position:
            return None
        events: list[Event] = []
        for start, batch in batches:
            self._cache.batch(run_id, start, batch)
            if start >= position:
                events.extend(self._cache.cached(run_id, start) or batch)
        if not events or events[0].seq != position:
            log.warning("run %s: compacted log has no batch at %d; ignored", run_id, position)
            return None
        return events
