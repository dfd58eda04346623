"""AWS list prices used by `pipeline cost`: us-east-1, on-demand, x86 Lambda, no free tier, in USD.

Check them against the pricing pages before quoting a figure; update PRICES_DATE when you do.
"""

PRICES_DATE = "2025-07-01"
REGION = "us-east-1"

PRICES: dict[str, float] = {
    # AWS Lambda (x86): duration and requests
    "lambda_gb_second": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    # AWS Step Functions, standard workflows
    "sfn_state_transition": 0.025 / 1e3,
    # Amazon SNS standard topics: one request per publish call (PublishBatch is one call), per 64 KB chunk;
    # deliveries to SQS and Lambda are free
    "sns_request": 0.50 / 1e6,
    # Amazon SQS standard queues: per request (send, receive, delete, change visibility), per 64 KB chunk
    "sqs_request": 0.40 / 1e6,
    # Amazon DynamoDB on-demand, standard table class (price since November 2024)
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    # Amazon S3 Standard requests
    "s3_put_request": 0.005 / 1e3,  # PUT, COPY, POST, LIST
    "s3_get_request": 0.0004 / 1e3,  # GET, HEAD, SELECT
    # Amazon Athena: per byte scanned, at least 10 MB per query
    "athena_byte_scanned": 5.0 / 1e12,
    "athena_min_bytes_per_query": 10 * 1e6,
    # AWS Glue Data Catalog requests
    "glue_request": 1.0 / 1e6,
}
