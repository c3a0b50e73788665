"""`analyze` and `run` agree on what an access denial is (issue 13 item 6): the pipeline's
SQL gets the readers' list of codes rendered in, matched case-insensitively, on DuckDB as
on Athena."""

from __future__ import annotations

import pytest
from cloudtrail_formats import write

from analyzer.events import is_denial_code
from analyzer.pipeline import queries
from analyzer.pipeline.reading import connect, read_denials_duckdb
from analyzer.pipeline.settings import PipelineSettings

DENIALS = [
    "AccessDenied",
    "AccessDeniedException",
    "accessdenied",
    "ACCESSDENIEDEXCEPTION",
    "Client.UnauthorizedOperation",
    "UnauthorizedOperation",
    "client.unauthorizedoperation",
    "Client.AccessDenied",
    "AuthorizationError",
    "AuthorizationErrorException",
    "authorizationerrorexception",
    "VpceAccessDenied",
    "Forbidden",
    "ForbiddenException",
    "forbiddenexception",
    "UnauthorizedAccess",
    "UnauthorizedException",
    "unauthorizedexception",
    "AllAccessDisabled",
    "allaccessdisabled",
    "KMS.AccessDeniedException",
    "kms.accessdeniedexception",
    "Lambda.Forbidden",
    "InvalidClientTokenId.AccessDenied",
    "SomeService.UnauthorizedOperation",
]
OTHERS = [
    "ThrottlingException",
    "NoSuchKey",
    "ValidationException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ResourceNotFoundException",
    "NotAuthorizedException",
    "OperationAborted",
    "NotForbiddenYet",
    "UnauthorizedOperationPending",
    # Python's re and DuckDB's RE2 read a pattern differently on these (held-out probe):
    # "$" before a final newline, "\w" over non-ASCII letters, "i" against a dotless i.
    # Not AWS's codes: both readers leave them out alike.
    "UnauthorizedOperation\n",
    "Foo.UnauthorizedOperation\n",
    "Sérvice.Forbidden",
    "サービス.Forbidden",
    "Forb\u0131dden",  # a dotless i
    "AccessDen\u0131ed",
]


def _event(index: int, code: str) -> dict:
    return {
        "eventVersion": "1.10",
        "eventTime": "2026-11-24T10:00:00Z",
        "eventID": f"e-{index}",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "eu-west-1",
        "errorCode": code,
        "recipientAccountId": "111111111111",
        "userIdentity": {
            "type": "IAMUser",
            "accountId": "111111111111",
            "arn": "arn:aws:iam::111111111111:user/bob",
        },
    }


def test_the_corpus_is_what_the_readers_say():
    assert all(is_denial_code(code) for code in DENIALS)
    assert not any(is_denial_code(code) for code in OTHERS)


def test_duckdb_keeps_exactly_the_codes_the_readers_call_denials(tmp_path):
    codes = DENIALS + OTHERS
    write("records_gz", [_event(i, code) for i, code in enumerate(codes)], tmp_path)
    settings = PipelineSettings(logs=str(tmp_path), snapshot="unused", out="unused")
    table = read_denials_duckdb(connect(settings), settings).denials
    kept = {codes[int(event_id[2:])] for event_id in table.column("event_id").to_pylist()}
    assert kept == {code for code in codes if is_denial_code(code)}


@pytest.mark.parametrize("code", DENIALS[:3])
def test_athena_text_carries_the_same_list(code):
    text = queries.athena_with_literals("denials", queries.time_window(None, None))
    assert "is_access_denied" not in text.lower()
    assert f"'{code.lower()}'" in text
    assert "REGEXP_LIKE(errorcode, '(?i)" in text
