"""``access-undenied query "SQL"``: ad-hoc SQL over the pipeline's tables, in embedded DuckDB.

The result tables and the views of ``analyzer/sql/views.sql`` (``denials``,
``reasons``, ``backlog``, ``changes``, ``latest_reasons``, ``root_causes``...) are defined on
an in-memory connection, so no separate ``duckdb`` program is needed and S3
results are read the way ``report`` reads them (s3fs, ``--profile``,
``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    import duckdb

OUTPUT_FORMATS = ("table", "json", "text")


class QueryError(AnalyzerError):
    """The SQL of ``query`` failed (syntax, unknown column...): DuckDB's first line."""


def _json_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _print(columns: list[str], rows: list[tuple[Any, ...]], output: str) -> None:
    from analyzer.untrusted import visible

    if output == "json":
        click.echo(
            json.dumps(
                [{c: _json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows],
                indent=2,
                default=str,
            )
        )
    elif output == "text":  # tab-separated, no header: for cut, awk and shell loops
        for row in rows:
            click.echo("\t".join("" if v is None else visible(v) for v in row))
    else:
        from rich.table import Table

        from analyzer.render import terminal_console
        from analyzer.untrusted import markup_literal

        # Column names are data too: a PIVOT makes them of the values (user agents...).
        table = Table(*(markup_literal(column) for column in columns))
        for column in table.columns:
            column.overflow = "fold"
        for row in rows:
            table.add_row(*("" if v is None else markup_literal(v) for v in row))
        terminal_console().print(table)


def _define_views(con: duckdb.DuckDBPyConnection, views: str) -> None:
    """The views of views.sql, but those over a table the results do not hold (``changes/``
    of results written before it existed), and the views built on them, left undefined."""
    import duckdb

    skipped = False
    for statement in con.extract_statements(views):
        try:
            con.execute(statement)
        except duckdb.IOException as error:
            if "No files found" not in str(error) or "/changes/" not in str(error):
                raise
            skipped = True
        except duckdb.CatalogException:
            if not skipped:
                raise


@click.command()
@click.argument("sql")
@click.option(
    "--results",
    required=True,
    metavar="PATH_OR_S3",
    help="The pipeline's --out: a folder or s3://bucket/prefix.",
)
@click.option(
    "--output",
    "output",
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="A table, a JSON array of objects, or tab-separated lines without a header.",
)
@click.pass_context
def query(ctx: click.Context, sql: str, results: str, output: str) -> None:
    """Run SQL over the result tables and their views (no duckdb program needed).

    Views: denials, reasons, backlog (every run), latest_reasons, latest_backlog,
    deny_hot_spots, denials_by_reason and the others of docs/querying-results.md.

    \b
    Examples:
      access-undenied query --results out "from deny_hot_spots limit 5"
      access-undenied query --results s3://audit/au --output json \\
          "select principal_arn, event_count from latest_backlog order by 2 desc"
    """
    import duckdb

    from analyzer.pipeline.queries import athena_sql
    from analyzer.report.results import connect

    con = connect((results,), (ctx.obj or {}).get("profile"))
    try:
        con.execute("SET VARIABLE results = ?", [results.rstrip("/")])
        _define_views(con, athena_sql("views"))
        cursor = con.execute(sql)
        columns = [column[0] for column in cursor.description or []]
        rows = cursor.fetchall() if columns else []
    except duckdb.Error as error:
        raise QueryError(str(error).splitlines()[0]) from error
    finally:
        con.close()
    _print(columns, rows, output)
    click.echo(f"{len(rows):,} row(s)", err=True)
