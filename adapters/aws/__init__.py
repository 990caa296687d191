"""The AWS World: DynamoDB event log, run records, hook tokens and streams; S3 payloads; an SQS
work queue with a dead-letter queue; KMS data keys. One small module per store, assembled in
`world.py`; `config.py` says how it is configured. The resources are the infra template's.
"""

from .config import AwsConfig
from .world import AwsWorld, world_from_env

__all__ = ["AwsConfig", "AwsWorld", "world_from_env"]
