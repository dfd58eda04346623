"""Keep the console's SQL box read-only by construction: parse, check against allow-lists, run sqlglot's own text.

A statement is parsed by sqlglot as Athena (Trino) SQL and as DuckDB SQL (the local engine); both readings must
agree token for token, be one query, and use only allowed syntax, allowed functions and the stage's own tables.
What runs is not the text that was typed but the text sqlglot generates from the checked tree, and that text is
checked again as it will run: no comment, escape or quoting trick of either engine survives into it.
docs/console.md lists what is allowed.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cached_property

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from pipeline.runtime.errors import TerminalError
from pipeline.tools.console.sql_allowed import FUNCTIONS, PAREN_KEYWORDS, SYNTAX

ENGINE = "athena"  # what the tree is parsed as and generated for; the local cloud runs that text on DuckDB
LOCAL = "duckdb"
LEXERS = ("trino", "duckdb")  # Athena's tokenizer for queries is Trino's
MAX_SQL_CHARS = 100_000
KINDS = (
    "SELECT, WITH ... SELECT, VALUES, TABLE, EXPLAIN (without ANALYZE), SHOW TABLES, SHOW COLUMNS IN <table>, "
    "SHOW PARTITIONS <table> and DESCRIBE <table>"
)
QUERY_STARTS = {"SELECT", "WITH", "VALUES", "TABLE", "("}
_NAME = r"(?:[A-Za-z_]\w*|\"[A-Za-z_]\w*\")"
META = re.compile(
    rf"\s*(?:(?P<tables>SHOW\s+TABLES)|(?P<verb>SHOW\s+COLUMNS\s+(?:FROM|IN)|SHOW\s+PARTITIONS|DESCRIBE|DESC)\s+"
    rf"(?:(?P<db>{_NAME})\s*\.\s*)?(?P<table>{_NAME}))\s*;?\s*",
    re.IGNORECASE | re.ASCII,
)
_PLAIN_NAME = re.compile(r"[A-Za-z_]\w*", re.ASCII)
_WORDS = re.compile(r"\w+(?: \w+)*")
_FUNCTION_NAME = re.compile(r'\s*("?)([A-Za-z_]\w*)\1', re.ASCII)
_MEANINGFUL = {t for t in TokenType if t.name.endswith("STRING")} | {
    TokenType.IDENTIFIER,
    TokenType.NUMBER,
    TokenType.SEMICOLON,
}
_TYPES = {t.name for t in exp.DataType.Type} | {"ROW"}
_CONTROLS_ALLOWED = {"\t", "\n", "\r"}
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_SPOKEN = {"athena": "Athena (Trino)", "trino": "Athena (Trino)", "duckdb": "DuckDB"}
_DIFFERENT = "Athena (Trino) and DuckDB read this statement differently"

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # it warns on every statement it parses as a bare Command


class NotReadOnlyError(TerminalError):
    """The statement is not one read-only query the console can prove safe; the message says why."""


@dataclass
class Catalog:
    """The tables a console query may read: those of the stage's Glue database, listed when first needed."""

    database: str
    list_tables: Callable[[], Collection[str]]

    @cached_property
    def tables(self) -> frozenset[str]:
        return frozenset(name.lower() for name in self.list_tables())


@dataclass(frozen=True)
class CheckedStatement:
    """The text to run (generated from the checked tree, never the typed text) and what kind of statement it is."""

    sql: str
    kind: str  # "query", "explain", "show" or "describe"
    tables: tuple[str, ...]


def read_only_statement(sql: str, catalog: Catalog, *, row_cap: int | None = None) -> CheckedStatement:
    """The statement as it will run if ``sql`` is one read-only statement over ``catalog``; `NotReadOnlyError` else.

    ``row_cap`` puts a `LIMIT` of that many rows on a top-level query that asks for more, so the engine stops early.
    """
    try:
        return _read_only_statement(sql, catalog, row_cap)
    except RecursionError as exc:  # sqlglot parses and writes trees recursively
        raise NotReadOnlyError("the statement is nested too deeply for the console's parser (35 levels or so)") from exc


