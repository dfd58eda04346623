"""Event-driven CSV pipeline: S3 -> SNS -> Lambda -> DynamoDB + partitioned CSV -> Athena."""

__version__ = "0.1.0"
