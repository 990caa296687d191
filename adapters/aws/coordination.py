"""Coordination items on DynamoDB: one item per key, replaced with a conditional PutItem.

Table layout (`config.coordination_table`, pk `k` S): `{k, v: version N, d: data as JSON S}`.
A put of version n is conditional on the stored `v` being n - 1 (`attribute_not_exists(k)`
for 1), so racing writers of one key have exactly one winner (docs/invariants.md #1). Reads
are strongly consistent: a lock decision must see the last hand-off. Keys are spread by the
engine (one item per lock, limit, rate or schedule key), so there is no fleet-wide hot key;
one key serializes its writers (docs/flow-control.md measures what one key sustains).
"""

from __future__ import annotations

import json
from typing import Any

from steplane.runtime.world import MAX_COORDINATION_BYTES, Versioned, check_coordination

from .clients import AwsClients, is_condition_failure


class DynamoCoordinationStore:
    def __init__(self, aws: AwsClients) -> None:
        self._aws = aws
        self._table = aws.config.coordination_table

    async def get(self, key: str) -> Versioned | None:
        check_coordination(key, 1)
        answer = await self._aws.call(
            self._aws.dynamodb.get_item,
            TableName=self._table,
            Key={"k": {"S": key}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        if item is None:
            return None
        return Versioned(json.loads(item["d"]["S"]), int(item["v"]["N"]))

    async def put(self, key: str, data: dict[str, Any], version: int) -> bool:
        check_coordination(key, version)
        text = json.dumps(data, separators=(",", ":"))
        if len(text) > MAX_COORDINATION_BYTES:
            raise ValueError(f"coordination item {key!r} is over {MAX_COORDINATION_BYTES} bytes")
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(k)"}
            if version == 1
            else {
                "ConditionExpression": "v = :previous",
                "ExpressionAttributeValues": {":previous": {"N": str(version - 1)}},
            }
        )
        try:
            await self._aws.call(
                self._aws.dynamodb.put_item,
                TableName=self._table,
                Item={"k": {"S": key}, "v": {"N": str(version)}, "d": {"S": text}},
                **condition,
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True
