"""The HTML report in a real headless Chromium: scripts run cleanly, numbers match SQL.

Chromium (Debian package ``chromium``) dumps the DOM after scripts ran and takes
a screenshot; the numbers in the DOM (``data-metric``/``data-value``) are compared
with DuckDB queries over the same Parquet tables. Skipped when no Chromium is
installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from report_tables import LATEST, PREVIOUS, SUPPRESSED, write_results, write_rules

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (Debian: apt-get install chromium)"
)

_VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}


class Metrics(HTMLParser):
    """Every ``data-metric`` value with the ``data-*`` attributes of its ancestors."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str]] = []
        self.found: list[tuple[dict[str, str], str, int | None]] = []
        self.root: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        data = {name: value or "" for name, value in attrs if name.startswith("data-")}
        if tag == "html":
            self.root = data
        if "data-metric" in data:
            context = {k: v for frame in self.stack for k, v in frame.items()}
            value = data["data-value"]
            self.found.append((context, data["data-metric"], int(value) if value else None))
        if tag not in _VOID:
            self.stack.append(data)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def value(self, metric: str, **context: str) -> int | None:
        """The one value of ``metric`` whose ancestors carry every ``context`` attribute."""
        wanted = {f"data-{key.replace('_', '-')}": value for key, value in context.items()}
        hits = [
            value
            for where, name, value in self.found
            if name == metric and all(where.get(key) == value for key, value in wanted.items())
        ]
        assert len(hits) == 1, (metric, context, hits)
        return hits[0]

    def rows(self, metric: str, key: str, **context: str) -> dict[str, int | None]:
        attribute = f"data-{key}"
        wanted = {f"data-{k.replace('_', '-')}": v for k, v in context.items()}
        return {
            where[attribute]: value
            for where, name, value in self.found
            if name == metric and attribute in where and all(where.get(k) == v for k, v in wanted.items())
        }


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, Path, Metrics]:
    """Tables, the report written by the real CLI, and the DOM Chromium rendered from it."""
    work = tmp_path_factory.mktemp("report")
    results = write_results(work / "out")
    html = work / "report.html"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "analyzer",
            "report",
            "--results",
            str(results),
            "--html",
            str(html),
            "--suppressions",
            str(write_rules(work / "s.yaml")),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    run = _chromium("--dump-dom", html.as_uri(), profile=work / "profile")
    assert "Uncaught" not in run.stderr, run.stderr
    parser = Metrics()
    parser.feed(run.stdout)
    return results, html, parser


class Tables:
    """Plain DuckDB queries over the tables: the latest run, suppressed groups left out."""

    def __init__(self, root: Path) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        hidden = ", ".join(f"'{key}'" for key in sorted(SUPPRESSED))
        for table in ("denials", "reasons"):
            self.con.execute(
                f"CREATE VIEW {table}_all AS SELECT * FROM read_parquet("
                f"'{root}/{table}/**/*.parquet', hive_partitioning = true) "
                f"WHERE group_key NOT IN ({hidden})"
            )
            self.con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM {table}_all WHERE CAST(dt AS VARCHAR) = '{LATEST}'"
            )

    def scalar(self, sql: str) -> int:
        return self.con.execute(sql).fetchall()[0][0]

    def mapping(self, sql: str) -> dict[str, int]:
        return {str(key): value for key, value in self.con.execute(sql).fetchall()}


def test_scripts_ran_without_errors(rendered):
    _, _, dom = rendered
    assert dom.root.get("data-js-ready") == "true"
    assert "data-js-errors" not in dom.root


def test_numbers_in_the_dom_equal_sql(rendered):
    results, _, dom = rendered
    sql = Tables(results)
    everything = f"SELECT count(*) FROM read_parquet('{results}/denials/dt={LATEST}/*.parquet')"
    assert dom.value("total-denials") == sql.scalar(everything)
    assert dom.value("reported-denials") == sql.scalar("SELECT count(*) FROM denials")
    assert dom.value("suppressed-denials") == (
        sql.scalar(everything) - sql.scalar("SELECT count(*) FROM denials")
    )
    assert dom.value("denials-delta") == sql.scalar(
        f"SELECT count(*) FILTER (WHERE CAST(dt AS VARCHAR) = '{LATEST}') "
        f"- count(*) FILTER (WHERE CAST(dt AS VARCHAR) = '{PREVIOUS}') FROM denials_all"
    )
    assert dom.value("total-groups") == sql.scalar("SELECT count(*) FROM reasons")
    assert dom.value("total-principals") == sql.scalar("SELECT count(DISTINCT principal_arn) FROM denials")
    assert dom.value("total-accounts") == sql.scalar("SELECT count(DISTINCT account_id) FROM denials")

    assert dom.rows("events", "label", breakdown="top_principals") == sql.mapping(
        "SELECT principal_arn, count(*) FROM denials GROUP BY 1"
    )
    assert dom.rows("events", "label", breakdown="by_account") == sql.mapping(
        "SELECT account_id, count(*) FROM denials GROUP BY 1"
    )
    assert dom.rows("events", "label", breakdown="top_actions") == sql.mapping(
        "SELECT action, count(*) FROM denials GROUP BY 1"
    )
    assert dom.rows("events", "label", breakdown="by_result") == sql.mapping(
        "SELECT r.assessment_result, count(*) FROM denials d JOIN reasons r USING (group_key) GROUP BY 1"
    )
    assert dom.rows("events", "day") == sql.mapping(
        "SELECT CAST(event_time AS DATE), count(*) FROM denials_all GROUP BY 1"
    )
    assert dom.rows("events", "sid", section="hot-spots") == sql.mapping(
        "SELECT statement_sid, sum(event_count) FROM reasons "
        "WHERE assessment_result LIKE 'Explicit deny%' GROUP BY 1"
    )


def test_changes_and_suppressions_in_the_dom(rendered):
    results, _, dom = rendered
    sql = Tables(results)
    keys = (
        "SELECT principal_arn || action || coalesce(resource_arn, '') AS k "
        "FROM reasons{} EXCEPT SELECT principal_arn || action || coalesce(resource_arn, '') "
        "FROM reasons{}"
    )
    previous = f"_all WHERE CAST(dt AS VARCHAR) = '{PREVIOUS}'"
    assert dom.value("new-groups") == sql.scalar(f"SELECT count(*) FROM ({keys.format('', previous)})")
    assert dom.value("resolved-groups") == sql.scalar(f"SELECT count(*) FROM ({keys.format(previous, '')})")
    assert dom.rows("events", "rule") == {"1": 6, "2": 2}
    assert dom.value("backlog-principals") == 1


def test_screenshot_renders_the_page(rendered, tmp_path):
    _, html, _ = rendered
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,3200", html.as_uri(), profile=tmp_path / "profile")
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few KB
    keep = Path(__file__).parent.parent.parent / ".pytest_cache" / "report-screenshot.png"
    keep.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, keep)  # for looking at after a run
