"""Writers for every CloudTrail layout the readers accept (test helper).

Each writer puts the same events in one layout, so tests can check that every
layout reads back to the same events.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

_JSON_TEXT = ("requestParameters", "responseElements", "additionalEventData", "serviceEventDetails")


def _lower(value: Any) -> Any:
    if isinstance(value, dict):
        return {key.lower(): _lower(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lower(item) for item in value]
    return value


def athena_row(event: dict[str, Any]) -> dict[str, Any]:
    """An event as a row of the Athena CloudTrail table."""
    row: dict[str, Any] = {}
    for key, value in event.items():
        if key in _JSON_TEXT:
            row[key.lower()] = None if value is None else json.dumps(value)
        elif key in ("readOnly", "managementEvent"):
            row[key.lower()] = "true" if value else "false"
        else:
            row[key.lower()] = _lower(value)
    return row


def _eventbridge(index: int, event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as EventBridge delivers it to a rule's target ("AWS API Call via CloudTrail")."""
    return {
        "version": "0",
        "id": f"eb-{index}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + event["eventSource"].split(".")[0],
        "account": event.get("recipientAccountId"),
        "time": event.get("eventTime"),
        "region": event.get("awsRegion"),
        "resources": [],
        "detail": event,
    }


def write(layout: str, events: list[dict[str, Any]], directory: Path) -> Path:
    """Write ``events`` in ``layout`` under ``directory``; returns the path to read."""
    directory.mkdir(parents=True, exist_ok=True)
    if layout == "records":
        path = directory / "records.json"
        path.write_text(json.dumps({"Records": events}))
    elif layout == "records_pretty":
        path = directory / "records_pretty.json"
        path.write_text(json.dumps({"Records": events}, indent=2))
    elif layout == "array":
        path = directory / "array.json"
        path.write_text(json.dumps(events, indent=1))
    elif layout == "lookup":
        path = directory / "lookup.json"
        path.write_text(
            json.dumps(
                {
                    "Events": [
                        {
                            "EventId": e.get("eventID"),
                            "EventName": e["eventName"],
                            "CloudTrailEvent": json.dumps(e),
                        }
                        for e in events
                    ],
                    "NextToken": "abc",
                }
            )
        )
    elif layout == "lookup_query":
        # `aws cloudtrail lookup-events --query 'Events[*].CloudTrailEvent'`: each event as JSON text.
        path = directory / "lookup_query.json"
        path.write_text(json.dumps([json.dumps(e) for e in events], indent=4))
    elif layout == "jsonl":
        path = directory / "events.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
    elif layout == "jsonl_gz":
        path = directory / "events.jsonl.gz"
        path.write_bytes(gzip.compress("".join(json.dumps(e) + "\n" for e in events).encode()))
    elif layout == "eventbridge":
        # EventBridge events as a Firehose archive holds them: concatenated, no separator.
        path = directory / "eventbridge.json"
        path.write_text("".join(json.dumps(_eventbridge(index, e)) for index, e in enumerate(events)))
    elif layout == "eventbridge_records":
        # EventBridge events gathered into a Records file (a rule's target that batches them).
        path = directory / "eventbridge_records.json.gz"
        wrapped = [_eventbridge(index, e) for index, e in enumerate(events)]
        path.write_bytes(gzip.compress(json.dumps({"Records": wrapped}).encode()))
    elif layout == "records_gz":
        path = directory / "records.json.gz"
        path.write_bytes(gzip.compress(json.dumps({"Records": events}).encode()))
    elif layout == "s3_tree":
        path = directory / "trail"
        half = len(events) // 2
        for index, chunk in enumerate((events[:half], events[half:])):
            day = (
                path
                / "AWSLogs"
                / "o-abc123"
                / "111111111111"
                / "CloudTrail"
                / "us-east-1"
                / "2024"
                / "05"
                / f"0{index + 1}"
            )
            day.mkdir(parents=True)
            (day / f"111111111111_CloudTrail_us-east-1_2024050{index + 1}T0000Z_x.json.gz").write_bytes(
                gzip.compress(json.dumps({"Records": chunk}).encode())
            )
        digest = path / "AWSLogs" / "o-abc123" / "111111111111" / "CloudTrail-Digest" / "us-east-1"
        digest.mkdir(parents=True)
        (digest / "111111111111_CloudTrail-Digest_us-east-1_x.json.gz").write_bytes(
            gzip.compress(json.dumps({"awsAccountId": "111111111111", "digestS3Object": "x"}).encode())
        )
    elif layout == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = directory / "cloudtrail.parquet"
        rows = [athena_row(e) for e in events]
        columns = list(dict.fromkeys(column for row in rows for column in row))
        rows = [{column: row.get(column) for column in columns} for row in rows]
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=3)
    elif layout == "single":
        assert len(events) == 1
        path = directory / "single.json"
        path.write_text(json.dumps(events[0], indent=2))
    else:
        raise ValueError(layout)
    return path


LAYOUTS = (
    "records",
    "records_pretty",
    "array",
    "lookup",
    "lookup_query",
    "jsonl",
    "jsonl_gz",
    "eventbridge",
    "eventbridge_records",
    "records_gz",
    "s3_tree",
    "parquet",
)
