"""One CloudTrail field list (analyzer/events/fields.py; issue 13 item 6): the Athena-row
reader, the pipeline's read schema, the scan's flat columns, the Athena DDL and the demo's
Parquet schema all use names it declares, so a field added in one place and not the others
is caught here."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from analyzer.demo.writer import SCHEMA as DEMO_PARQUET
from analyzer.events import fields
from analyzer.events.athena import athena_row_to_event
from analyzer.pipeline import queries, schema
from analyzer.pipeline.athena_table import athena_table_ddl
from analyzer.pipeline.grouping import event_from_row

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


def test_the_committed_athena_table_is_what_the_field_list_renders():
    # Regenerate with: python -m analyzer.pipeline.athena_table > sql/athena_cloudtrail_table.sql
    assert athena_table_ddl() == DDL


def test_the_athena_table_has_every_field_of_the_list():
    assert set(fields.ATHENA_TO_JSON) - {"clienthostheader"} <= _ddl_names()  # an alias only
    assert "addendum STRUCT<" in DDL and "readonly STRING" in DDL and "requestparameters STRING" in DDL


def test_the_pipeline_reads_only_the_fields_of_its_flat_columns_in_cloudtrails_spelling():
    assert set(schema.RECORD) == {column.path[0] for column in fields.ROW_COLUMNS}
    assert "serviceEventDetails" not in schema.RECORD  # narrow: never read
    assert "inScopeOf" not in schema.RECORD["userIdentity"]
    assert schema.RECORD["requestParameters"] == schema.JSON_TEXT
    assert schema.RECORD["resources"] == [
        {"ARN": schema.VARCHAR, "accountId": schema.VARCHAR, "type": schema.VARCHAR}
    ]


def test_the_scan_selects_the_flat_columns_in_athenas_spelling():
    text = queries.athena_sql("denials")
    assert "row_columns" not in text.lower()
    assert "useridentity.sessioncontext.sessionissuer.arn AS issuer_arn" in text
    flat = re.sub(r"\(\s+", "(", text)
    assert "ARRAY_JOIN(TRANSFORM(resources, r -> COALESCE(r.arn, '')), CHR(31)) AS resource_arns" in flat
    for column in fields.ROW_COLUMNS:
        assert f" AS {column.name}" in text


def test_a_row_goes_back_to_the_event_it_was_read_from():
    row = {
        "event_id": "e-1",
        "identity_arn": "arn:aws:sts::1:assumed-role/r/s",
        "issuer_account_id": "1",
        "request_parameters": '{"bucketName": "b", "empty": {}}',
        "resource_arns": "arn:aws:s3:::b\x1farn:aws:s3:::b/k",
        "tls_version": None,
    }
    assert event_from_row(row) == {
        "eventID": "e-1",
        "userIdentity": {
            "arn": "arn:aws:sts::1:assumed-role/r/s",
            "sessionContext": {"sessionIssuer": {"accountId": "1"}},
        },
        "requestParameters": {"bucketName": "b"},
        "resources": [{"ARN": "arn:aws:s3:::b"}, {"ARN": "arn:aws:s3:::b/k"}],
    }


def test_the_columns_of_one_list_go_back_item_by_item():
    """An S3 ARN names no account: the bucket's owner is the event's ``resources[].accountId``.
    The scan dropped it, so the pipeline took a bucket the snapshot does not know for one of
    the caller's account and answered "Allowed" where ``analyze``, reading the owner from
    the event, said the owner's policies are unknown (found by a held-out probe). Each field
    of the list is a column; an item without a field is an empty string there."""
    row = {  # an S3 object's key may hold a space: the items are cut at "\x1f"
        "resource_arns": "arn:aws:s3:::b\x1farn:aws:s3:::b/my k\x1f",
        "resource_account_ids": "999999999999\x1f\x1f111111111111",
        "resource_types": "AWS::S3::Bucket\x1fAWS::S3::Object\x1f",
    }
    assert event_from_row(row)["resources"] == [
        {"ARN": "arn:aws:s3:::b", "accountId": "999999999999", "type": "AWS::S3::Bucket"},
        {"ARN": "arn:aws:s3:::b/my k", "type": "AWS::S3::Object"},
        {"accountId": "111111111111"},
    ]
    assert "resources" not in event_from_row({"resource_arns": "", "resource_account_ids": ""})


def test_a_flat_column_must_name_a_field_of_the_list():
    with pytest.raises(ValueError, match="not a field"):
        fields._row_column("x", "userIdentity.nope")
    with pytest.raises(ValueError, match="not a string"):
        fields._row_column("x", "userIdentity.sessionContext")


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
