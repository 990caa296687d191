"""The boto3 clients of one AWS World, and the bridge that keeps their blocking calls off the
event loop.

boto3 is synchronous: every call runs on the World's own thread pool (`await aws.call(...)`),
so the loop keeps serving other invocations while DynamoDB answers, and a long poll holds a
pool thread, not the loop. Clients are made once per World, each on first use, with
botocore's "standard" retry mode (throttling and 5xx answers retried with backoff). Sessions
are shared per credentials and region: a fresh session loads its service models again
(~100 ms), a cached one makes four clients in ~10 ms. Sessions are botocore's own, not
boto3's: importing boto3 also imports s3transfer (~80 ms of a cold start), unused here.

Every API call is counted in `calls` ("dynamodb.PutItem": n): the benchmark's deterministic
cost metric, and what the tests use to prove that a warm read makes no Query.

The emulator's in-process moto serializes every call itself (local_emulator/aws/moto_lock.py).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from steplane.runtime.extras import requires_extra

from .config import AwsConfig

with requires_extra("aws"):  # the AWS World's one dependency
    import botocore
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from .model_loader import direct_loader

T = TypeVar("T")

_sessions: dict[tuple[str, str | None, str | None, bool], botocore.session.Session] = {}
_sessions_lock = threading.Lock()


def error_code(error: BaseException) -> str:
    """The AWS error code of a failed call ("" for anything that is not a ClientError)."""
    if not isinstance(error, ClientError):
        return ""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_condition_failure(error: Exception) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"


def query_keys(
    aws: AwsClients, table: str, key_name: str, key: str, *, projection: str
) -> list[dict[str, Any]]:
    """The keys of every item under one partition key (blocking; for deletions)."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#k = :k",
        "ExpressionAttributeNames": {"#k": key_name},
        "ExpressionAttributeValues": {":k": {"S": key}},
        "ProjectionExpression": projection,
        "ConsistentRead": True,
    }
    keys: list[dict[str, Any]] = []
    while True:
        page = aws.dynamodb.query(**request)
        keys.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return keys
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


UNPROCESSED_ATTEMPTS = 8
"""BatchWriteItems sent for one batch before the writes DynamoDB keeps leaving unprocessed (it
does so when throttled) fail it; 50 ms after the first, doubling to 1 s (AWS's advice: back
off), 4.4 s in all."""


def delete_items(aws: AwsClients, table: str, keys: list[dict[str, Any]]) -> None:
    """Delete items by key, 25 per BatchWriteItem, retrying what DynamoDB left unprocessed."""
    for start in range(0, len(keys), 25):
        write_items(
            aws, {table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]}
        )


def write_items(aws: AwsClients, requests: dict[str, list[dict[str, Any]]]) -> None:
    """One BatchWriteItem (at most 25 requests), then again for what it left unprocessed,
    backing off; RuntimeError naming how many writes are still unprocessed after
    `UNPROCESSED_ATTEMPTS`, rather than retrying for ever."""
    for attempt in range(UNPROCESSED_ATTEMPTS):
        if attempt:
            time.sleep(min(0.05 * 2 ** (attempt - 1), 1.0))
        requests = aws.dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems")
        if not requests:
            return
    left = sum(len(table_requests) for table_requests in requests.values())
    raise RuntimeError(
        f"DynamoDB left {left} of a batch's writes unprocessed after {UNPROCESSED_ATTEMPTS} "
        "attempts (throttled: raise the tables' capacity, or retry later)"
    )


def new_session() -> botocore.session.Session:
    """A botocore session whose data loader skips listing every service (model_loader.py)."""
    session = botocore.session.Session()
    session.register_component(
        "data_loader", direct_loader(session.get_config_variable("data_path"))
    )
    return session


