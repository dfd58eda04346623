"""State machines authored in Python with the AWS Step Functions Data Science SDK (the optional `sdk` extra)."""