def _read_only_statement(sql: str, catalog: Catalog, row_cap: int | None) -> CheckedStatement:
    if not isinstance(sql, str):
        raise NotReadOnlyError("send the query as a string")
    _check_characters(sql)
    tokens = _tokens(sql, LOCAL)
    if all(t.token_type == TokenType.SEMICOLON for t in tokens):
        raise NotReadOnlyError("the query is empty")
    first = tokens[0].text.upper()
    if META.fullmatch(sql):
        return _meta(sql, catalog)
    if first in ("SHOW", "DESCRIBE", "DESC"):
        raise NotReadOnlyError(f"the console runs these read-only statements: {KINDS} (without comments)")
    if first == "EXPLAIN":
        return _explain(sql, tokens[0], catalog)
    if first not in QUERY_STARTS:
        raise NotReadOnlyError(f"the console runs read-only statements only ({KINDS}), not {first[:40]}")
    tree = _checked_query(sql, catalog)
    if row_cap is not None:
        _cap(tree, row_cap)
    text = _generate(tree)
    ran = _checked_query(text, catalog)  # what runs is checked as it runs, not as it was typed
    _check_calls(text, ran)
    return CheckedStatement(text, "query", _tables(ran))


# ------------------------------------------------------------------ reading the text


def _check_characters(sql: str) -> None:
    if len(sql) > MAX_SQL_CHARS:
        raise NotReadOnlyError(f"the query is longer than {MAX_SQL_CHARS:,} characters")
    for char in sql:
        if char not in _CONTROLS_ALLOWED and unicodedata.category(char) in _INVISIBLE:
            raise NotReadOnlyError(f"the query holds the invisible or control character U+{ord(char):04X}: retype it")


def _tokens(sql: str, dialect: str) -> list[Token]:
    try:
        return Dialect.get_or_raise(dialect).tokenize(sql)
    except (SqlglotError, ValueError) as exc:
        raise NotReadOnlyError(f"the console cannot read this as {_SPOKEN[dialect]} SQL: {_first_line(exc)}") from exc


def _same_reading(sql: str) -> None:
    """Both engines' tokenizers cut the text into the same tokens, and only trailing semicolons end statements."""
    trino, duckdb = (
        [(t.token_type.name if t.token_type in _MEANINGFUL else "", t.text) for t in _tokens(sql, d)] for d in LEXERS
    )
    if trino != duckdb:
        raise NotReadOnlyError(
            f"{_DIFFERENT} (quoting, escapes, comments or dollar-quoted text), so the console refuses it: "
            "write strings as plain 'single-quoted' text"
        )
    ends = [i for i, (kind, _) in enumerate(trino) if kind == TokenType.SEMICOLON.name]
    if ends != list(range(len(trino) - len(ends), len(trino))):
        raise NotReadOnlyError("run one statement at a time")


def _parse(sql: str, dialect: str) -> exp.Expr:
    try:
        parsed = sqlglot.parse(sql, read=dialect)
    except (SqlglotError, ValueError) as exc:
        raise NotReadOnlyError(f"the console cannot parse this as {_SPOKEN[dialect]} SQL: {_first_line(exc)}") from exc
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]  # a lone ; or comment
    if len(statements) != 1:
        raise NotReadOnlyError("run one statement at a time" if statements else "the query is empty")
    return statements[0]


# ------------------------------------------------------------------ checking the trees


