"""One CloudTrail field list (analyzer/events/fields.py; issue 13 item 6): the Athena-row
reader, the pipeline's read schema, the Athena DDL and the demo's Parquet schema all use
names it declares, so a field added in one place and not the others is caught here."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from analyzer.demo.writer import SCHEMA as DEMO_PARQUET
from analyzer.events import fields
from analyzer.events.athena import athena_row_to_event
from analyzer.pipeline import schema

DDL = (Path(__file__).parents[2] / "sql" / "athena_cloudtrail_table.sql").read_text()


def _ddl_names() -> set[str]:
    body = DDL[DDL.index("(") + 1 : DDL.index("\nCOMMENT")]
    return set(re.findall(r"\b([a-z][a-z0-9]*)\s*:?\s+(?:STRING|STRUCT|ARRAY|MAP)", body))


def _arrow_names(data_type) -> set[str]:
    if pa.types.is_struct(data_type):
        return {f.name for f in data_type} | {n for f in data_type for n in _arrow_names(f.type)}
    if pa.types.is_list(data_type):
        return _arrow_names(data_type.value_type)
    return set()


def test_every_name_of_the_athena_table_is_in_the_field_list():
    names = _ddl_names()
    assert {"eventversion", "useridentity", "sessionissuer", "tlsdetails"} <= names
    assert names <= set(fields.ATHENA_TO_JSON)


def test_the_pipeline_reads_columns_the_athena_table_has():
    top_level = set(re.findall(r"^    ([a-z]+) ", DDL, re.MULTILINE))
    assert {name.lower() for name in schema.RECORD} <= top_level


def test_the_pipeline_reads_only_its_fields_and_in_cloudtrails_spelling():
    assert list(schema.RECORD) == list(fields.PIPELINE_FIELDS)
    assert "serviceEventDetails" not in schema.RECORD  # narrow: never read
    assert schema.RECORD["requestParameters"] == schema.JSON_TEXT


def test_the_demo_parquet_uses_names_of_the_field_list():
    names = set(DEMO_PARQUET.names) | {n for f in DEMO_PARQUET for n in _arrow_names(f.type)}
    assert names <= set(fields.ATHENA_TO_JSON)


def test_an_athena_row_reads_back_in_cloudtrails_spelling():
    event = athena_row_to_event(
        {
            "eventid": "e-1",
            "readonly": "true",
            "requestparameters": '{"bucketName": "b"}',
            "useridentity": {"sessioncontext": {"sessionissuer": {"arn": "arn:aws:iam::1:role/r"}}},
            "tlsdetails": {"clientprovidedhostheader": "s3.amazonaws.com"},
            "resources": [{"arn": "arn:aws:s3:::b", "accountid": "1"}],
        }
    )
    assert event == {
        "eventID": "e-1",
        "readOnly": True,
        "requestParameters": {"bucketName": "b"},
        "userIdentity": {"sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/r"}}},
        "tlsDetails": {"clientProvidedHostHeader": "s3.amazonaws.com"},
        "resources": [{"ARN": "arn:aws:s3:::b", "accountId": "1"}],
    }
