"""One chaos host process: plays Lambda's SQS event source mapping for the production entry
point, `adapters.lambda_handler.handler`, against a moto server.

    python -m bench.chaos.host --fault-rate 0.1 --duplicate --seed 7

Each receive becomes one SQS batch event (the shape Lambda sends: messageId, receiptHandle,
body, attributes.ApproximateReceiveCount); records the handler reports in
`batchItemFailures` stay in the queue (visible again after a short backoff), the others are
deleted, as the mapping does with ReportBatchItemFailures. With `--duplicate`, every original
message is first copied back to the queue, so a second host may process it at the same time
(SQS standard queues deliver at least once). Faults go only into the World's own clients,
never into this poller's.
"""

from __future__ import annotations

import argparse
import os
import sys

import boto3

from steplane.local_emulator.version_host import LambdaContext, records

from .faults import FaultInjector

COPY_ATTRIBUTE = "chaos-copy"
VISIBILITY_SECONDS = 8
"""How long a received message stays invisible: a killed host's messages come back after it."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--duplicate", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults-file", default="")
    args = parser.parse_args(argv)

    from adapters import lambda_handler

    host = lambda_handler.get_host()
    if args.fault_rate > 0:

        def record(kind: str, operation: str) -> None:
            if args.faults_file:
                with open(args.faults_file, "a", encoding="utf-8") as file:
                    file.write(f"{kind} {operation}\n")

        aws = host.world.aws  # type: ignore[attr-defined]
        FaultInjector(args.fault_rate, args.seed, record).install(
            [aws.dynamodb, aws.s3, aws.sqs, aws.kms]
        )
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    queue_url = host.world.config.queue  # type: ignore[attr-defined]  # a URL: STEPLANE_STACK
    print("ready", flush=True)
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=VISIBILITY_SECONDS,
            AttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=[COPY_ATTRIBUTE],
        )
        messages = answer.get("Messages", [])
        if not messages:
            continue
        if args.duplicate:
            for m in messages:
                if COPY_ATTRIBUTE not in (m.get("MessageAttributes") or {}):
                    copy = {COPY_ATTRIBUTE: {"DataType": "String", "StringValue": "1"}}
                    sqs.send_message(
                        QueueUrl=queue_url, MessageBody=m["Body"], MessageAttributes=copy
                    )
        try:
            result = lambda_handler.handler(
                {"Records": records(messages)}, LambdaContext("steplane-chaos")
            )
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception as error:  # the whole invocation failed: every record comes back
            print(f"invocation failed: {type(error).__name__}: {error}", file=sys.stderr)
            continue
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + 10])
            ]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        for m in messages:
            if m["MessageId"] in failed:  # retry soon, as the mapping's backoff would
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=1
                )


if __name__ == "__main__":
    main()