def _checked_query(sql: str, catalog: Catalog) -> exp.Expr:
    """The Athena tree of ``sql`` once both engines' readings passed every check and name the same tables."""
    _same_reading(sql)
    engine, local = _parse(sql, ENGINE), _parse(sql, LOCAL)
    _check_tree(engine, catalog)
    _check_tree(local, catalog, names=False)  # DuckDB's tree names functions its own way; the text is checked
    if type(engine) is not type(local) or _tables(engine) != _tables(local):
        raise NotReadOnlyError(f"{_DIFFERENT}, so the console refuses it")
    return engine


def _check_tree(tree: exp.Expr, catalog: Catalog, *, names: bool = True) -> None:
    """Only allowed syntax, the stage's tables and (when ``names``) allowed functions, by their Athena name."""
    query = tree.this if isinstance(tree, exp.Subquery) else tree
    if not isinstance(query, exp.Query | exp.Values):
        raise NotReadOnlyError(f"the console runs read-only statements only ({KINDS})")
    ctes = set()
    for cte in tree.find_all(exp.CTE):
        if not _PLAIN_NAME.fullmatch(cte.alias):
            raise NotReadOnlyError(f"name the WITH query {cte.alias[:100]!r} with letters, digits and _ only")
        ctes.add(cte.alias.lower())
    for node in tree.walk():
        if isinstance(node, exp.Table):
            _check_table(node, catalog, ctes)
        elif isinstance(node, exp.Star) and any(node.args.values()):
            raise NotReadOnlyError("SELECT * EXCLUDE/REPLACE/RENAME is DuckDB-only: name the columns instead")
        elif isinstance(node, exp.Func) and not isinstance(node, SYNTAX):
            if names and _function_name(node) not in FUNCTIONS:
                raise _function_refused(_function_name(node) or _describe(node))
        elif not isinstance(node, SYNTAX):
            raise NotReadOnlyError(f"{_describe(node)} is not allowed in the console's read-only queries")


def _check_table(table: exp.Table, catalog: Catalog, ctes: set[str]) -> None:
    if not isinstance(table.this, exp.Identifier):
        name = _function_name(table.this) if isinstance(table.this, exp.Func) else _describe(table.this)
        raise NotReadOnlyError(f"table functions such as {name}(...) are not allowed: query the stage's tables")
    name, database, source = table.name.lower(), table.db.lower(), table.catalog.lower()
    if source not in ("", "awsdatacatalog") or database not in ("", catalog.database.lower()):
        where = ".".join(p for p in (table.catalog, table.db) if p)[:100]
        raise NotReadOnlyError(f"the console reads the stage's Glue database {catalog.database} only, not {where}")
    if (not database and name in ctes) or name in catalog.tables:
        return
    known = ", ".join(sorted(catalog.tables)) or "none yet"
    shown = table.name[:100]
    raise NotReadOnlyError(f"no table {shown!r} in the stage's Glue database {catalog.database} (tables: {known})")


def _check_calls(text: str, tree: exp.Expr) -> None:
    """Every word the text puts before a parenthesis is an allowed function, a keyword, a type or a declared alias.

    This reads the text that runs as a lexer does, apart from any tree, so a call no tree showed is refused too.
    """
    declared = {a.name.lower() for a in tree.find_all(exp.TableAlias)}
    declared |= {c.alias.lower() for c in tree.find_all(exp.CTE)}
    for token, after in itertools.pairwise(_tokens(text, LOCAL)):
        if after.token_type != TokenType.L_PAREN or not _WORDS.fullmatch(token.text):
            continue
        name, kind = token.text.lower(), token.token_type
        if kind in (TokenType.VAR, TokenType.IDENTIFIER):
            allowed = name in FUNCTIONS or name in declared or name == "group"  # WITHIN GROUP (ORDER BY ...)
        else:
            allowed = name in FUNCTIONS or kind.name in PAREN_KEYWORDS or kind.name in _TYPES
        if not allowed:
            raise _function_refused(name)


def _function_name(node: exp.Expr) -> str:
    """The function's name as the engine receives it: the start of the text sqlglot generates for it."""
    found = _FUNCTION_NAME.match(node.sql(dialect=ENGINE, comments=False))
    return found.group(2).lower() if found else ""


