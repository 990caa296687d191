"""Hook tokens on DynamoDB: one item per live token, claimed and released conditionally.

Table layout (`config.hooks_table`, pk `h` S): `{h: HMAC-SHA256(key, token) hex, run_id,
hook_id, at: N}` (`at`: when the token was first claimed, for listings; absent on items
written before it existed). Tokens are stored nowhere in clear (docs/invariants.md #9): the
key is a keyed digest, because custom tokens like `approve:o-1` are guessable and a plain hash
of them is not secret. `lookup` hands back the token its caller already has.

The HMAC key must be the same in every process of a deployment. It is, in order:
`AwsConfig.hook_token_key` (`STEPLANE_HOOK_TOKEN_KEY`, e.g. injected from Secrets Manager), or
else a random key the deployment makes for itself on first use and keeps in this table, in the
item `h = "#hook-token-key"`, encrypted under the deployment's KMS key (so a reader of the
table without KMS access cannot compute digests). A process decrypts it once and caches it.
"""

from __future__ import annotations

import asyncio
import base64
import json

from steplane.runtime.errors import HookConflictError
from steplane.runtime.world import (
    HookEntry,
    HookOwner,
    Page,
    check_at_least_one,
    hook_token_digest,
    token_fingerprint,
)

from .clients import AwsClients, is_condition_failure

KEY_ITEM = "#hook-token-key"
"""The table item holding the KMS-encrypted HMAC key (digests are hex, so no collision)."""
_KEY_CONTEXT = {"steplane": "hook-token-key"}


class DynamoHookRegistry:
    def __init__(self, aws: AwsClients) -> None:
        self._aws = aws
        self._table = aws.config.hooks_table
        configured = aws.config.hook_token_key
        self._key: bytes | None = configured.encode() if configured else None
        self._key_lock = asyncio.Lock()

    async def digest(self, token: str) -> str:
        return hook_token_digest(await self._token_key(), token)

    async def claim(self, owner: HookOwner) -> None:
        """Write if free or already ours (a replayed `create_hook` claims again); one
        conditional UpdateItem, which keeps the first claim's time."""
        digest = await self.digest(owner.token)
        values = {":r": {"S": owner.run_id}, ":k": {"S": owner.hook_id}}
        update = "SET run_id = :r, hook_id = :k"
        if owner.created_at is not None:
            update += ", #at = if_not_exists(#at, :t)"
            values[":t"] = {"N": repr(float(owner.created_at))}
        try:
            await self._aws.call(
                self._aws.dynamodb.update_item,
                TableName=self._table,
                Key={"h": {"S": digest}},
                UpdateExpression=update,
                ConditionExpression="attribute_not_exists(h) OR (run_id = :r AND hook_id = :k)",
                ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": {"#at": "at"}} if ":t" in values else {}),
            )
        except Exception as error:
            if is_condition_failure(error):
                raise HookConflictError(
                    f"hook token {token_fingerprint(digest)} is already held by another live hook"
                ) from None
            raise

    async def lookup(self, token: str) -> HookOwner | None:
        answer = await self._aws.call(
            self._aws.dynamodb.get_item,
            TableName=self._table,
            Key={"h": {"S": await self.digest(token)}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        if item is None or "run_id" not in item:
            return None
        return HookOwner(
            token=token,
            run_id=item["run_id"]["S"],
            hook_id=item["hook_id"]["S"],
            created_at=float(item["at"]["N"]) if "at" in item else None,
        )

    async def release(self, owner: HookOwner) -> None:
        """Delete only if `owner` holds the token, so a late release never frees a reclaim."""
        try:
            await self._aws.call(
                self._aws.dynamodb.delete_item,
                TableName=self._table,
                Key={"h": {"S": await self.digest(owner.token)}},
                ConditionExpression="run_id = :r AND hook_id = :k",
                ExpressionAttributeValues={":r": {"S": owner.run_id}, ":k": {"S": owner.hook_id}},
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise

    async def list(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        """One page of a Scan (inspection only: never on the hot path). The key item is
        skipped; a page may hold fewer than `limit` hooks and still have a next cursor."""
        check_at_least_one("limit", limit)
        start = _decode_cursor(cursor) if cursor is not None else None
        answer = await self._aws.call(
            self._aws.dynamodb.scan,
            TableName=self._table,
            Limit=limit,
            ConsistentRead=True,
            **({"ExclusiveStartKey": {"h": {"S": start}}} if start is not None else {}),
        )
        items = [
            HookEntry(
                token_fingerprint(item["h"]["S"]),
                item["run_id"]["S"],
                item["hook_id"]["S"],
                float(item["at"]["N"]) if "at" in item else None,
            )
            for item in answer.get("Items", [])
            if item["h"]["S"] != KEY_ITEM and "run_id" in item
        ]
        last = answer.get("LastEvaluatedKey")
        return Page(items, _encode_cursor(last["h"]["S"]) if last else None)

    # --- the deployment's HMAC key ---------------------------------------------------------

    async def _token_key(self) -> bytes:
        if self._key is None:
            async with self._key_lock:
                if self._key is None:
                    self._key = await self._load_or_create_key()
        return self._key

    async def _load_or_create_key(self) -> bytes:
        """Read the stored key; if there is none, store a new one. Two processes racing here
        both end up with the winner's key: the put is conditional, the loser reads again."""
        for _ in range(3):
            answer = await self._aws.call(
                self._aws.dynamodb.get_item,
                TableName=self._table,
                Key={"h": {"S": KEY_ITEM}},
                ConsistentRead=True,
            )
            item = answer.get("Item")
            if item is not None:
                decrypted = await self._aws.call(
                    self._aws.kms.decrypt,
                    CiphertextBlob=bytes(item["key"]["B"]),
                    KeyId=self._aws.config.kms_key,
                    EncryptionContext=_KEY_CONTEXT,
                )
                return bytes(decrypted["Plaintext"])
            # GenerateDataKey makes the random key and its KMS-wrapped copy in one call, with
            # the permissions the function role already has (no kms:Encrypt needed).
            encrypted = await self._aws.call(
                self._aws.kms.generate_data_key,
                KeyId=self._aws.config.kms_key,
                KeySpec="AES_256",
                EncryptionContext=_KEY_CONTEXT,
            )
            try:
                await self._aws.call(
                    self._aws.dynamodb.put_item,
                    TableName=self._table,
                    Item={"h": {"S": KEY_ITEM}, "key": {"B": bytes(encrypted["CiphertextBlob"])}},
                    ConditionExpression="attribute_not_exists(h)",
                )
            except Exception as error:
                if not is_condition_failure(error):
                    raise
        raise RuntimeError("the hook-token key item keeps changing; is another writer broken?")


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"hook": key}).encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))["hook"]
        if not isinstance(key, str):
            raise TypeError(key)
        return key
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}: not one this registry handed out") from exc
