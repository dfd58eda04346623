"""Where validated rows go: partitioned delimited text in S3, items in DynamoDB, rejects beside them."""
