"""The ``report`` command (registered on ``analyzer.cli.main``).

DuckDB, jinja2 and matplotlib are imported inside the command body, so
``--help`` stays fast and needs no AWS credentials.
"""

from __future__ import annotations

from pathlib import Path

import click

from analyzer.errors import ReportError
from analyzer.untrusted import visible


def _write(path: str | Path, text: str) -> None:
    if str(path) == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise ReportError(f"{path}: cannot write the report: {error.strerror or error}") from error
    click.echo(f"wrote {path} ({len(text.encode()) // 1024 + 1} KB)", err=True)


@click.command()
@click.option(
    "--results",
    required=True,
    metavar="PATH_OR_S3",
    help="The pipeline's --out: a folder or s3://bucket/prefix holding the denials/, "
    "reasons/ and backlog/ tables (Parquet, dt=YYYY-MM-DD partitions).",
)
@click.option(
    "--html",
    "html_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report as one self-contained HTML file (charts inline, no network).",
)
@click.option(
    "--markdown",
    "markdown_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the same numbers as Markdown tables, for tickets ('-' for stdout).",
)
@click.option(
    "--suppressions",
    "suppressions_file",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file of expected denials: they leave the lists and the backlog and are "
    "counted per rule; expired rules are reported and not applied.",
)
@click.option(
    "--previous",
    metavar="PATH_OR_S3",
    help="Compare with the latest run under this results root instead of the run "
    "before the latest one under --results.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["html", "markdown"]),
    default=None,
    help="'markdown' prints the Markdown report to stdout when no --markdown FILE is given.",
)
@click.option(
    "--top", default=10, show_default=True, type=click.IntRange(1, 100), help="Length of every top-N list."
)
@click.pass_context
def report(
    ctx: click.Context,
    results: str,
    html_file: Path | None,
    markdown_file: str | None,
    suppressions_file: Path | None,
    previous: str | None,
    output_format: str | None,
    top: int,
) -> None:
    """Summarize the latest pipeline run: charts, hot spots, backlog, what changed.

    At least one of --html and --markdown is required; both may be given.

    \b
    Examples:
      access-undenied report --results out --html report.html
      access-undenied report --results s3://audit-bucket/access-undenied \\
          --html report.html --suppressions expected-denials.yaml
      access-undenied report --results out --format markdown > ticket.md
      access-undenied report --results out --previous out-last-week --markdown diff.md
    """
    if output_format == "markdown" and markdown_file is None:
        markdown_file = "-"
    if html_file is None and markdown_file is None:
        raise click.UsageError("give --html FILE and/or --markdown FILE (or --format markdown)")
    from analyzer.report import build_report, render_html, render_markdown
    from analyzer.suppressions import Suppressions, load_suppressions

    suppressions = load_suppressions(suppressions_file) if suppressions_file else Suppressions()
    for warning in suppressions.warnings:
        click.echo(f"warning: {visible(warning)}", err=True)
    data = build_report(
        results, previous=previous, suppressions=suppressions, profile=(ctx.obj or {}).get("profile"), top=top
    )
    if html_file is not None:
        _write(html_file, render_html(data))
    if markdown_file is not None:
        _write(markdown_file, render_markdown(data))
