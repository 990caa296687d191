"""Run records on DynamoDB, listable newest first by status and by workflow name.

Table layout (`config.runs_table`, pk `run_id` S):

    {run_id, wf: workflow name, st: status, ca/ua/fa: created/updated/completed at (N),
     parent, edk: encrypted data key (B), code: error code, dep: deployment,
     ck: sort key (created_at and run_id, see `sort_key`),
     sp: "{status}#{shard}", wp: "{workflow}#{shard}", ap: "all#{shard}"}

Attributes (`set_attributes`, plaintext by choice) are a map `at` on the record, plus one
*index item* per (run, name) in the same table: `{run_id: "attr#{run}#{name}", tp:
"{name}={value}#{shard}", ck, rid: run id}`, on a fourth index `by_attr` (tp, ck). Listing by
an attribute queries that index's shards newest first and reads the records it names with
BatchGetItem (100 per call), filtering them by status, workflow and further attributes: the
cost is one Query per shard per 100 matches plus one BatchGetItem per 100 runs read, never a
Scan. Setting attributes costs one UpdateItem plus one PutItem per name. A listing by one
attribute and a status reads every run with that attribute until it has a page of matches,
so put the most selective attribute first.

Three global secondary indexes (`by_status` on sp, `by_workflow` on wp, `by_time` on ap; sort
key ck; all attributes projected) answer the listings. Their partition keys are sharded by a
hash of the run id (docs/invariants.md #7: no key that every run writes): a listing queries each
shard newest first from the cursor and merges. Listing by status and workflow together
queries the workflow index and filters on status. The cursor is the last listed `ck`, which
orders runs by (created_at, run_id) like the memory World, so runs created while someone
pages neither shift the window nor appear twice. GSIs are eventually consistent on AWS: a
listing may trail a status change by a moment (moto's are immediate).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import struct
import zlib
from decimal import Decimal
from typing import Any

from steplane.runtime.engine.events import TERMINAL_STATUSES, RunStatus
from steplane.runtime.errors import RunNotFoundError
from steplane.runtime.world import Page, RunQuery, RunRecord, RunStore, StatusChange

from .clients import AwsClients, is_condition_failure

STATUS_INDEX = "by_status"
WORKFLOW_INDEX = "by_workflow"
TIME_INDEX = "by_time"
ATTRIBUTE_INDEX = "by_attr"
_BATCH_GET = 100

Item = dict[str, Any]


def number(value: float) -> dict[str, str]:
    """A DynamoDB number that reads back as exactly `value`."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return {"N": text}


