"""SQL over the pipeline's results through Athena (pyathena), locally and on AWS alike."""

from pipeline.tools.query.athena import (
    QueryError,
    QueryParameterError,
    QueryResult,
    check_parameters,
    parse_parameters,
    run_query,
)

__all__ = ["QueryError", "QueryParameterError", "QueryResult", "check_parameters", "parse_parameters", "run_query"]
