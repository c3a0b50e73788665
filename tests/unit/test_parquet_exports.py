"""CloudTrail Parquet as exporters really store it reads like Athena's layout.

Athena's CloudTrail table keeps ``useridentity`` as a struct, ``requestparameters`` as JSON
text and ``eventtime`` as text. Other writers differ: Spark or Glue jobs dump structs as JSON
text (in CloudTrail's camelCase, or in the lower case of Athena's struct), Glue's crawler
types ``requestparameters`` as a struct and ``eventtime`` as a timestamp, some jobs type the
free-form objects as ``map<string,string>`` (which ``analyze`` read as lists of pairs), and Athena's
UNLOAD/CTAS write objects with no file extension. Each used to lose every event of the file
(a cast error, or no file found). Both readers must give the mapping the same request:
``analyze``'s streaming reader and the pipeline's DuckDB scan.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from cloudtrail_formats import athena_row

from analyzer.events import EventRecord, ReadProblem, map_event, read_events
from analyzer.events.athena import athena_row_to_event
from analyzer.pipeline.grouping import event_from_row
from analyzer.pipeline.reading import connect, read_denials_duckdb
from analyzer.pipeline.settings import PipelineSettings

ACCOUNT = "111111111111"
# Real records (Stratus Red Team detonations, see tests/data/cloudtrail/README.md), and an
# assumed-role session whose nested sessionContext the struct columns must keep.
REAL = json.loads(
    (Path(__file__).parents[1] / "data/cloudtrail/real/stratus_red_team_denials.json").read_text()
)
SESSION = {
    "eventVersion": "1.10",
    "eventTime": "2026-11-24T10:00:00Z",
    "eventID": "ev-session",
    "eventSource": "s3.amazonaws.com",
    "eventName": "GetObject",
    "awsRegion": "eu-west-1",
    "sourceIPAddress": "203.0.113.7",
    "errorCode": "AccessDenied",
    "errorMessage": "Access Denied",
    "requestParameters": {"bucketName": "data", "key": "report.csv"},
    "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::data/report.csv"}],
    "recipientAccountId": ACCOUNT,
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAWORKER:i-1",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAWORKERSESSION1",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Worker/i-1",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAWORKER",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/apps/Worker",
                "accountId": ACCOUNT,
                "userName": "Worker",
            },
            "attributes": {"creationDate": "2026-11-24T09:00:00Z", "mfaAuthenticated": "true"},
        },
    },
}
EVENTS = [SESSION, *REAL]


def _athena_table() -> pa.Table:
    rows = [athena_row(event) for event in EVENTS]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    return pa.Table.from_pylist([{column: row.get(column) for column in columns} for row in rows])


def _replace(table: pa.Table, column: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index(column), column, values)


def _structs_as_json(camel_case: bool) -> Callable[[pa.Table], pa.Table]:
    """Every struct and list-of-struct column (useridentity, resources, tlsdetails) as JSON text."""

    def export(table: pa.Table) -> pa.Table:
        for column in ("useridentity", "resources", "tlsdetails"):
            texts = []
            for value in table.column(column).to_pylist():
                if value is not None and camel_case:
                    value = next(iter(athena_row_to_event({column: value}).values()))
                texts.append(None if value is None else json.dumps(value))
            table = _replace(table, column, pa.array(texts, pa.string()))
        return table

    return export


def _time_as_timestamp(table: pa.Table) -> pa.Table:
    times = pc.strptime(table.column("eventtime"), format="%Y-%m-%dT%H:%M:%SZ", unit="s")
    return _replace(table, "eventtime", times.cast(pa.timestamp("s", tz="UTC")))


def _without_empty_objects(value: object) -> object:
    """Parquet has no struct without fields, so a crawler's schema drops ``{}`` members."""
    if isinstance(value, dict):
        kept = {key: _without_empty_objects(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item != {}}
    if isinstance(value, list):
        return [_without_empty_objects(item) for item in value]
    return value


def _parameters_as_struct(table: pa.Table) -> pa.Table:
    texts = table.column("requestparameters").to_pylist()
    values = [None if text is None else _without_empty_objects(json.loads(text)) for text in texts]
    return _replace(table, "requestparameters", pa.array(values))


def _as_map(text: str | None) -> list[tuple[str, str]] | None:
    """A JSON object as a ``map<string,string>`` holds it: text as it is, any other value as JSON."""
    if text is None:
        return None
    return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in json.loads(text).items()]


def _objects_as_maps(table: pa.Table) -> pa.Table:
    """The free-form objects as ``map<string,string>``, as some Spark/Glue jobs type them."""
    for column in ("requestparameters", "responseelements"):
        values = [_as_map(text) for text in table.column(column).to_pylist()]
        table = _replace(table, column, pa.array(values, pa.map_(pa.string(), pa.string())))
    return table


