"""`pipeline query -p`: parameters are checked against the SQL's placeholders first, each mistake in one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pyathena.formatter import DefaultParameterFormatter

from pipeline.tools.cli.main import cli
from pipeline.tools.query import QueryParameterError, check_parameters, parse_parameters


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
        check_parameters(sql, parameters)
    assert reason in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises((KeyError, ValueError, TypeError)):  # what pyathena raised from the CLI before the check
        DefaultParameterFormatter().format(sql, parameters)


def test_what_passes_the_check_is_what_pyathena_formats() -> None:
    """The independent oracle: pyathena's own formatter quotes each value and pastes it into the text."""
    sql = "SELECT * FROM orders WHERE order_id = %(id)s AND note LIKE 'a%%' AND status = %(id)s"
    check_parameters(sql, {"id": "it's"})
    formatted = DefaultParameterFormatter().format(sql, {"id": "it's"})
    assert formatted == "SELECT * FROM orders WHERE order_id = 'it''s' AND note LIKE 'a%' AND status = 'it''s'"


@pytest.mark.parametrize("argument", ["id", "=ORD-1"])
def test_the_cli_answers_a_malformed_parameter_in_one_line(argument: str) -> None:
    result = CliRunner().invoke(cli, ["query", "SELECT %(id)s", "-p", argument])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: a query parameter is NAME=VALUE"), result.output
