"""Hive's own SerDes as test oracles (LazySimpleSerDe, ParquetHiveSerDe): the Java classes, through pyspark.

pyspark's wheel ships Hive 2.3's jars (`hive-serde`, `hive-exec`) and Hadoop's `TextInputFormat`. Each read
creates a Hive external table from the very Glue `TableInput` the pipeline deploys (columns, partition keys,
input/output formats, SerDe class and every SerDe parameter), adds the partitions the output keys name, and
selects every row; Spark plans it as a `Scan hive` of that SerDe (checked), so the bytes are cut into records
by Hadoop's LineRecordReader and into values by LazySimpleSerDe, exactly as Hive would. A Parquet table
(`"x-format": "parquet"`) is read by Hive's `MapredParquetInputFormat` and `ParquetHiveSerDe`
(`spark.sql.hive.convertMetastoreParquet` off, so Spark does not swap in its own Parquet reader).

One JVM serves the whole test session (about 10 s to start); `pip install -e '.[conformance]'` installs
pyspark, and Java 17+ must be on PATH.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings
from datetime import date, datetime
from pathlib import Path
from typing import Any

_session: Any = None
_tables = 0


def require() -> None:
    """Skip when pyspark or Java is missing, except under CI (`.ci/run` installs both), where that fails."""
    import pytest

    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark (pip install -e '.[conformance]')")
    if shutil.which("java") is None:
        missing.append("java 17 or later on PATH")
    if missing:
        if os.environ.get("CI"):
            raise RuntimeError(f"the Hive oracle needs {' and '.join(missing)}")
        pytest.skip(f"the Hive oracle needs {' and '.join(missing)}")


def _literal(text: str) -> str:
    """A Spark SQL string literal holding exactly ``text`` (every character as a \\uXXXX escape)."""
    return "'" + "".join(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else ch for ch in text) + "'"


def session() -> Any:
    """The shared SparkSession with Hive support (embedded Derby metastore in a temporary folder)."""
    global _session
    if _session is None:
        require()
        # pyspark 4.3 warns that it does not support pandas 3 yet; this oracle uses no pandas
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        from pyspark.sql import SparkSession

        home = Path(tempfile.mkdtemp(prefix="conformance-hive-"))
        java = f"-Dderby.system.home={home / 'derby'} -Duser.timezone=UTC"
        _session = (
            SparkSession.builder.master("local[1]")
            .appName("conformance-hive-serde")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "1")
            .config("spark.driver.memory", "1g")
            .config("spark.driver.extraJavaOptions", java)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.warehouse.dir", str(home / "warehouse"))
            .config("spark.sql.hive.convertMetastoreParquet", "false")  # Hive's ParquetHiveSerDe, not Spark's reader
            .config("javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={home / 'metastore'};create=true")
            .enableHiveSupport()
            .getOrCreate()
        )
        _session.sparkContext.setLogLevel("ERROR")

        def stop() -> None:
            _session.stop()
            shutil.rmtree(home, ignore_errors=True)

        atexit.register(stop)
    return _session


def _ddl(name: str, table_input: dict[str, Any], location: Path) -> str:
    storage = table_input["StorageDescriptor"]
    columns = ", ".join(f"`{c['Name']}` {c['Type']}" for c in storage["Columns"])
    partitions = ", ".join(f"`{p['Name']}` {p['Type']}" for p in table_input.get("PartitionKeys", []))
    serde = storage["SerdeInfo"]
    properties = ", ".join(f"{_literal(k)} = {_literal(v)}" for k, v in serde["Parameters"].items())
    return (
        f"CREATE EXTERNAL TABLE {name} ({columns})"
        + (f" PARTITIONED BY ({partitions})" if partitions else "")
        + f" ROW FORMAT SERDE {_literal(serde['SerializationLibrary'])} WITH SERDEPROPERTIES ({properties})"
        + f" STORED AS INPUTFORMAT {_literal(storage['InputFormat'])} OUTPUTFORMAT {_literal(storage['OutputFormat'])}"
        + f" LOCATION {_literal('file://' + str(location))}"
    )


def _projection(storage: dict[str, Any], partition_keys: list[dict[str, str]]) -> str:
    """Every column, timestamps and dates as text so that Python never re-interprets them."""
    out = []
    for column in storage["Columns"]:
        name, kind = f"`{column['Name']}`", column["Type"]
        if kind == "timestamp":
            out.append(f"date_format({name}, 'yyyy-MM-dd HH:mm:ss.SSSSSS') AS {name}")
        elif kind == "date":
            out.append(f"CAST({name} AS STRING) AS {name}")
        else:
            out.append(name)
    out.extend(f"`{p['Name']}`" for p in partition_keys)
    return ", ".join(out)


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "timestamp":
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")
    if kind == "date":
        return date.fromisoformat(value)
    return value


def read_table(table_input: dict[str, Any], files: dict[str, bytes]) -> list[dict[str, Any]]:
    """Every row of ``files`` (S3 key -> body, keys relative to the table's location) as Hive reads them."""
    global _tables
    spark = session()
    _tables += 1
    name = f"t{_tables}"
    root = Path(tempfile.mkdtemp(prefix=f"conformance-{name}-"))
    try:
        for key, body in files.items():
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        spark.sql(_ddl(name, table_input, root))
        stored = {r["col_name"]: r["data_type"] for r in spark.sql(f"DESCRIBE FORMATTED {name}").collect()}
        expected = table_input["StorageDescriptor"]["SerdeInfo"]["Parameters"]
        shown = stored["Storage Properties"]
        for key, value in expected.items():  # the SerDe got exactly the Glue parameters
            assert f"{key}={value}" in shown, (key, value, shown)
        partition_keys = table_input.get("PartitionKeys", [])
        folders = sorted({str(Path(k).parent) for k in files if "=" in str(Path(k).parent)})
        for folder in folders:
            spec = ", ".join(
                f"`{p.split('=', 1)[0]}` = {_literal(p.split('=', 1)[1])}" for p in folder.split("/") if "=" in p
            )
            spark.sql(f"ALTER TABLE {name} ADD PARTITION ({spec}) LOCATION {_literal('file://' + str(root / folder))}")
        frame = spark.sql(f"SELECT {_projection(table_input['StorageDescriptor'], partition_keys)} FROM {name}")
        plan = frame._jdf.queryExecution().executedPlan().toString()
        library = table_input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
        assert "Scan hive" in plan and library in plan, plan  # Hive's SerDe reads it, not a Spark reader
        kinds = {c["Name"]: c["Type"] for c in table_input["StorageDescriptor"]["Columns"]}
        rows = [{k: _value(v, kinds.get(k, "string")) for k, v in row.asDict().items()} for row in frame.collect()]
        spark.sql(f"DROP TABLE {name}")
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)
