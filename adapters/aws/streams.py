"""Streams on DynamoDB: one item per chunk, claimed with a conditional put on its index.

Table layout (`config.streams_table`, pk `k` S, sk `i` N):

    chunk     {k: "{run_id}/{name}", i: index, d: chunk (B)}  or  {..., ref: S3 key, sz}
    closed    {k: "{run_id}/{name}", i: the index after the last chunk, c: true}
    registry  {k: run_id, i: 0, names: {"n:" + name, ...}, closed: {...}}  (one per run)

Appending claims the next index with `PutItem(attribute_not_exists(i))`; a writer that loses
tries the next index, and one that meets the closed marker gets `ValueError`. Closing claims
the next index with the marker, so no chunk can land after it: the marker is the stream's
end, as the seal is the log's. A chunk is only ever put at index k after k - 1 was seen
written, so indices have no holes and a reader stops at the first missing one.

A process remembers each stream's next index after its first append (found cold by probing
1, 3, 7, ... then bisecting: O(log n) GetItems) and serializes its own appends to a stream,
so concurrent writers in one process do not collide. Chunks over `inline_bytes` go to S3
under the run's prefix (deleted with the run's blobs). `names` reads the run's registry item
(no Scan); it is written once per stream per process, before the stream's first item.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import uuid
from typing import Any

from steplane.runtime.world import StreamChunks

from .blobs import S3BlobStore
from .clients import AwsClients, delete_items, is_condition_failure, query_keys

_REMEMBERED_STREAMS = 8192
_FIRST_WINDOW = 8
_MAX_WINDOW = 100  # BatchGetItem's limit

Item = dict[str, Any]


class DynamoStreamStore:
    def __init__(self, aws: AwsClients, blobs: S3BlobStore) -> None:
        self._aws = aws
        self._blobs = blobs
        self._table = aws.config.streams_table
        self._inline_bytes = aws.config.limits.inline_payload_bytes
        self._lock = threading.Lock()
        self._stream_locks: collections.OrderedDict[str, threading.Lock] = collections.OrderedDict()
        self._next: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._closed: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._registered: collections.OrderedDict[str, None] = collections.OrderedDict()

    # --- protocol -------------------------------------------------------------------------

    async def append(self, run_id: str, name: str, data: bytes) -> int:
        return await self._aws.call(self._append_sync, run_id, name, bytes(data))

    async def read(self, run_id: str, name: str, start: int = 0) -> StreamChunks:
        return await self._aws.call(self._read_sync, run_id, name, max(start, 0))

    async def close(self, run_id: str, name: str) -> None:
        await self._aws.call(self._close_sync, run_id, name)

    async def names(self, run_id: str) -> list[str]:
        registry = await self._aws.call(self._registry, run_id)
        return sorted(entry[2:] for entry in registry.get("names", {}).get("SS", []))

    async def delete_run(self, run_id: str) -> int:
        """Delete every stream of the run (retention; not for live runs). Returns items deleted."""
        return await self._aws.call(self._delete_run_sync, run_id)

    # --- writing (on the client pool) -------------------------------------------------------

    def _append_sync(self, run_id: str, name: str, data: bytes) -> int:
        sid = f"{run_id}/{name}"
        self._register(run_id, name)
        body: Item
        blob_key = None
        if len(data) > self._inline_bytes:
            blob_key = f"{run_id}/streams/{uuid.uuid4().hex}"
            self._blobs.put_sync(blob_key, data)
            body = {"ref": {"S": blob_key}, "sz": {"N": str(len(data))}}
        else:
            body = {"d": {"B": data}}
        try:
            index = self._claim(sid, body)
        except ValueError:
            if blob_key is not None:
                self._aws.s3.delete_object(Bucket=self._aws.config.bucket, Key=blob_key)
            raise ValueError(f"stream {name!r} of run {run_id} is closed") from None
        return index

    def _close_sync(self, run_id: str, name: str) -> None:
        sid = f"{run_id}/{name}"
        self._register(run_id, name)
        with contextlib.suppress(ValueError):  # closed already
            self._claim(sid, {"c": {"BOOL": True}})
        self._aws.dynamodb.update_item(
            TableName=self._table,
            Key={"k": {"S": run_id}, "i": {"N": "0"}},
            UpdateExpression="ADD closed :n",
            ExpressionAttributeValues={":n": {"SS": [f"n:{name}"]}},
        )

    def _claim(self, sid: str, body: Item) -> int:
        """Put `body` at the stream's next free index; ValueError if the stream is closed."""
        with self._stream_lock(sid):
            if self._known_closed(sid):
                raise ValueError(sid)
            with self._lock:
                index = self._next.get(sid)
            if index is None:
                index, closed = self._find_end(sid)
                if closed:
                    self._mark_closed(sid)
                    raise ValueError(sid)
            while True:
                try:
                    self._aws.dynamodb.put_item(
                        TableName=self._table,
                        Item={"k": {"S": sid}, "i": {"N": str(index)}, **body},
                        ConditionExpression="attribute_not_exists(i)",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
                except Exception as error:
                    if not is_condition_failure(error):
                        raise
                    taken = error.response.get("Item") or {}  # type: ignore[attr-defined]
                    if "c" in taken:
                        self._mark_closed(sid)
                        raise ValueError(sid) from None
                    index += 1  # another process wrote here; index - 1 is now seen written
                    continue
                self._remember(self._next, sid, index + 1)
                if "c" in body:
                    self._mark_closed(sid)
                return index

    def _find_end(self, sid: str) -> tuple[int, bool]:
        """The first free index of a stream (and whether the stream is closed there)."""

        def probe(index: int) -> Item | None:
            answer = self._aws.dynamodb.get_item(
                TableName=self._table,
                Key={"k": {"S": sid}, "i": {"N": str(index)}},
                ProjectionExpression="i, c",
                ConsistentRead=True,
            )
            return answer.get("Item")

        present, missing = -1, 0
        while (item := probe(missing)) is not None:
            if "c" in item:
                return missing, True
            present, missing = missing, 2 * missing + 1
        while missing - present > 1:
            middle = (present + missing) // 2
            item = probe(middle)
            if item is None:
                missing = middle
            elif "c" in item:
                return middle, True
            else:
                present = middle
        return missing, False

    def _register(self, run_id: str, name: str) -> None:
        sid = f"{run_id}/{name}"
        with self._lock:
            if sid in self._registered:
                return
        self._aws.dynamodb.update_item(
            TableName=self._table,
            Key={"k": {"S": run_id}, "i": {"N": "0"}},
            UpdateExpression="ADD #names :n",
            ExpressionAttributeNames={"#names": "names"},
            ExpressionAttributeValues={":n": {"SS": [f"n:{name}"]}},
        )
        self._remember(self._registered, sid, None)

    # --- reading (on the client pool) -------------------------------------------------------

    def _read_sync(self, run_id: str, name: str, start: int) -> StreamChunks:
        chunks, closed = self._scan_sync(f"{run_id}/{name}", start)
        # Past the end: the marker may sit before `start`; the registry knows. The scan ran
        # before this registry read, so chunks written and closed in between would be missed
        # (a reader ending early): once the stream is known closed, scan again; nothing is
        # written after a close.
        past_the_end = not chunks and not closed and start > 0
        if past_the_end and f"n:{name}" in self._registry(run_id).get("closed", {}).get("SS", []):
            chunks, _ = self._scan_sync(f"{run_id}/{name}", start)
            closed = True
        return StreamChunks(start=start, chunks=chunks, closed=closed)

    def _scan_sync(self, sid: str, start: int) -> tuple[list[bytes], bool]:
        """The chunks from `start` up to the first missing index or the close marker, and
        whether the marker was reached."""
        chunks: list[bytes] = []
        closed = False
        index, window = start, _FIRST_WINDOW
        while True:
            items = self._batch_get(sid, index, window)
            for item in items:
                if "c" in item:
                    closed = True
                    break
                if "ref" in item:
                    chunks.append(self._blobs.get_sync(item["ref"]["S"]))
                else:
                    chunks.append(bytes(item["d"]["B"]))
            if closed or len(items) < window:
                break
            index, window = index + window, min(window * 2, _MAX_WINDOW)
        return chunks, closed

    def _batch_get(self, sid: str, start: int, count: int) -> list[Item]:
        """Items at `start`, `start + 1`, ... up to the first missing one."""
        keys = [{"k": {"S": sid}, "i": {"N": str(i)}} for i in range(start, start + count)]
        found: dict[int, Item] = {}
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = self._aws.dynamodb.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self._table, []):
                found[int(item["i"]["N"])] = item
            request = answer.get("UnprocessedKeys") or {}
        run = []
        for i in range(start, start + count):
            if i not in found:
                break
            run.append(found[i])
        return run

    def _delete_run_sync(self, run_id: str) -> int:
        deleted = 0
        for entry in self._registry(run_id).get("names", {}).get("SS", []):
            sid = f"{run_id}/{entry[2:]}"
            keys = query_keys(self._aws, self._table, "k", sid, projection="k, i")
            delete_items(self._aws, self._table, keys)
            deleted += len(keys)
            with self._lock:
                for memory in (self._next, self._closed, self._registered):
                    memory.pop(sid, None)
        registry = [{"k": {"S": run_id}, "i": {"N": "0"}}]
        delete_items(self._aws, self._table, registry)
        return deleted + 1

    def _registry(self, run_id: str) -> Item:
        answer = self._aws.dynamodb.get_item(
            TableName=self._table, Key={"k": {"S": run_id}, "i": {"N": "0"}}, ConsistentRead=True
        )
        return answer.get("Item") or {}

    # --- process memory ---------------------------------------------------------------------

    def _stream_lock(self, sid: str) -> threading.Lock:
        with self._lock:
            lock = self._stream_locks.get(sid)
            if lock is None:
                lock = self._stream_locks[sid] = threading.Lock()
            self._stream_locks.move_to_end(sid)
            while len(self._stream_locks) > _REMEMBERED_STREAMS:
                self._stream_locks.popitem(last=False)  # correctness never rests on these
            return lock

    def _known_closed(self, sid: str) -> bool:
        with self._lock:
            return sid in self._closed

    def _mark_closed(self, sid: str) -> None:
        self._remember(self._closed, sid, None)

    def _remember(self, memory: collections.OrderedDict[str, Any], key: str, value: Any) -> None:
        with self._lock:
            memory[key] = value
            memory.move_to_end(key)
            while len(memory) > _REMEMBERED_STREAMS:
                memory.popitem(last=False)
