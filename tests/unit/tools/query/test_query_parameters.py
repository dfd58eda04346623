"""`pipeline query -p`: parameters are checked against the SQL's placeholders first, each mistake in one line, then
sent to Athena as server-side execution parameters."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pyathena.formatter import DefaultParameterFormatter

from pipeline.tools.cli.main import cli
from pipeline.tools.local.adapt.athena_execution_parameters import ParameterCountError, bind, placeholders
from pipeline.tools.query import QueryParameterError, parse_parameters, to_execution_parameters


def test_parameters_are_name_value_pairs() -> None:
    assert parse_parameters(["id=ORD-1", "note=a=b", "empty="]) == {"id": "ORD-1", "note": "a=b", "empty": ""}
    for bad in ("id", "=x", " =x"):
        with pytest.raises(QueryParameterError, match="NAME=VALUE"):
            parse_parameters([bad])


@pytest.mark.parametrize(
    ("sql", "parameters", "reason"),
    [
        ("SELECT * FROM orders WHERE order_id LIKE 'ORD-%' AND n = %(id)s", {"id": "x"}, "write a literal % as %%"),
        ("SELECT 100 % 7 WHERE 1 = %(one)s", {"one": "1"}, "at character 12"),
        ("SELECT %(id)d", {"id": "1"}, "not a %(name)s placeholder"),
        ("SELECT %(id", {"id": "1"}, "not a %(name)s placeholder"),
        ("SELECT %(id)s, %(other)s", {"idd": "1"}, "uses %(id)s but no -p id=VALUE was given (missing: id, other)"),
        ("SELECT %(id)s", {"ID": "1"}, "given: ID"),
    ],
)
def test_a_mistake_is_named_before_pyformat_would_trip_on_it(sql: str, parameters: dict[str, str], reason: str) -> None:
    with pytest.raises(QueryParameterError) as refused:
        to_execution_parameters(sql, parameters)
    assert reason in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises((KeyError, ValueError, TypeError)):  # what pyathena raised from the CLI before the check
        DefaultParameterFormatter().format(sql, parameters)


def test_what_passes_the_check_binds_to_what_pyathena_formats() -> None:
    """The independent oracle: pyathena's own pyformat formatter, which pastes each quoted value into the text.
    The SQL we send has a `?` per placeholder and the literals beside it; bound in order (as Athena binds
    `ExecutionParameters`, and the local cloud's adaptation does), it is exactly pyathena's text."""
    sql = "SELECT * FROM orders WHERE order_id = %(id)s AND note LIKE 'a%%' AND status = %(id)s AND n > %(n)s"
    values = {"id": "it's", "n": 5}
    sent, parameters = to_execution_parameters(sql, values)
    assert sent == "SELECT * FROM orders WHERE order_id = ? AND note LIKE 'a%' AND status = ? AND n > ?"
    assert parameters == ["'it''s'", "'it''s'", "5"]
    assert bind(sent, parameters) == DefaultParameterFormatter().format(sql, values)


def test_placeholders_inside_literals_names_and_comments_are_text() -> None:
    sql = "SELECT '?', \"a?\", `b?` -- ?\n, /* ? */ ? FROM t WHERE s = 'it''s ?' AND x = ?"
    assert [sql[i] for i in placeholders(sql)] == ["?", "?"]
    assert bind(sql, ["1", "'x'"]).endswith("/* ? */ 1 FROM t WHERE s = 'it''s ?' AND x = 'x'")
    with pytest.raises(ParameterCountError, match="expected 2 but found 1"):
        bind(sql, ["1"])


@pytest.mark.parametrize("argument", ["id", "=ORD-1"])
def test_the_cli_answers_a_malformed_parameter_in_one_line(argument: str) -> None:
    result = CliRunner().invoke(cli, ["query", "SELECT %(id)s", "-p", argument])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: a query parameter is NAME=VALUE"), result.output
