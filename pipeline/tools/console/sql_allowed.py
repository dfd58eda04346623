"""What the console's read-only query box allows: functions by name, and syntax by sqlglot node type.

Both lists are allow-lists: a function or a piece of syntax missing here is refused, whatever it does. Function
names are the names sqlglot's Athena generator writes (the text the engine receives), in lower case; none of
them reads or writes files, settings or anything outside the query, in Trino or in DuckDB.
"""

from __future__ import annotations

from sqlglot import exp

AGGREGATE = {
    "any_value", "approx_distinct", "approx_most_frequent", "approx_percentile", "arbitrary", "array_agg", "avg",
    "bitwise_and_agg", "bitwise_or_agg", "bool_and", "bool_or", "checksum", "corr", "count", "count_if",
    "covar_pop", "covar_samp", "every", "geometric_mean", "histogram", "kurtosis", "listagg", "map_agg",
    "map_union", "max", "max_by", "min", "min_by", "multimap_agg", "numeric_histogram", "regr_intercept",
    "regr_slope", "skewness", "stddev", "stddev_pop", "stddev_samp", "sum", "var_pop", "var_samp", "variance",
}  # fmt: skip
WINDOW = {
    "cume_dist", "dense_rank", "first_value", "lag", "last_value", "lead", "nth_value", "ntile", "percent_rank",
    "rank", "row_number",
}  # fmt: skip
CONDITIONAL = {"case", "cast", "coalesce", "exists", "greatest", "if", "least", "nullif", "try", "try_cast", "typeof"}
MATH = {
    "abs", "acos", "asin", "atan", "atan2", "bit_count", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor",
    "cbrt", "ceil", "ceiling", "cos", "cosh", "degrees", "e", "exp", "floor", "from_base", "infinity", "is_finite",
    "is_infinite", "is_nan", "ln", "log", "log10", "log2", "mod", "nan", "pi", "pow", "power", "radians", "rand",
    "random", "round", "sign", "sin", "sinh", "sqrt", "tan", "tanh", "to_base", "truncate", "width_bucket",
}  # fmt: skip
STRING = {
    "chr", "codepoint", "concat", "concat_ws", "crc32", "format", "format_number", "from_base64", "from_base64url",
    "from_hex", "from_utf8", "hamming_distance", "length", "levenshtein_distance", "lower", "lpad", "ltrim",
    "luhn_check", "md5", "normalize", "position", "regexp_count", "regexp_extract", "regexp_extract_all",
    "regexp_like", "regexp_position", "regexp_replace", "regexp_split", "replace", "reverse", "rpad", "rtrim",
    "sha1", "sha256", "sha512", "soundex", "split", "split_part", "split_to_map", "starts_with", "strpos", "substr",
    "substring", "to_base64", "to_base64url", "to_hex", "to_utf8", "translate", "trim", "upper", "url_decode",
    "url_encode", "url_extract_fragment", "url_extract_host", "url_extract_parameter", "url_extract_path",
    "url_extract_port", "url_extract_protocol", "url_extract_query", "word_stem", "xxhash64",
}  # fmt: skip
DATETIME = {
    "at_timezone", "current_date", "current_time", "current_timestamp", "current_timezone", "date", "date_add",
    "date_diff", "date_format", "date_parse", "date_trunc", "day", "day_of_month", "day_of_week", "day_of_year",
    "dow", "doy", "extract", "format_datetime", "from_iso8601_date", "from_iso8601_timestamp", "from_unixtime",
    "hour", "human_readable_seconds", "last_day_of_month", "localtime", "localtimestamp", "millisecond", "minute",
    "month", "now", "parse_datetime", "parse_duration", "quarter", "second", "timezone_hour", "timezone_minute",
    "to_iso8601", "to_milliseconds", "to_unixtime", "week", "week_of_year", "with_timezone", "year",
    "year_of_week", "yow",
}  # fmt: skip
COLLECTION = {
    "all_match", "any_match", "array", "array_distinct", "array_except", "array_intersect", "array_join",
    "array_max", "array_min", "array_position", "array_remove", "array_sort", "array_union", "arrays_overlap",
    "cardinality", "contains", "element_at", "filter", "flatten", "map", "map_concat", "map_entries", "map_filter",
    "map_from_entries", "map_keys", "map_values", "ngrams", "none_match", "reduce", "repeat", "row", "sequence",
    "shuffle", "slice", "transform", "transform_keys", "transform_values", "trim_array", "unnest", "zip",
    "zip_with",
}  # fmt: skip
JSON = {
    "is_json_scalar", "json_array_contains", "json_array_get", "json_array_length", "json_exists", "json_extract",
    "json_extract_scalar", "json_format", "json_parse", "json_query", "json_size", "json_value",
}  # fmt: skip

FUNCTIONS = frozenset(AGGREGATE | WINDOW | CONDITIONAL | MATH | STRING | DATETIME | COLLECTION | JSON | {"uuid"})

# Syntax that only computes: the shape of a query, names, literals, operators, types, windows and lambdas.
SYNTAX: tuple[type[exp.Expression], ...] = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values, exp.Subquery, exp.With, exp.CTE,
    exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset,
    exp.Fetch, exp.LimitOptions, exp.Distinct, exp.Rollup, exp.Cube, exp.GroupingSets, exp.Lateral,
    exp.Table, exp.TableAlias, exp.Alias, exp.Column, exp.Identifier, exp.Star, exp.Dot, exp.Bracket,
    exp.Literal, exp.Boolean, exp.Null, exp.Var, exp.Tuple, exp.Paren, exp.Interval, exp.DataType,
    exp.DataTypeParam, exp.ColumnDef, exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.IgnoreNulls,
    exp.RespectNulls, exp.Lambda, exp.AtTimeZone, exp.JSONPath, exp.JSONPathKey, exp.JSONPathRoot,
    exp.JSONPathSubscript, exp.JSONPathWildcard, exp.Slice,
    exp.And, exp.Or, exp.Xor, exp.Not, exp.Neg, exp.BitwiseNot,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is, exp.In,
    exp.Between, exp.Like, exp.ILike, exp.SimilarTo, exp.Escape, exp.Any, exp.All,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.DPipe,
    exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseLeftShift, exp.BitwiseRightShift,
)  # fmt: skip

# Keywords (by sqlglot token type) that the generated text writes before a parenthesis without calling anything.
PAREN_KEYWORDS = frozenset({
    "ALIAS", "ALL", "AND", "ANY", "BETWEEN", "BY", "CASE", "CUBE", "DISTINCT", "ELSE", "EXCEPT", "FROM",
    "GROUPING_SETS", "HAVING", "ILIKE", "IN", "INTERSECT", "IS", "JOIN", "LATERAL", "LIKE", "LIMIT", "NOT", "OFFSET",
    "ON", "OR", "OVER", "ROLLUP", "SELECT", "SOME", "THEN", "UNION", "USING", "VALUES", "WHEN", "WHERE", "WITH",
})  # fmt: skip
