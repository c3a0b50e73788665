"""CloudTrail records as AWS logs them, for tests that write a timeline of policy changes.

The envelope and each API's ``requestParameters`` / ``responseElements`` mirror public
CloudTrail samples; ``tests/data/history/README.md`` names the sample behind each shape.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

_IDS = itertools.count(1)


def actor(account: str, role: str = "Admin", session: str = "alice") -> dict[str, Any]:
    """An assumed-role ``userIdentity`` (the usual shape of a change made by a person)."""
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-11-23T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def record(
    source: str,
    name: str,
    account: str,
    when: str,
    request: dict[str, Any] | None,
    response: dict[str, Any] | None = None,
    *,
    identity: dict[str, Any] | None = None,
    error_code: str | None = None,
    region: str = "us-east-1",
    event_id: str | None = None,
) -> dict[str, Any]:
    event = {
        "eventVersion": "1.09",
        "userIdentity": identity or actor(account),
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": request,
        "responseElements": response,
        "requestID": f"req-{next(_IDS)}",
        "eventID": event_id or f"change-{next(_IDS):04d}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error_code:
        event["errorCode"] = error_code
        event["errorMessage"] = "denied"
    return event


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def role_account(role: dict[str, Any], resource_policies: dict[str, Any] | None = None) -> dict[str, Any]:
    """A snapshot account holding one role (its RoleDetailList entry) and ``resource_policies``."""
    details = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [role], "Policies": []}
    return {"authorizationDetails": details, "resourcePolicies": dict(resource_policies or {})}


BENIGN_SCP = doc(
    {"Sid": "NoLeaving", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}
)
BAD_SCP = doc(
    {"Sid": "NoLeaving", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"},
    {"Sid": "FreezeS3Reads", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"},
)


def customer_scp(management: str, name: str, document: dict[str, Any]) -> dict[str, Any]:
    """A customer-managed SCP as a snapshot's organization node lists it."""
    return {
        "Id": f"p-{name.lower()}",
        "Arn": f"arn:aws:organizations::{management}:policy/o-ours/service_control_policy/p-{name.lower()}",
        "Name": name,
        "Type": "SERVICE_CONTROL_POLICY",
        "AwsManaged": False,
        "PolicyDocument": json.dumps(document),
    }


def org_node(node_id: str, parent: str | None, policies: list[dict[str, Any]]) -> dict[str, Any]:
    """A snapshot's organization node: the root without ``parent``, else an account."""
    return {
        "arn": None,
        "id": node_id,
        "name": node_id,
        "organization_node_type": "AWSAccount" if parent else "Organization Root",
        "policies": policies,
        "parent": parent,
    }


def reads(bucket: str) -> dict[str, Any]:
    """An inline policy that reads the bucket."""
    return doc(
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        }
    )


