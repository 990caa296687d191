"""`AwsConfig`: where the AWS World's resources are and how to reach them.

Built in code (`AwsConfig(prefix="shop")`) or from the environment (`AwsConfig.from_env()`):

    STEPLANE_WORLD=aws            select this World (by name: adapters/worlds.py)
    AWS_ENDPOINT_URL              e.g. http://127.0.0.1:5000 for a moto server; unset for AWS
    AWS_REGION / AWS_DEFAULT_REGION
    STEPLANE_PREFIX               one name prefix for everything below (default "steplane")
    STEPLANE_EVENTS_TABLE         default "{prefix}-events"
    STEPLANE_RUNS_TABLE           default "{prefix}-runs"
    STEPLANE_HOOKS_TABLE          default "{prefix}-hooks"
    STEPLANE_STREAMS_TABLE        default "{prefix}-streams"
    STEPLANE_COORDINATION_TABLE   default "{prefix}-coordination" (locks, limits, schedules)
    STEPLANE_BUCKET               default "{prefix}-payloads"
    STEPLANE_QUEUE                queue name or URL, default "{prefix}-work"
    STEPLANE_DEAD_LETTER_QUEUE    queue name or URL, default "{prefix}-dead"
    STEPLANE_KMS_KEY              key id, ARN or alias, default "alias/{prefix}"
    STEPLANE_MAX_RECEIVES         must match the queue's redrive policy (default 5)
    STEPLANE_LIST_SHARDS          shards of the run-listing indexes (default 8)
    STEPLANE_HOOK_TOKEN_KEY       HMAC key for hook-token digests, the same in every process of
                                  a deployment (e.g. from Secrets Manager); unset: a KMS-wrapped
                                  key kept in the hooks table (adapters/aws/hooks.py)

Credentials come from boto3's usual chain unless given here (tests pass moto's fakes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from steplane.runtime.world import Limits

DEFAULT_PREFIX = "steplane"
PREFIX_VARIABLE = "STEPLANE_PREFIX"
NAME_VARIABLES = {
    "events_table": "STEPLANE_EVENTS_TABLE",
    "runs_table": "STEPLANE_RUNS_TABLE",
    "hooks_table": "STEPLANE_HOOKS_TABLE",
    "streams_table": "STEPLANE_STREAMS_TABLE",
    "coordination_table": "STEPLANE_COORDINATION_TABLE",
    "bucket": "STEPLANE_BUCKET",
    "queue": "STEPLANE_QUEUE",
    "dead_letter_queue": "STEPLANE_DEAD_LETTER_QUEUE",
    "kms_key": "STEPLANE_KMS_KEY",
}
"""AwsConfig field -> the environment variable naming it (the infra template sets each one)."""
HOOK_TOKEN_KEY_VARIABLE = "STEPLANE_HOOK_TOKEN_KEY"
NUMBER_VARIABLES = {"max_receives": "STEPLANE_MAX_RECEIVES", "list_shards": "STEPLANE_LIST_SHARDS"}


def aws_limits() -> Limits:
    """Limits sized for DynamoDB's 400 KB items: a log item holds at most a batch
    (<= 256 KiB of payload ciphertext plus event metadata); larger payloads go to S3."""
    return Limits(inline_payload_bytes=32 * 1024, max_batch_bytes=256 * 1024)


@dataclass(frozen=True)
class AwsConfig:
    prefix: str = DEFAULT_PREFIX
    region: str = "us-east-1"
    endpoint_url: str | None = None
    events_table: str = ""
    runs_table: str = ""
    hooks_table: str = ""
    streams_table: str = ""
    coordination_table: str = ""
    bucket: str = ""
    queue: str = ""
    dead_letter_queue: str = ""
    kms_key: str = ""
    max_receives: int = 5
    list_shards: int = 8
    """Runs are spread over this many partitions of each listing index (docs/invariants.md #7);
    a listing queries every shard and merges. Changing it needs a re-index of run records."""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    max_attempts: int = 5
    """botocore "standard" retry mode: throttling and 5xx answers retried with backoff."""
    max_threads: int = 16
    """Blocking boto3 calls run on a thread pool of this size (long polls hold a thread)."""
    log_cache_bytes: int = 64 * 1024 * 1024
    """Decoded log batches this process keeps (they never change); a warm read then costs one
    GetItem at the log's end. Boundaries are kept regardless (they are small)."""
    compact_every: int = 500
    """A writer whose batch reaches or crosses a multiple of this many log positions also puts
    the log up to there as one S3 object, so a cold process reads a long log with one
    GetObject and the chain after it (adapters/aws/compaction.py). 0: never."""
    limits: Limits = field(default_factory=aws_limits)
    hook_token_key: str | None = field(default=None, repr=False)
    """HMAC key of hook-token digests (a secret: never in a repr). None: the deployment's
    KMS-wrapped key from the hooks table. Changing it orphans every live hook's token."""

    def __post_init__(self) -> None:
        if not self.prefix or not self.prefix.replace("-", "").isalnum():
            raise ValueError(f"prefix must be letters, digits and dashes, got {self.prefix!r}")
        if self.max_receives < 1:
            raise ValueError(f"max_receives must be at least 1, got {self.max_receives}")
        if self.list_shards < 1:
            raise ValueError(f"list_shards must be at least 1, got {self.list_shards}")
        if self.compact_every < 0:
            raise ValueError(f"compact_every must not be negative, got {self.compact_every}")
        defaults = {
            "events_table": f"{self.prefix}-events",
            "runs_table": f"{self.prefix}-runs",
            "hooks_table": f"{self.prefix}-hooks",
            "streams_table": f"{self.prefix}-streams",
            "coordination_table": f"{self.prefix}-coordination",
            "bucket": f"{self.prefix.lower()}-payloads",
            "queue": f"{self.prefix}-work",
            "dead_letter_queue": f"{self.prefix}-dead",
            "kms_key": f"alias/{self.prefix}",
        }
        for name, default in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, default)

    def with_options(self, **changes: object) -> AwsConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> AwsConfig:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "prefix": env.get(PREFIX_VARIABLE) or DEFAULT_PREFIX,
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            "endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
        }
        for name, variable in NAME_VARIABLES.items():
            if env.get(variable):
                values[name] = env[variable]
        if env.get(HOOK_TOKEN_KEY_VARIABLE):
            values["hook_token_key"] = env[HOOK_TOKEN_KEY_VARIABLE]
        for name, variable in NUMBER_VARIABLES.items():
            if env.get(variable):
                try:
                    values[name] = int(env[variable])
                except ValueError:
                    raise ValueError(
                        f"{variable} must be a whole number, got {env[variable]!r}"
                    ) from None
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