def sort_key(created_at: float, run_id: str) -> str:
    """A string that sorts like (created_at, run_id): the float's IEEE bits made unsigned-
    sortable, in hex, then the run id."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", float(created_at)))
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}#{run_id}"


def shard_of(run_id: str, shards: int) -> int:
    return zlib.crc32(run_id.encode()) % shards


class DynamoRunStore(RunStore):
    def __init__(self, aws: AwsClients) -> None:
        self._aws = aws
        self._table = aws.config.runs_table
        self._shards = aws.config.list_shards

    async def create(self, record: RunRecord) -> None:
        item = self.record_item(record)
        try:
            await self._aws.call(
                self._aws.dynamodb.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(run_id)",
            )
        except Exception as error:
            if is_condition_failure(error):
                raise ValueError(f"run {record.run_id!r} already exists") from None
            raise

    async def get(self, run_id: str) -> RunRecord | None:
        answer = await self._aws.call(
            self._aws.dynamodb.get_item,
            TableName=self._table,
            Key={"run_id": {"S": run_id}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return _record(item) if item is not None else None

    async def change_status(self, run_id: str, change: StatusChange) -> bool:
        """One conditional update: refused when the run has ended or already has `status`.
        RunNotFoundError for an unknown run (as the memory World)."""
        status, updated_at, error_code = change.status, change.updated_at, change.error_code
        shard = shard_of(run_id, self._shards)
        sets = ["st = :s", "sp = :sp", "ua = :u"]
        values: Item = {
            ":s": {"S": str(status)},
            ":sp": {"S": f"{status}#{shard}"},
            ":u": number(updated_at),
        }
        if error_code is not None:
            sets.append("code = :c")
            values[":c"] = {"S": error_code}
        if status.is_terminal:
            sets.append("fa = :u")
        if change.deployment is not None:  # pins an unpinned run, keeps any pin it has
            sets.append("dep = if_not_exists(dep, :dep)")
            values[":dep"] = {"S": change.deployment}
        return await self._update_live(run_id, "SET " + ", ".join(sets), "st <> :s", values)

    async def set_attributes(
        self, run_id: str, attributes: dict[str, str], *, version: int = 0
    ) -> bool:
        """The map on the record, then an index item per name (overwritten when its value
        changes: one item per run and name). Each write is conditional on the stored version
        (`av`) being older, so a slow host's older copy never replaces a newer one."""
        mapped = {"M": {name: {"S": value} for name, value in attributes.items()}}
        newer = "attribute_not_exists(av) OR av < :v"
        try:
            answer = await self._aws.call(
                self._aws.dynamodb.update_item,
                TableName=self._table,
                Key={"run_id": {"S": run_id}},
                UpdateExpression="SET #at = :at, av = :v",
                ConditionExpression=f"attribute_exists(run_id) AND ({newer})",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={":at": mapped, ":v": {"N": str(version)}},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            if not error.response.get("Item"):  # type: ignore[attr-defined]
                raise RunNotFoundError(f"run {run_id!r} does not exist") from None
            return False  # a newer copy is there
        ck = answer["Attributes"]["ck"]
        shard = shard_of(run_id, self._shards)
        for name, value in attributes.items():
            try:
                await self._aws.call(
                    self._aws.dynamodb.put_item,
                    TableName=self._table,
                    Item={
                        "run_id": {"S": f"attr#{run_id}#{name}"},
                        "tp": {"S": f"{name}={value}#{shard}"},
                        "ck": ck,
                        "rid": {"S": run_id},
                        "av": {"N": str(version)},
                    },
                    ConditionExpression=newer,
                    ExpressionAttributeValues={":v": {"N": str(version)}},
                )
            except Exception as error:
                if not is_condition_failure(error):
                    raise
        return True

    async def set_deployment(self, run_id: str, expected: str | None, deployment: str) -> bool:
        """One conditional update on the record's `dep` (and the run not ended)."""
        values: Item = {":d": {"S": deployment}}
        if expected is None:
            pinned = "attribute_not_exists(dep)"
        else:
            pinned = "dep = :e"
            values[":e"] = {"S": expected}
        return await self._update_live(run_id, "SET dep = :d", pinned, values)

    async def _update_live(self, run_id: str, update: str, condition: str, values: Item) -> bool:
        """`update` on the record of a run that exists, has not ended and meets `condition`:
        one conditional UpdateItem. False when refused; RunNotFoundError for no such run."""
        for i, ended in enumerate(sorted(TERMINAL_STATUSES)):
            values[f":t{i}"] = {"S": str(ended)}
        ended_list = ", ".join(f":t{i}" for i in range(len(TERMINAL_STATUSES)))
        try:
            await self._aws.call(
                self._aws.dynamodb.update_item,
                TableName=self._table,
                Key={"run_id": {"S": run_id}},
                UpdateExpression=update,
                ConditionExpression=(
                    f"attribute_exists(run_id) AND {condition} AND NOT st IN ({ended_list})"
                ),
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            if not error.response.get("Item"):  # type: ignore[attr-defined]
                raise RunNotFoundError(f"run {run_id!r} does not exist") from None
            return False
        return True

    async def delete(self, run_id: str) -> None:
        """Delete the run's record and its attribute index items (retention; see
        `AwsWorld.purge_run`)."""
        record = await self.get(run_id)
        for name in record.attributes if record is not None else ():
            await self._aws.call(
                self._aws.dynamodb.delete_item,
                TableName=self._table,
                Key={"run_id": {"S": f"attr#{run_id}#{name}"}},
            )
        await self._aws.call(
            self._aws.dynamodb.delete_item, TableName=self._table, Key={"run_id": {"S": run_id}}
        )

    async def query(self, query: RunQuery) -> Page:
        """`updated_before` is a filter on the queried index, so the cost of a listing
        with it is bounded by what the shards hold, never a Scan."""
        before = _decode_cursor(query.cursor) if query.cursor is not None else None
        if query.attributes:
            return await self._aws.call(self._list_by_attribute_sync, query, before)
        return await self._aws.call(self._list_sync, query, before)

    # --- internals ------------------------------------------------------------------------

    def record_item(self, record: RunRecord) -> Item:
        """The record's item, listing keys included (also written by `AwsWorld.create_run`)."""
        shard = shard_of(record.run_id, self._shards)
        status = RunStatus(record.status)
        item: Item = {
            "run_id": {"S": record.run_id},
            "wf": {"S": record.workflow_name},
            "st": {"S": str(status)},
            "ca": number(record.created_at),
            "ua": number(record.updated_at),
            "ck": {"S": sort_key(record.created_at, record.run_id)},
            "sp": {"S": f"{status}#{shard}"},
            "wp": {"S": f"{record.workflow_name}#{shard}"},
            "ap": {"S": f"all#{shard}"},
        }
        if record.parent_run_id is not None:
            item["parent"] = {"S": record.parent_run_id}
        if record.encrypted_data_key is not None:
            item["edk"] = {"B": bytes(record.encrypted_data_key)}
        if record.error_code is not None:
            item["code"] = {"S": record.error_code}
        if record.completed_at is not None:
            item["fa"] = number(record.completed_at)
        if record.attributes:
            item["at"] = {"M": {k: {"S": v} for k, v in record.attributes.items()}}
        if record.deployment is not None:
            item["dep"] = {"S": record.deployment}
        return item

    def _list_by_attribute_sync(self, query: RunQuery, before: str | None) -> Page:
        """Runs with `query.attributes`, through the attribute index (module docstring)."""
        name, value = query.attributes[0]
        shards = [self._index_items(f"{name}={value}#{n}", before) for n in range(self._shards)]
        merged = heapq.merge(*shards, key=lambda item: item["ck"]["S"], reverse=True)
        found: list[RunRecord] = []
        last_ck: list[str] = []
        while len(found) <= query.limit:
            chunk = [item for _, item in zip(range(_BATCH_GET), merged, strict=False)]
            if not chunk:
                break
            records = self._batch_get([item["rid"]["S"] for item in chunk])
            for item in chunk:
                record = records.get(item["rid"]["S"])
                if record is not None and _matches(record, query):
                    found.append(record)
                    last_ck.append(item["ck"]["S"])
                    if len(found) > query.limit:
                        break
        items = found[: query.limit]
        more = len(found) > query.limit
        next_cursor = _encode_cursor(last_ck[query.limit - 1]) if more else None
        return Page(items=items, next_cursor=next_cursor)

    def _index_items(self, key: str, before: str | None) -> Any:
        """One shard of the attribute index, newest first, strictly before the cursor, read
        lazily a page at a time."""
        condition, values = "tp = :k", {":k": {"S": key}}
        if before is not None:
            condition += " AND ck < :c"
            values[":c"] = {"S": before}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": ATTRIBUTE_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": _BATCH_GET,
        }
        while True:
            page = self._aws.dynamodb.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_get(self, run_ids: list[str]) -> dict[str, RunRecord]:
        keys = [{"run_id": {"S": run_id}} for run_id in dict.fromkeys(run_ids)]
        found: dict[str, RunRecord] = {}
        request = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(10):  # unprocessed keys come back under throttling; bounded
            answer = self._aws.dynamodb.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self._table, []):
                record = _record(item)
                found[record.run_id] = record
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        return found

    def _list_sync(self, query: RunQuery, before: str | None) -> Page:
        status, workflow_name, limit = query.status, query.workflow_name, query.limit
        if workflow_name is not None:
            index, prefix = WORKFLOW_INDEX, ("wp", workflow_name)
        elif status is not None:
            index, prefix = STATUS_INDEX, ("sp", str(status))
        else:
            index, prefix = TIME_INDEX, ("ap", "all")
        wanted_status = status if workflow_name is not None else None
        key_name, key_value = prefix
        shards = [
            self._query_shard(
                index,
                key_name,
                f"{key_value}#{n}",
                before,
                wanted_status,
                limit + 1,
                query.updated_before,
                query.deployment,
            )
            for n in range(self._shards)
        ]
        merged = list(heapq.merge(*shards, key=lambda item: item["ck"]["S"], reverse=True))
        items = merged[:limit]
        next_cursor = _encode_cursor(items[-1]["ck"]["S"]) if len(merged) > limit else None
        return Page(items=[_record(item) for item in items], next_cursor=next_cursor)

    def _query_shard(
        self,
        index: str,
        key_name: str,
        key: str,
        before: str | None,
        status: RunStatus | None,
        wanted: int,
        updated_before: float | None = None,
        deployment: str | None = None,
    ) -> list[Item]:
        """Up to `wanted` items of one shard, newest first, strictly before the cursor."""
        condition = "#k = :k"
        values: Item = {":k": {"S": key}}
        if before is not None:
            condition += " AND ck < :c"
            values[":c"] = {"S": before}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#k": key_name},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": wanted,
        }
        filters = []
        if status is not None:
            filters.append("st = :s")
            values[":s"] = {"S": str(status)}
        if updated_before is not None:
            filters.append("ua < :ub")
            values[":ub"] = number(updated_before)
        if deployment is not None:  # a filter: deployments are few and listed rarely
            filters.append("dep = :dep")
            values[":dep"] = {"S": deployment}
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        found: list[Item] = []
        while len(found) < wanted:
            page = self._aws.dynamodb.query(**request)
            found.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:wanted]


