"""SQL over the pipeline's results through Athena (pyathena), locally and on AWS alike."""

from pipeline.query.athena import QueryError, QueryResult, run_query

__all__ = ["QueryError", "QueryResult", "run_query"]
