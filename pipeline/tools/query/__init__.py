"""SQL over the pipeline's results through Athena (pyathena), locally and on AWS alike."""

from pipeline.tools.query.athena import (
    QueryError,
    QueryParameterError,
    QueryResult,
    parse_parameters,
    run_query,
    to_execution_parameters,
)

__all__ = [
    "QueryError",
    "QueryParameterError",
    "QueryResult",
    "parse_parameters",
    "run_query",
    "to_execution_parameters",
]
