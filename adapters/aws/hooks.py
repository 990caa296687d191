"""Hook tokens on DynamoDB: one item per live token, claimed and released conditionally.

Table layout (`config.hooks_table`, pk `h` S): `{h: sha256(token) hex, run_id, hook_id}`.
The key is a digest so raw tokens (bearer secrets for the webhook) are not table keys, and
are stored nowhere at all: `lookup` hands back the token its caller already has.
"""

from __future__ import annotations

import hashlib

from runtime.errors import HookConflictError
from runtime.world import HookOwner

from .clients import AwsClients, is_condition_failure


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DynamoHookRegistry:
    def __init__(self, aws: AwsClients) -> None:
        self._aws = aws
        self._table = aws.config.hooks_table

    async def claim(self, owner: HookOwner) -> None:
        """Put if free or already ours (a replayed `create_hook` claims again)."""
        try:
            await self._aws.call(
                self._aws.dynamodb.put_item,
                TableName=self._table,
                Item={
                    "h": {"S": token_key(owner.token)},
                    "run_id": {"S": owner.run_id},
                    "hook_id": {"S": owner.hook_id},
                },
                ConditionExpression="attribute_not_exists(h) OR (run_id = :r AND hook_id = :k)",
                ExpressionAttributeValues={":r": {"S": owner.run_id}, ":k": {"S": owner.hook_id}},
            )
        except Exception as error:
            if is_condition_failure(error):
                raise HookConflictError(
                    f"hook token {owner.token!r} is already held by another live hook"
                ) from None
            raise

    async def lookup(self, token: str) -> HookOwner | None:
        answer = await self._aws.call(
            self._aws.dynamodb.get_item,
            TableName=self._table,
            Key={"h": {"S": token_key(token)}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        if item is None:
            return None
        return HookOwner(token=token, run_id=item["run_id"]["S"], hook_id=item["hook_id"]["S"])

    async def release(self, owner: HookOwner) -> None:
        """Delete only if `owner` holds the token, so a late release never frees a reclaim."""
        try:
            await self._aws.call(
                self._aws.dynamodb.delete_item,
                TableName=self._table,
                Key={"h": {"S": token_key(owner.token)}},
                ConditionExpression="run_id = :r AND hook_id = :k",
                ExpressionAttributeValues={":r": {"S": owner.run_id}, ":k": {"S": owner.hook_id}},
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
