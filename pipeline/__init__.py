"""Event-driven CSV pipeline: S3 -> SNS -> Lambda -> DynamoDB + partitioned CSV -> Athena.

The version has one source, pyproject.toml: `importlib.metadata.version("s3-csv-pipeline")`, `pipeline --version`.
"""
