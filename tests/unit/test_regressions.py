"""Regressions, each named after the bug it pins (found by the demo generator's checks)."""

from analyzer.actions import rcp_supported_services
from analyzer.engine.evaluation import evaluate
from analyzer.engine.model import Decision, PolicySet, Request
from analyzer.engine.policy import parse_policy
from analyzer.events.athena import athena_row_to_event
from analyzer.events.mapping import map_event
from analyzer.events.records import EventRecord


def _event(source: str, name: str, params: dict) -> dict:
    return {
        "eventVersion": "1.09",
        "eventTime": "2026-11-23T10:00:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "requestParameters": params,
        "errorCode": "AccessDenied",
        "recipientAccountId": "222222222222",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111111111111:user/a",
            "accountId": "111111111111",
            "userName": "a",
        },
    }


def test_sqs_queue_url_names_the_queue_owner_not_the_caller():
    event = map_event(
        EventRecord(
            "t",
            0,
            _event(
                "sqs.amazonaws.com",
                "SendMessage",
                {"queueUrl": "https://sqs.us-east-1.amazonaws.com/222222222222/jobs", "messageBody": "x"},
            ),
        )
    )
    [request] = event.actions
    assert request.resource == "arn:aws:sqs:us-east-1:222222222222:jobs"


def test_aws_managed_policy_arns_are_not_cross_account_resources():
    request = Request.build(
        "arn:aws:iam::111111111111:user/a", "iam:GetPolicy", "arn:aws:iam::aws:policy/ReadOnlyAccess"
    )
    allow = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:GetPolicy", "Resource": "*"}],
        }
    )
    result = evaluate(request, PolicySet(identity=(allow,)), rcp_supported_services())
    assert result.decision == Decision.ALLOWED


def test_athena_json_text_columns_keep_their_key_case():
    event = athena_row_to_event(
        {
            "eventname": "GetObject",
            "additionaleventdata": '{"CipherSuite": "ECDHE", "bytesTransferredIn": 0}',
            "requestparameters": '{"bucketName": "b", "Host": "b.s3.amazonaws.com"}',
        }
    )
    assert event["additionalEventData"] == {"CipherSuite": "ECDHE", "bytesTransferredIn": 0}
    assert event["requestParameters"] == {"bucketName": "b", "Host": "b.s3.amazonaws.com"}