def list_only(bucket: str) -> dict[str, Any]:
    """The same policy with its s3:GetObject removed."""
    return doc(
        {"Sid": "Read", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
    )


def text(document: dict[str, Any]) -> str:
    """IAM and Organizations log documents as JSON strings."""
    return json.dumps(document)


def put_role_policy(
    account: str, when: str, role: str, name: str, document: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    return record(
        "iam.amazonaws.com",
        "PutRolePolicy",
        account,
        when,
        {"roleName": role, "policyName": name, "policyDocument": text(document)},
        **kw,
    )


def org_create_policy(
    account: str, when: str, policy_id: str, arn: str, name: str, document: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    content = text(document)
    return record(
        "organizations.amazonaws.com",
        "CreatePolicy",
        account,
        when,
        {"name": name, "description": name, "type": "SERVICE_CONTROL_POLICY", "content": content},
        {
            "policy": {
                "policySummary": {
                    "id": policy_id,
                    "description": name,
                    "type": "SERVICE_CONTROL_POLICY",
                    "awsManaged": False,
                    "arn": arn,
                    "name": name,
                },
                "content": content,
            }
        },
        **kw,
    )


def org_update_policy(
    account: str, when: str, policy_id: str, arn: str, name: str, document: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    content = text(document)
    return record(
        "organizations.amazonaws.com",
        "UpdatePolicy",
        account,
        when,
        {"content": content, "policyId": policy_id, "description": name, "name": name},
        {
            "policy": {
                "policySummary": {
                    "id": policy_id,
                    "description": name,
                    "type": "SERVICE_CONTROL_POLICY",
                    "awsManaged": False,
                    "arn": arn,
                    "name": name,
                },
                "content": content,
            }
        },
        **kw,
    )


def org_attach_policy(
    account: str, when: str, policy_id: str, target: str, *, detach: bool = False, **kw: Any
) -> dict[str, Any]:
    """Organizations' AttachPolicy (DetachPolicy with ``detach``): the same request."""
    return record(
        "organizations.amazonaws.com",
        "DetachPolicy" if detach else "AttachPolicy",
        account,
        when,
        {"targetId": target, "policyId": policy_id},
        None,
        **kw,
    )


def org_detach_policy(account: str, when: str, policy_id: str, target: str, **kw: Any) -> dict[str, Any]:
    return org_attach_policy(account, when, policy_id, target, detach=True, **kw)


def org_policy_type(
    account: str, when: str, root: str, policy_type: str, *, enable: bool, **kw: Any
) -> dict[str, Any]:
    """EnablePolicyType / DisablePolicyType: ``{rootId, policyType}``, answered with the root
    (its ``policyTypes`` as the public DisablePolicyType sample shows them)."""
    return record(
        "organizations.amazonaws.com",
        "EnablePolicyType" if enable else "DisablePolicyType",
        account,
        when,
        {"rootId": root, "policyType": policy_type},
        {
            "root": {
                "policyTypes": [{"status": "ENABLED", "type": policy_type}],
                "arn": f"arn:aws:organizations::{account}:root/o-abcdefghij/{root}",
                "name": "Root",
                "id": root,
            }
        },
        **kw,
    )


def put_bucket_policy(
    account: str, when: str, bucket: str, document: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    """S3 logs the policy as an object, with ``policy: [""]`` and the host."""
    return record(
        "s3.amazonaws.com",
        "PutBucketPolicy",
        account,
        when,
        {
            "bucketName": bucket,
            "bucketPolicy": document,
            "policy": [""],
            "Host": f"{bucket}.s3.us-east-1.amazonaws.com",
        },
        None,
        **kw,
    )


def get_object_denied(
    account: str,
    when: str,
    role: str,
    bucket: str,
    key: str,
    event_id: str,
    access_key: str = "ASIAEXAMPLE",
    session: str = "worker",
) -> dict[str, Any]:
    """A denied s3:GetObject by a session of ``role`` (signed with ``access_key``)."""
    identity = actor(account, role, session)
    identity["accessKeyId"] = access_key
    return record(
        "s3.amazonaws.com",
        "GetObject",
        account,
        when,
        {"bucketName": bucket, "key": key, "Host": f"{bucket}.s3.us-east-1.amazonaws.com"},
        None,
        identity=identity,
        error_code="AccessDenied",
        event_id=event_id,
    )


def with_message(denied: dict[str, Any], ending: str) -> dict[str, Any]:
    """A ``get_object_denied`` record with the detailed message AWS now writes ("User: …
    is not authorized to perform: s3:GetObject on resource: "…" ``ending``")."""
    params = denied["requestParameters"]
    resource = f"arn:aws:s3:::{params['bucketName']}/{params['key']}"
    denied["errorMessage"] = (
        f"User: {denied['userIdentity']['arn']} is not authorized to perform: s3:GetObject "
        f'on resource: "{resource}" {ending}'
    )
    return denied


def assume_role(
    account: str,
    when: str,
    role: str,
    session: str,
    access_key: str,
    *,
    policy: dict[str, Any] | str | None = None,
    policy_arns: tuple[str, ...] = (),
    packed: int | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """A successful AssumeRole of ``role`` that made the session ``access_key``, with the
    session policies passed (``policy`` logged as a JSON string, ``policyArns`` as
    ``[{"arn": ...}]``; ``packedPolicySize`` when policies were passed)."""
    request: dict[str, Any] = {
        "roleArn": f"arn:aws:iam::{account}:role/{role}",
        "roleSessionName": session,
        "durationSeconds": 3600,
    }
    if policy is not None:
        request["policy"] = policy if isinstance(policy, str) else text(policy)
    if policy_arns:
        request["policyArns"] = [{"arn": arn} for arn in policy_arns]
    response: dict[str, Any] = {
        "credentials": {
            "accessKeyId": access_key,
            "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
            "expiration": "Nov 24, 2026, 11:00:00 PM",
        },
        "assumedRoleUser": {
            "assumedRoleId": f"AROAEXAMPLE:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        },
    }
    if packed is None and (policy is not None or policy_arns):
        packed = 6
    if packed is not None:
        response["packedPolicySize"] = packed
    event = record("sts.amazonaws.com", "AssumeRole", account, when, request, response, **kw)
    event["resources"] = [
        {"ARN": f"arn:aws:iam::{account}:role/{role}", "accountId": account, "type": "AWS::IAM::Role"}
    ]
    return event
