"""The AWS World: DynamoDB event log, run records, hook tokens and streams; S3 payloads; an SQS
work queue with a dead-letter queue; KMS data keys. One small module per store, assembled in
`world.py`; `config.py` says how it is configured, `resources.py` creates what it needs.
"""

from .config import AwsConfig
from .resources import create_resources
from .world import AwsWorld, world_from_env

__all__ = ["AwsConfig", "AwsWorld", "create_resources", "world_from_env"]
