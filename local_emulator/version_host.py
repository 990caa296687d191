"""One deployment's function host in a process of its own: what a published Lambda version and
its event source mapping are on AWS (docs/deployments.md), for a moto server.

    STEPLANE_STACK=shop AWS_ENDPOINT_URL=http://127.0.0.1:5000 STEPLANE_DEPLOYMENT_ID=v1 \\
    STEPLANE_MODULES=orders PYTHONPATH=/path/to/v1-code \\
        python -m steplane.local_emulator.version_host --deployment v1

It receives from the deployment's own queue (`{work queue}-{deployment}`; with `--main` also
from the main work queue, as the newest version does), hands each batch to the production entry
point, `adapters.lambda_handler.handler`, as the mapping does (records the handler reports in
`batchItemFailures` stay, visible again soon; the rest are deleted) and runs until killed. Its
code is whatever its `PYTHONPATH` holds, so several of these, one per deployment, run several
versions of one module side by side: `steplane dev --reload` starts one per deployment and
the deployment-pinning tests play v1 and v2 with two of them.

With `--label`, every message handled prints one line (`[label] workflow run_...`), so a
terminal shows which deployment ran what.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

VISIBILITY_SECONDS = 30
FUNCTION_TIMEOUT_MS = 60_000
MAX_BATCH = 10
QUEUE_WAIT_SECONDS = 120.0


class LambdaContext:
    """The part of Lambda's context object the handler reads."""

    def __init__(self, name: str) -> None:
        self._deadline = time.monotonic() + FUNCTION_TIMEOUT_MS / 1000
        self.function_name = name
        self.aws_request_id = os.urandom(8).hex()

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def records(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SQS messages as the records of a Lambda SQS event."""
    return [
        {
            "eventSource": "aws:sqs",
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"]},
        }
        for m in messages
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployment", required=True)
    parser.add_argument("--main", action="store_true", help="Also consume the main work queue.")
    parser.add_argument("--label", default="", help="Print one line per message, so tagged.")
    args = parser.parse_args(argv)
    os.environ["STEPLANE_DEPLOYMENT_ID"] = args.deployment

    import boto3

    from steplane.adapters import lambda_handler
    from steplane.adapters.aws.queue import deployment_queue_name

    host = lambda_handler.get_host()
    main_queue = host.world.config.queue  # type: ignore[attr-defined]  # a URL: STEPLANE_STACK
    sqs = boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    own = wait_for_queue(sqs, deployment_queue_name(main_queue, args.deployment))
    urls = [own] + ([main_queue] if args.main else [])
    print(f"serving {args.deployment} from {' '.join(urls)}", flush=True)
    while True:
        for url in urls:
            serve_once(sqs, url, lambda_handler, args.label)


def wait_for_queue(sqs: Any, name: str) -> str:
    """The URL of queue `name`, once the deploy that creates it has run (a host may start
    first, as a version's code can be ready before its stack update is); bounded."""
    deadline = time.monotonic() + QUEUE_WAIT_SECONDS
    while True:
        try:
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except sqs.exceptions.QueueDoesNotExist:
            if time.monotonic() > deadline:
                raise SystemExit(f"no queue {name} after {QUEUE_WAIT_SECONDS:.0f} s") from None
            time.sleep(0.1)


def serve_once(sqs: Any, url: str, lambda_handler: Any, label: str) -> None:
    """One receive from `url` and, when it brought messages, one handler invocation."""
    answer = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=MAX_BATCH,
        WaitTimeSeconds=1,
        VisibilityTimeout=VISIBILITY_SECONDS,
        AttributeNames=["ApproximateReceiveCount"],
    )
    messages = answer.get("Messages", [])
    if not messages:
        return
    if label:
        for m in messages:
            print(f"[{label}] {_describe(m['Body'])}", flush=True)
    try:
        context = LambdaContext(f"steplane-{label or 'version'}")
        result = lambda_handler.handler({"Records": records(messages)}, context)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    except Exception as error:  # the whole invocation failed: every record comes back
        print(f"invocation failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return
    done = [m for m in messages if m["MessageId"] not in failed]
    if done:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    for m in messages:
        if m["MessageId"] in failed:  # retry soon, as the mapping's backoff would
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=1
            )


def _describe(body: str) -> str:
    import json

    try:
        message = json.loads(body)
        code = message.get("workflow") or message.get("step")
        return f"{message.get('kind')} {message.get('run_id')} ({code})"
    except (ValueError, AttributeError):
        return "malformed message"


if __name__ == "__main__":
    main()
