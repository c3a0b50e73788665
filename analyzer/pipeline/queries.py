"""The pipeline's SQL: read from ``sql/``, written once in Athena's dialect.

Athena runs the text as written (parameters bound as literals: pyathena does not
bind named parameters in that syntax); DuckDB runs sqlglot's transpilation with
its own ``$name`` parameters. Both come from the same file, so both engines
compute the same thing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources

import sqlglot
from sqlglot import exp

READ_DIALECT = "athena"


@cache
def athena_sql(name: str) -> str:
    """The text of ``sql/<name>.sql`` (installed as ``analyzer/sql``)."""
    return (resources.files("analyzer") / "sql" / f"{name}.sql").read_text()


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
