"""``access-undenied demo``: a synthetic organization, its CloudTrail logs, the pipeline and
the report, end to end on this machine (embedded DuckDB, no AWS account needed).

Registered through the ``access_undenied.commands`` entry point, like ``run``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--events",
    default=20_000,
    show_default=True,
    type=click.IntRange(100),
    help="CloudTrail events to generate (5% denials); 1000000 is the benchmark size.",
)
@click.option(
    "--out",
    default="access-undenied-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the generated data, the result tables and the report.",
)
@click.option("--seed", default=7, show_default=True, help="Same seed, same data.")
def demo(events: int, out: Path, seed: int) -> None:
    """Generate an organization and its logs, run the pipeline, write the report.

    \b
    Example:
      access-undenied demo --events 20000 --out demo
    """
    from analyzer.demo import generate
    from analyzer.render import progress
    from analyzer.report import build_report, render_html
    from flows.run_command import print_summary, run_pipeline

    with progress(f"generating {events:,} CloudTrail events..."):
        data = generate(out / "data", events=events, seed=seed)
    click.echo(
        f"generated {data.events:,} events ({data.denials:,} denied) in "
        f"{data.json_files} log files, and the organization's snapshot",
        err=True,
    )
    results = out / "results"
    with progress("running the pipeline (Prefect flow, embedded DuckDB)..."):
        summary = run_pipeline(
            logs=str(data.json_root), snapshot=str(data.snapshot), out=str(results), workers=2
        )
    print_summary(summary)
    report = out / "report.html"
    report.write_text(render_html(build_report(str(results))), encoding="utf-8")
    click.echo(f"""
Report:    {report.resolve()}
Tables:    {results.resolve()}/{{denials,changes,reasons,backlog}}/dt=*/part-0.parquet
Snapshot:  {data.snapshot.resolve()}
Logs:      {data.json_root.resolve()}

Next:
  access-undenied query --results {results} \\
      "select reason_code, count(*) from latest_reasons group by 1"
  access-undenied analyze --events-file {data.json_root} --snapshot {data.snapshot} --output text
  access-undenied analyze --events-file {data.json_root} --snapshot {data.snapshot} \\
      --history {data.json_root}    # each denial at its own time, the change behind it and its fix
  access-undenied report --results {results} --format markdown""")
