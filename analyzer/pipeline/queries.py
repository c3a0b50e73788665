"""The pipeline's SQL: read from ``sql/``, written once in Athena's dialect.

Athena runs the text as written (parameters bound as literals: pyathena does not
bind named parameters in that syntax); DuckDB runs sqlglot's transpilation with
its own ``$name`` parameters. Both come from the same file, so both engines
compute the same thing.

What the project knows as data is rendered in rather than copied: the
pseudo-function ``is_access_denied(column)`` becomes the test of AWS's
access-denied codes from ``analyzer/data/denial_messages.json`` (the list the
event readers use), case-insensitive like theirs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources

import sqlglot
from sqlglot import exp

from analyzer.events.records import denial_codes

READ_DIALECT = "athena"


DENIAL_TEST = "is_access_denied"


def denial_condition(column: exp.Expression) -> exp.Expression:
    """``column`` is one of AWS's access-denied codes: an exact code (any case) or a
    match of one of the patterns (``regexp_like`` searches, as Python's ``re.search``)."""
    codes = denial_codes()
    exact = exp.In(
        this=exp.Lower(this=column.copy()), expressions=[exp.Literal.string(code) for code in codes.exact]
    )
    pattern = "(?i)" + "|".join(f"(?:{p})" for p in codes.patterns)
    regexp = exp.RegexpLike(this=column.copy(), expression=exp.Literal.string(pattern))
    return exp.Paren(this=exp.Or(this=exact, expression=regexp))


def _render(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == DENIAL_TEST:
        return denial_condition(node.expressions[0])
    return node


@cache
def athena_sql(name: str) -> str:
    """The text of ``sql/<name>.sql`` (installed as ``analyzer/sql``), rendered."""
    text = (resources.files("analyzer") / "sql" / f"{name}.sql").read_text()
    if DENIAL_TEST not in text:
        return text
    tree = sqlglot.parse_one(text, read=READ_DIALECT).transform(_render)
    return tree.sql(dialect=READ_DIALECT, pretty=True)


@cache
def duckdb_sql(name: str) -> str:
    return sqlglot.transpile(athena_sql(name), read=READ_DIALECT, write="duckdb")[0]


def athena_with_literals(name: str, params: dict[str, str]) -> str:
    """The Athena text with each ``:param`` replaced by a string literal."""
    tree = sqlglot.parse_one(athena_sql(name), read=READ_DIALECT)

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name in params:
            return exp.Literal.string(params[node.name])
        return node

    return tree.transform(bind).sql(dialect=READ_DIALECT)


def time_window(since: date | None, until: date | None) -> dict[str, str]:
    """The parameters of denials.sql: ISO bounds (until exclusive) and partition days."""
    start = since or date(1970, 1, 1)
    end = until or (datetime.now(UTC).date() + timedelta(days=1))
    last_day = end - timedelta(days=1)
    return {
        "since": start.isoformat(),
        "until": end.isoformat(),
        "since_day": start.strftime("%Y/%m/%d"),
        "until_day": last_day.strftime("%Y/%m/%d"),
    }