def _column_names_in_camel_case(table: pa.Table) -> pa.Table:
    return table.rename_columns(
        [{"eventtime": "eventTime", "useridentity": "userIdentity"}.get(c, c) for c in table.column_names]
    )


EXPORTS: dict[str, tuple[Callable[[pa.Table], pa.Table], str]] = {
    "athena": (lambda table: table, "part.parquet"),
    "structs as CloudTrail's JSON text": (_structs_as_json(camel_case=True), "part.parquet"),
    "structs as JSON text of Athena's struct": (_structs_as_json(camel_case=False), "part.parquet"),
    "eventtime as a timestamp": (_time_as_timestamp, "part.parquet"),
    "requestparameters as a struct": (_parameters_as_struct, "part.parquet"),
    "camelCase column names": (_column_names_in_camel_case, "part.parquet"),
    "objects as map<string,string>": (_objects_as_maps, "part.parquet"),
    "Athena UNLOAD object, no extension": (lambda table: table, "20261124_100000_00001_abcde"),
}


def _export(name: str, folder: Path) -> Path:
    transform, file_name = EXPORTS[name]
    target = folder / "dt=2026-11-24"
    target.mkdir(parents=True)
    pq.write_table(transform(_athena_table()), target / file_name)
    (folder / "README.md").write_text("# not a log: listed, sniffed and left out\n")
    return folder


def _requests(event: dict) -> tuple:
    mapped = map_event(EventRecord("file", 0, event))
    return (
        [(r.action, r.resource) for r in mapped.requests()],
        dict(mapped.context),
        mapped.caller,
        mapped.event_time,
    )


EXPECTED = {event["eventID"]: _requests(event) for event in EVENTS if event.get("errorCode")}


@pytest.mark.parametrize("export", EXPORTS)
def test_analyze_reads_every_export_as_the_events(export, tmp_path):
    items = list(read_events(_export(export, tmp_path), denials_only=True))
    assert [str(item) for item in items if isinstance(item, ReadProblem)] == []
    mapped = {item.event["eventID"]: _requests(dict(item.event)) for item in items}
    assert mapped == EXPECTED


@pytest.mark.parametrize("export", EXPORTS)
def test_the_pipeline_scans_every_export_as_the_events(export, tmp_path):
    settings = PipelineSettings(logs=str(_export(export, tmp_path)), snapshot="unused", out="unused")
    scan = read_denials_duckdb(connect(settings), settings)
    assert scan.report.problems == []
    assert scan.report.files == 1  # the README is not a log
    mapped = {row["event_id"]: _requests(event_from_row(row)) for row in scan.denials.to_pylist()}
    assert mapped == EXPECTED


def test_a_map_holding_a_key_twice_loses_only_its_row(tmp_path):
    """No CloudTrail object holds a key twice; a row whose map does is named, not guessed
    at, and the other rows of its batch are read."""
    table = _objects_as_maps(_athena_table().slice(0, 2))
    pairs = table.column("requestparameters").to_pylist()
    pairs[1] = [*pairs[1], pairs[1][0]]
    table = _replace(
        table, "requestparameters", pa.array(pairs, table.schema.field("requestparameters").type)
    )
    pq.write_table(table, tmp_path / "part.parquet")

    items = list(read_events(tmp_path / "part.parquet"))

    [problem] = [item for item in items if isinstance(item, ReadProblem)]
    assert "holds a key twice" in str(problem) and f"'{pairs[1][0][0]}'" in str(problem)
    [record] = [item for item in items if not isinstance(item, ReadProblem)]
    assert record.event["requestParameters"] == SESSION["requestParameters"]


def test_the_pipeline_scans_exports_stored_differently_in_one_run(tmp_path):
    """Each export alone was read, but two together (requestparameters as text in one file
    and as a map in the other; a struct as a struct and as JSON text) failed DuckDB's one
    read_parquet, the files were each found readable, and the retry failed the same way: the
    run ended with none of their denials (held-out probe). Each way of storing is read alone."""
    folder = tmp_path / "dt=2026-11-24"
    folder.mkdir()
    stored = ("athena", "objects as map<string,string>", "structs as CloudTrail's JSON text")
    for number, name in enumerate(stored):
        transform, _ = EXPORTS[name]
        table = transform(_athena_table())
        ids = [f"{event_id}-{number}" for event_id in table.column("eventid").to_pylist()]
        pq.write_table(_replace(table, "eventid", pa.array(ids)), folder / f"part-{number}.parquet")
    settings = PipelineSettings(logs=str(tmp_path), snapshot="unused", out="unused")
    scan = read_denials_duckdb(connect(settings), settings)
    assert scan.report.problems == []
    read = sorted(scan.denials.column("event_id").to_pylist())
    assert read == sorted(f"{event_id}-{number}" for event_id in EXPECTED for number in range(len(stored)))