def _function_refused(name: str) -> NotReadOnlyError:
    shown = name[:100]
    return NotReadOnlyError(f"function {shown} is not allowed in the console (docs/console.md lists the allowed ones)")


def _describe(node: exp.Expr) -> str:
    words: dict[type[exp.Expr], str] = {
        exp.Placeholder: "a parameter placeholder",
        exp.Parameter: "a session parameter",
    }
    return words.get(type(node), re.sub(r"(?<!^)(?=[A-Z])", " ", type(node).__name__).upper())


def _tables(tree: exp.Expr) -> tuple[str, ...]:
    return tuple(sorted({".".join(p.lower() for p in (t.db, t.name) if p) for t in tree.find_all(exp.Table)}))


# ------------------------------------------------------------------ writing what runs


def _cap(tree: exp.Expr, rows: int) -> None:
    """Limit a top-level query to ``rows`` rows unless it already asks for no more."""
    if not isinstance(tree, exp.Select | exp.SetOperation) or isinstance(tree.args.get("limit"), exp.Fetch):
        return
    current = tree.args.get("limit")
    value = current.expression if isinstance(current, exp.Limit) else None
    if current is None or (isinstance(value, exp.Literal) and value.is_int and int(value.this) > rows):
        tree.set("limit", exp.Limit(expression=exp.Literal.number(rows)))


def _generate(tree: exp.Expr) -> str:
    for table in tree.find_all(exp.Table):  # Glue names are lower case; MiniStack matches them as written
        for part in ("this", "db", "catalog"):
            if isinstance(table.args.get(part), exp.Identifier):
                table.set(part, exp.to_identifier(table.args[part].name.lower()))
    return tree.sql(dialect=ENGINE, comments=False)


def _explain(sql: str, first: Token, catalog: Catalog) -> CheckedStatement:
    engine_first = _tokens(sql, LEXERS[0])[0]
    if (engine_first.text.upper(), engine_first.end) != ("EXPLAIN", first.end):
        raise NotReadOnlyError(f"{_DIFFERENT}, so the console refuses it")
    rest = sql[first.end + 1 :]
    word = rest.lstrip()[:8].upper()
    if word.startswith(("ANALYZE", "ANALYSE", "VERBOSE")):
        raise NotReadOnlyError("EXPLAIN ANALYZE runs the statement: the console only explains (EXPLAIN SELECT ...)")
    if word.startswith("("):
        raise NotReadOnlyError("the console runs EXPLAIN without options: EXPLAIN SELECT ...")
    inner = read_only_statement(rest, catalog)
    if inner.kind != "query":
        raise NotReadOnlyError("the console explains queries only: EXPLAIN SELECT ...")
    return CheckedStatement(f"EXPLAIN {inner.sql}", "explain", inner.tables)


def _meta(sql: str, catalog: Catalog) -> CheckedStatement:
    """SHOW TABLES, SHOW COLUMNS IN t, SHOW PARTITIONS t, DESCRIBE t: plain words only, rewritten canonically."""
    found = META.fullmatch(sql)
    assert found is not None
    if found.group("tables"):
        return CheckedStatement("SHOW TABLES", "show", ())
    name, database = (found.group(g).strip('"').lower() if found.group(g) else "" for g in ("table", "db"))
    _check_table(exp.table_(name, db=database or None), catalog, set())
    verb = " ".join(found.group("verb").upper().split())
    verb = {"DESC": "DESCRIBE", "SHOW COLUMNS FROM": "SHOW COLUMNS IN"}.get(verb, verb)
    return CheckedStatement(f"{verb} {name}", "describe" if verb == "DESCRIBE" else "show", (name,))


def _first_line(exc: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # sqlglot underlines the culprit with ANSI codes
    return text.splitlines()[0][:300] if text else type(exc).__name__