def _record(item: Item) -> RunRecord:
    def optional_number(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    return RunRecord(
        run_id=item["run_id"]["S"],
        workflow_name=item["wf"]["S"],
        status=RunStatus(item["st"]["S"]),
        created_at=float(item["ca"]["N"]),
        updated_at=float(item["ua"]["N"]),
        parent_run_id=item["parent"]["S"] if "parent" in item else None,
        encrypted_data_key=bytes(item["edk"]["B"]) if "edk" in item else None,
        error_code=item["code"]["S"] if "code" in item else None,
        completed_at=optional_number("fa"),
        attributes={k: v["S"] for k, v in item["at"]["M"].items()} if "at" in item else {},
        deployment=item["dep"]["S"] if "dep" in item else None,
    )


def _matches(record: RunRecord, query: RunQuery) -> bool:
    return (
        (query.status is None or record.status == query.status)
        and (query.workflow_name is None or record.workflow_name == query.workflow_name)
        and (query.updated_before is None or record.updated_at < query.updated_before)
        and all(record.attributes.get(k) == v for k, v in query.attributes)
        and (query.deployment is None or record.deployment == query.deployment)
    )


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"ck": key}).encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        key = data["ck"] if isinstance(data, dict) else None
        if not isinstance(key, str) or "#" not in key:
            raise TypeError(key)
        return key
    except (binascii.Error, UnicodeError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}: not one this World handed out") from exc
