"""Query results as a pandas DataFrame or an Arrow table, typed, with NULL and '' kept apart, on both clouds.

The query runs through pyathena (as `pipeline query`); its result file, which Athena writes with every value
quoted and NULL as an empty unquoted field, is then read with pyarrow's CSV reader, which tells the two apart
(pyathena's `PandasCursor` and awswrangler read both as missing). Columns are typed from Athena's column
info (the Glue table, so the dataset's contract): integers nullable `Int64`, doubles `Float64`, booleans
`boolean`, dates `datetime.date`, timestamps `datetime64[us]`, text `string`. Text columns of the queried
datasets are decoded from the output format's encoded form (docs/output-format.md) unless ``decode=False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pipeline.tools.query.athena import QueryError, to_execution_parameters

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

INTEGER_TYPES = frozenset({"tinyint", "smallint", "integer", "int", "bigint"})
DOUBLE_TYPES = frozenset({"double", "float", "real"})
TEXT_TYPES = frozenset({"varchar", "string", "char"})


@dataclass(frozen=True)
class Executed:
    """A finished query: its id, result file and column (name, Athena type) pairs."""

    query_id: str
    output_location: str
    columns: list[tuple[str, str]]


def _arrow_type(athena_type: str) -> pa.DataType:
    import pyarrow as pa

    base = athena_type.lower().split("(")[0].strip()
    if base in INTEGER_TYPES:
        return pa.int64()
    if base in DOUBLE_TYPES:
        return pa.float64()
    if base == "boolean":
        return pa.bool_()
    if base == "date":
        return pa.date32()
    if base == "timestamp":
        return pa.timestamp("us")
    return pa.string()  # text, decimal, time, zoned timestamps, arrays, maps, rows: Athena's text of the value


def read_result_csv(body: Any, columns: list[tuple[str, str]]) -> pa.Table:
    """Athena's result file (header row, values quoted, NULL an empty unquoted field) as a typed Arrow table."""
    import pyarrow as pa
    from pyarrow import csv

    if not columns:
        return pa.table({})
    positions = [f"c{i}" for i in range(len(columns))]  # result names may repeat (`SELECT a, a`)
    table = csv.read_csv(
        body,
        read_options=csv.ReadOptions(column_names=positions, skip_rows_after_names=1),
        parse_options=csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=csv.ConvertOptions(
            column_types={p: _arrow_type(t) for p, (_, t) in zip(positions, columns, strict=True)},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # `""` is an empty string, an unquoted empty field is NULL
            true_values=["true"],
            false_values=["false"],
        ),
    )
    return table.rename_columns([name for name, _ in columns])


def datasets_in(sql: str) -> list[str]:
    """The tables ``sql`` reads, as sqlglot parses it as Athena SQL (none when it cannot)."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = sqlglot.parse(sql, read="athena")
    except sqlglot.errors.ParseError:
        return []
    return sorted({t.name for s in statements if s is not None for t in s.find_all(exp.Table) if t.name})


def text_columns(datasets: Iterable[str]) -> set[str]:
    """The string columns of the named text datasets' contracts (unknown names and Parquet datasets are skipped)."""
    from pipeline.runtime.contract import ContractError, load_contracts

    try:
        contracts = load_contracts()
    except ContractError:
        return set()
    by_table = {c.table_name: c for c in contracts.values()}
    names: set[str] = set()
    for dataset in datasets:
        contract = contracts.get(dataset) or by_table.get(dataset.lower())
        if contract is not None and contract.output_format == "text":  # Parquet holds text exactly: no encoding
            names.update(c.name for c in contract.columns if c.kind == "string")
    return names


def decode_columns(table: pa.Table, columns: list[tuple[str, str]], names: set[str]) -> pa.Table:
    """``table`` with each text column named in ``names`` decoded (`text_format.decode_texts`)."""
    from pipeline.runtime.sinks.text_format import decode_texts

    for i, (name, athena_type) in enumerate(columns):
        if name in names and athena_type.lower() in TEXT_TYPES:
            table = table.set_column(i, table.schema.field(i), decode_texts(table.column(i)))
    return table


def _outputs(stage: str | None) -> dict[str, str]:
    from pipeline.tools.cli import ops
    from pipeline.tools.cli.target import resolve

    return ops.outputs(resolve(stage))


def execute(sql: str, outs: Mapping[str, str], params: Mapping[str, Any] | None = None) -> Executed:
    """Run ``sql`` in the stage's workgroup and database; `QueryError` with Athena's reason when it fails."""
    from pyathena import connect
    from pyathena.error import DatabaseError, OperationalError, ProgrammingError

    from pipeline.runtime import aws

    sql, bound = to_execution_parameters(sql, params) if params else (sql, [])
    connection = connect(
        s3_staging_dir=outs["AthenaResultLocation"],
        work_group=outs["AthenaWorkGroup"],
        schema_name=outs["GlueDatabase"],
        region_name=aws.region(),
        poll_interval=0.2,
    )
    try:
        cursor = connection.cursor()
        if bound:
            cursor.execute(sql, bound, paramstyle="qmark")
        else:
            cursor.execute(sql)
        columns = [(str(d[0]), str(d[1])) for d in cursor.description or []]
        return Executed(cursor.query_id or "", cursor.output_location or "", columns)
    except (DatabaseError, OperationalError, ProgrammingError) as exc:
        raise QueryError(str(exc)) from exc
    finally:
        connection.close()


def query_arrow(
    sql: str,
    *,
    stage: str | None = None,
    params: Mapping[str, Any] | None = None,
    datasets: Iterable[str] | None = None,
    decode: bool = True,
) -> pa.Table:
    """Run ``sql`` on the local cloud (``stage`` None) or an AWS stage; the result as a typed Arrow table.

    ``params`` fill ``%(name)s`` placeholders as in `pipeline query -p` (sent as server-side execution
    parameters, bound by Athena). ``datasets`` names the datasets whose text columns are decoded (default: the
    tables the SQL reads).
    """
    outs = _outputs(stage)
    executed = execute(sql, outs, params)
    if not executed.columns:
        import pyarrow as pa

        return pa.table({})
    from pipeline.runtime import aws

    location = urlparse(executed.output_location)
    body = aws.client("s3").get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"]
    try:
        table = read_result_csv(body, executed.columns)
    finally:
        body.close()
    if decode:
        names = text_columns(datasets_in(sql) if datasets is None else datasets)
        table = decode_columns(table, executed.columns, names)
    return table


def to_frame(table: pa.Table) -> pd.DataFrame:
    """pandas' nullable dtypes for an Arrow result: Int64, Float64, boolean, string; dates as `datetime.date`."""
    import pandas as pd
    import pyarrow as pa

    mapping = {pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype(), pa.bool_(): pd.BooleanDtype(),
               pa.string(): pd.StringDtype()}  # fmt: skip
    return table.to_pandas(types_mapper=mapping.get, date_as_object=True)


def query_df(
    sql: str,
    *,
    stage: str | None = None,
    params: Mapping[str, Any] | None = None,
    datasets: Iterable[str] | None = None,
    decode: bool = True,
) -> pd.DataFrame:
    """`query_arrow` as a pandas DataFrame (`to_frame`): NULL is `<NA>`, an empty string stays ``""``."""
    return to_frame(query_arrow(sql, stage=stage, params=params, datasets=datasets, decode=decode))
