"""The benchmark's yardstick (benchmarks/plain_first_stage.py) reads the same night the same
way whichever way a writer stored it: as CloudTrail's JSON, or as Parquet whose eventtime is
a timestamp and whose requestparameters is a struct (what Glue, Spark and other generators
than ours write). A yardstick that failed on those would leave the benchmark's --data
(another generator's night) unmeasurable."""

from __future__ import annotations

import gzip
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

_SOURCE = Path(__file__).resolve().parents[2] / "benchmarks" / "plain_first_stage.py"

_ROLE = "arn:aws:iam::111122223333:role/app"
_EVENTS = [
    # (event id, time, event name, error code, table)
    ("e1", datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC), "GetItem", "AccessDeniedException", "a"),
    ("e2", datetime(2026, 11, 20, 4, 5, 6, tzinfo=UTC), "GetItem", "AccessDeniedException", "a"),
    ("e3", datetime(2026, 11, 21, 7, 8, 9, tzinfo=UTC), "PutItem", "AccessDeniedException", "b"),
    ("e4", datetime(2026, 11, 21, 7, 8, 9, tzinfo=UTC), "PutItem", None, "b"),
]


def _first_stage():
    spec = importlib.util.spec_from_file_location("plain_first_stage", _SOURCE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.first_stage


def _json_night(root: Path) -> Path:
    records = [
        {
            "eventID": event_id,
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "dynamodb.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333",
            "requestParameters": {"tableName": table},
            "userIdentity": {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::111122223333:assumed-role/app/s",
                "accountId": "111122223333",
                "sessionContext": {"sessionIssuer": {"arn": _ROLE}},
            },
            **({"errorCode": code, "errorMessage": "denied"} if code else {}),
        }
        for event_id, when, name, code, table in _EVENTS
    ]
    folder = root / "json"
    folder.mkdir()
    with gzip.open(folder / "night.json.gz", "wt") as out:
        json.dump({"Records": records}, out)
    return folder


def _typed_parquet_night(root: Path) -> Path:
    identity = pa.struct(
        [
            ("type", pa.string()),
            ("arn", pa.string()),
            ("sessioncontext", pa.struct([("sessionissuer", pa.struct([("arn", pa.string())]))])),
        ]
    )
    schema = pa.schema(
        [
            ("eventid", pa.string()),
            ("eventtime", pa.timestamp("us", tz="UTC")),
            ("eventsource", pa.string()),
            ("eventname", pa.string()),
            ("awsregion", pa.string()),
            ("sourceipaddress", pa.string()),
            ("useragent", pa.string()),
            ("errorcode", pa.string()),
            ("errormessage", pa.string()),
            ("recipientaccountid", pa.string()),
            ("requestparameters", pa.struct([("tablename", pa.string())])),
            ("resources", pa.list_(pa.struct([("arn", pa.string())]))),
            ("useridentity", identity),
        ]
    )
    rows = [
        {
            "eventid": event_id,
            "eventtime": when,
            "eventsource": "dynamodb.amazonaws.com",
            "eventname": name,
            "awsregion": "us-east-1",
            "errorcode": code,
            "errormessage": "denied" if code else None,
            "recipientaccountid": "111122223333",
            "requestparameters": {"tablename": table},
            "useridentity": {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::111122223333:assumed-role/app/s",
                "sessioncontext": {"sessionissuer": {"arn": _ROLE}},
            },
        }
        for event_id, when, name, code, table in _EVENTS
    ]
    folder = root / "parquet" / "year=2026"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-0.snappy.parquet")
    return root / "parquet"


def _denials(out: Path) -> list[tuple]:
    return duckdb.sql(
        f"""SELECT event_id, CAST(event_time AS VARCHAR), dt, principal_arn, action
            FROM read_parquet('{out}/denials/**/*.parquet', hive_partitioning = true)
            ORDER BY event_id"""
    ).fetchall()


def test_typed_parquet_and_json_give_the_same_denials_and_days(tmp_path: Path) -> None:
    first_stage = _first_stage()
    from_json = first_stage(str(_json_night(tmp_path)), str(tmp_path / "out-json"))
    from_parquet = first_stage(str(_typed_parquet_night(tmp_path)), str(tmp_path / "out-pq"))

    assert from_json["denials"] == from_parquet["denials"] == 3
    assert from_json["groups"] == from_parquet["groups"] == 2
    expected = _denials(tmp_path / "out-json")
    assert [(row[0], str(row[2])) for row in expected] == [
        ("e1", "2026-11-20"),
        ("e2", "2026-11-20"),
        ("e3", "2026-11-21"),
    ]
    assert _denials(tmp_path / "out-pq") == expected