class AwsClients:
    """dynamodb, s3, sqs and kms clients bound to one endpoint, plus a thread pool.

    Each client is made on first use: loading a service's model is most of a cold start's
    cost (s3's alone ~40 ms), and a Lambda instance's first invocation of an inline step
    needs only DynamoDB and KMS."""

    def __init__(self, config: AwsConfig, *, signed: bool = True) -> None:
        self.config = config
        self._signed = signed
        self._client_config = Config(
            retries={"mode": "standard", "max_attempts": config.max_attempts},
            max_pool_connections=max(10, config.max_threads),
            connect_timeout=5,
            read_timeout=30,
            # The endpoint is config.endpoint_url (AWS_ENDPOINT_URL read by AwsConfig), never
            # botocore's own reading of the environment: an embedded moto must not be bypassed.
            ignore_configured_endpoint_urls=True,
        )
        with _sessions_lock:
            # moto hooks botocore through handlers a session copies when it is made: a
            # session from before moto was imported would bypass an in-process mock.
            mocked = "moto" in sys.modules
            key = (config.region, config.access_key_id, config.secret_access_key, mocked)
            session = _sessions.get(key)
            if session is None:
                session = _sessions[key] = new_session()
            self._session = session
        self._made: dict[str, Any] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.batched_writes = 0
        """Items written or deleted inside BatchWriteItem calls (each call counts once in
        `calls`): the durable writes those calls made."""
        self._calls_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=config.max_threads, thread_name_prefix="steplane-aws"
        )

    @property
    def dynamodb(self) -> Any:
        return self._made.get("dynamodb") or self.client("dynamodb")

    @property
    def s3(self) -> Any:
        return self._made.get("s3") or self.client("s3")

    @property
    def sqs(self) -> Any:
        return self._made.get("sqs") or self.client("sqs")

    @property
    def kms(self) -> Any:
        return self._made.get("kms") or self.client("kms")

    def client(self, service: str) -> Any:
        """A client for any service, on this World's endpoint and credentials (calls counted)."""
        with _sessions_lock:  # botocore sessions do not make clients thread-safely
            if service not in self._made:
                config = self.config
                made = self._session.create_client(
                    service,
                    region_name=config.region,
                    endpoint_url=config.endpoint_url,
                    aws_access_key_id=config.access_key_id,
                    aws_secret_access_key=config.secret_access_key,
                    config=self._service_config(service),
                )
                made.meta.events.register("before-call", self._count)
                if service == "dynamodb":
                    made.meta.events.register(
                        "before-parameter-build.dynamodb.BatchWriteItem", self._count_batch
                    )
                self._made[service] = made
            return self._made[service]

    def _service_config(self, service: str) -> Config:
        """Unsigned requests only where asked (`signed=False`: a mock in this process, which
        checks no signature; SigV4 is ~15% of such a call's CPU), and never to S3: moto
        answers an anonymous S3 request by the bucket's ACL, which forbids it."""
        if self._signed or service == "s3":
            return self._client_config
        return self._client_config.merge(Config(signature_version=botocore.UNSIGNED))

    def _count(self, event_name: str = "", **_: Any) -> None:
        # event_name is "before-call.<service>.<Operation>"
        name = event_name.partition(".")[2]
        with self._calls_lock:
            self.calls[name] += 1

    def _count_batch(self, params: dict[str, Any], **_: Any) -> None:
        items = sum(len(requests) for requests in params.get("RequestItems", {}).values())
        with self._calls_lock:
            self.batched_writes += items

    def reset_calls(self) -> None:
        with self._calls_lock:
            self.calls.clear()
            self.batched_writes = 0

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking function (a boto3 call, or several) on the pool; works from any
        event loop, so steps running in their own thread can use the World too."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Run a blocking function on the pool without waiting for it (work off the latency
        path, such as writing the compacted log). Raises RuntimeError once closed."""
        return self._executor.submit(fn, *args)

    def close(self, *, wait: bool = False) -> None:
        """Refuse new calls and drop the queued ones; `wait`: until those running return."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
        for client in list(self._made.values()):
            client.close()
