"""The key schema and indexes of the AWS World's five DynamoDB tables, as its stores read and
write their items (log.py, runs.py, hooks.py, streams.py, coordination.py). The infra
template declares its tables from these definitions; every table is created by creating that
template's stack.
"""

from __future__ import annotations

from typing import Any

from .config import AwsConfig
from .runs import ATTRIBUTE_INDEX, STATUS_INDEX, TIME_INDEX, WORKFLOW_INDEX


def table_definitions(config: AwsConfig) -> list[dict[str, Any]]:
    """CreateTable requests for every table (on-demand capacity)."""

    def table(name: str, keys: list[tuple[str, str, str]], **extra: Any) -> dict[str, Any]:
        attributes = {attr: kind for attr, kind, _ in keys}
        for index in extra.get("GlobalSecondaryIndexes", []):
            for key in index["KeySchema"]:
                attributes.setdefault(key["AttributeName"], "S")
        return {
            "TableName": name,
            "KeySchema": [{"AttributeName": a, "KeyType": role} for a, _, role in keys],
            "AttributeDefinitions": [
                {"AttributeName": a, "AttributeType": kind} for a, kind in attributes.items()
            ],
            "BillingMode": "PAY_PER_REQUEST",
            **extra,
        }

    def index(name: str, partition: str) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": partition, "KeyType": "HASH"},
                {"AttributeName": "ck", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }

    return [
        table(config.events_table, [("run_id", "S", "HASH"), ("pos", "N", "RANGE")]),
        table(
            config.runs_table,
            [("run_id", "S", "HASH")],
            GlobalSecondaryIndexes=[
                index(STATUS_INDEX, "sp"),
                index(WORKFLOW_INDEX, "wp"),
                index(TIME_INDEX, "ap"),
                index(ATTRIBUTE_INDEX, "tp"),
            ],
        ),
        table(config.hooks_table, [("h", "S", "HASH")]),
        table(config.streams_table, [("k", "S", "HASH"), ("i", "N", "RANGE")]),
        table(config.coordination_table, [("k", "S", "HASH")]),
    ]
