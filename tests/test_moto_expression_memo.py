"""The embedded moto's memo of lexed DynamoDB expressions (local_emulator/aws/moto_patches.py):
the same expression text with other names and values must answer as moto without the memo
would (the memo holds the lexing only, never names, values or an evaluation), and a text that
does not lex must be refused every time, not only the first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.aws import AwsWorld
from adapters.aws.clients import is_condition_failure
from local_emulator.aws import moto_patches
from local_emulator.aws.embedded import start_embedded_world

from .conftest import ManualClock


@pytest.fixture
async def world() -> AsyncIterator[AwsWorld]:
    made = await asyncio.to_thread(start_embedded_world, ManualClock())
    try:
        yield made
    finally:
        await made.close()


def _update(client: Any, table: str, key: str, **kwargs: Any) -> bool:
    """One UpdateItem on the hooks table's item `key`: False when its condition refused it."""
    try:
        client.update_item(TableName=table, Key={"h": {"S": key}}, **kwargs)
    except Exception as error:
        if not is_condition_failure(error):
            raise
        return False
    return True


async def test_one_text_with_other_values_and_names_answers_for_those(world: AwsWorld) -> None:
    client = world.aws.client("dynamodb")
    table = world.config.hooks_table
    key = f"memo-{uuid.uuid4().hex}"
    client.put_item(TableName=table, Item={"h": {"S": key}, "st": {"S": "a"}, "o": {"S": "z"}})
    assert moto_patches.condition_lexes is not None and moto_patches.update_tokens is not None
    condition = "#f = :want AND attribute_exists(h)"
    update = "SET v = :v, n = :n"

    def attempt(field: str, want: str, v: str) -> bool:
        return _update(
            client, table, key, UpdateExpression=update, ConditionExpression=condition,
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":want": {"S": want}, ":v": {"S": v}, ":n": {"N": "1"}},
        )  # fmt: skip

    assert attempt("st", "a", "first")  # lexes both texts (or finds them from another test)
    lexed, tokenized = moto_patches.condition_lexes.made, moto_patches.update_tokens.made
    assert not attempt("st", "b", "refused")  # other value: refused
    assert attempt("o", "z", "second")  # other name: its own attribute compared
    assert not attempt("o", "a", "refused")
    assert attempt("st", "a", "third")
    item = client.get_item(TableName=table, Key={"h": {"S": key}})["Item"]
    assert item["v"] == {"S": "third"}  # each update wrote its own values
    assert (moto_patches.condition_lexes.made, moto_patches.update_tokens.made) == (
        lexed,
        tokenized,
    ), "the same texts were lexed again: the memo is not in use"


async def test_a_text_that_does_not_lex_is_refused_every_time(world: AwsWorld) -> None:
    client = world.aws.client("dynamodb")
    table = world.config.hooks_table
    key = f"memo-{uuid.uuid4().hex}"
    client.put_item(TableName=table, Item={"h": {"S": key}})
    for _ in range(3):
        with pytest.raises(Exception, match=r"ValidationException|Invalid|Cannot parse"):
            client.update_item(
                TableName=table, Key={"h": {"S": key}}, UpdateExpression="SET v = :v",
                ConditionExpression="st ~ :v", ExpressionAttributeValues={":v": {"S": "x"}},
            )  # fmt: skip
        with pytest.raises(Exception, match=r"ValidationException|Invalid|Cannot parse"):
            client.update_item(
                TableName=table, Key={"h": {"S": key}}, UpdateExpression="SET v = = :v",
                ExpressionAttributeValues={":v": {"S": "x"}},
            )  # fmt: skip
    assert "v" not in client.get_item(TableName=table, Key={"h": {"S": key}})["Item"]


def test_the_memo_is_bounded() -> None:
    made: list[str] = []
    memo = moto_patches._TextMemo(lambda text: (made.append(text), text)[1:])
    for i in range(moto_patches.EXPRESSIONS_REMEMBERED + 10):
        assert memo(f"x{i}") == (f"x{i}",)
    assert len(memo._memo) == moto_patches.EXPRESSIONS_REMEMBERED
    memo("x0")  # dropped first: made again
    assert made.count("x0") == 2 and memo.made == moto_patches.EXPRESSIONS_REMEMBERED + 11


async def test_handler_lookup_is_remembered_and_answers_as_moto(world: AwsWorld) -> None:
    """moto finds an action's handler by listing its response class's functions on every
    request: the listing is remembered per class, and each service still finds its own."""
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    names = responses.method_names_from_class(DynamoHandler)
    assert names is responses.method_names_from_class(DynamoHandler)  # worked out once
    assert {"put_item", "get_item", "update_item"} <= names
    assert responses.camelcase_to_underscores("TransactWriteItems") == "transact_write_items"
    client = world.aws.client("dynamodb")
    table = world.config.hooks_table
    key = f"handler-{uuid.uuid4().hex}"
    client.put_item(TableName=table, Item={"h": {"S": key}})
    assert client.get_item(TableName=table, Key={"h": {"S": key}})["Item"]["h"]["S"] == key
    world.aws.client("sqs").list_queues()  # another response class, its own entry
    assert "list_queues" in responses.method_names_from_class(SQSResponse)


def test_the_moto_server_lists_its_service_packages_once() -> None:
    """The moto server routes a request by asking whether its host names one of moto's
    service packages; the answer is the same listing of moto's directory, made once."""
    import os

    import moto
    from moto import backends

    moto_patches.install()
    root = os.path.dirname(moto.__file__)
    on_disk = {n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n))}
    listed = backends.list_of_moto_modules()
    assert listed is backends.list_of_moto_modules()
    assert set(listed) == {n for n in on_disk if not n.startswith("__")}
    assert "sqs" in listed and "dynamodb" in listed and "127.0.0.1:5000" not in listed
    assert set(backends.list_of_moto_modules.__wrapped__()) == set(listed)  # moto's own
