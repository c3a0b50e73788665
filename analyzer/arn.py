"""Amazon Resource Names: parsed once, into typed fields.

An ARN is ``arn:partition:service:region:account-id:resource``, where the resource is
``resource-type/resource-id``, ``resource-type:resource-id`` or only ``resource-id``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html). Only the first five
colons separate fields: the resource may hold colons of its own (``function:f:alias``) and
slashes (``role/path/name``, an S3 object key). Every place that takes an ARN apart uses
this type, so the rules (which segment is the account, when a resource has a type) live in
one place.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>[^:]*):(?P<region>[^:]*):"
    r"(?P<account>[^:]*):(?P<resource>.*)$",
    re.DOTALL,
)
# ASCII digits only (``\d`` also takes other scripts' digits) and no trailing newline (``$``
# allows one): used with fullmatch.
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
# Services whose resource part is a bare name (a bucket and key, a queue, a topic): a slash or
# colon in it belongs to the name, not to a resource type.
_UNTYPED = frozenset({"s3", "sqs", "sns"})


@dataclass(frozen=True, slots=True)
class Arn:
    """One ARN's fields, exactly as written (no case folding: ARNs are case-sensitive)."""

    partition: str
    service: str
    region: str
    account: str  # a 12-digit id, "aws" for AWS-owned resources, or "" (S3, IAM-global)
    resource: str  # everything after the fifth colon

    @classmethod
    def parse(cls, text: str) -> Arn | None:
        """The ARN ``text`` holds, or None when it is not one (``*``, a name, a service)."""
        match = _ARN.match(text)
        return cls(**match.groupdict()) if match else None

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def account_id(self) -> str | None:
        """The customer account that owns the resource, when the ARN names one."""
        return self.account if is_account_id(self.account) else None

    @property
    def is_aws_owned(self) -> bool:
        """An AWS-owned resource, such as an AWS managed policy (``arn:aws:iam::aws:policy/...``)."""
        return self.account == "aws"

    def _split(self) -> tuple[str, str]:
        if self.service in _UNTYPED:
            return "", self.resource
        cut = min((i for i in (self.resource.find("/"), self.resource.find(":")) if i >= 0), default=-1)
        return ("", self.resource) if cut < 0 else (self.resource[:cut], self.resource[cut + 1 :])

    @property
    def resource_type(self) -> str:
        """``role`` of ``role/path/name``, ``function`` of ``function:f``; empty for a bare name."""
        return self._split()[0]

    @property
    def resource_id(self) -> str:
        """What follows the resource type (``path/name``, ``f:alias``), or the whole resource."""
        return self._split()[1]

    @property
    def bucket(self) -> str | None:
        """For S3, the bucket an object or bucket ARN names."""
        return self.resource.split("/", 1)[0] if self.service == "s3" else None

    @property
    def policy_holder(self) -> Arn:
        """The resource whose resource-based policy governs this one: an S3 object's bucket
        (a bucket policy covers its objects; an object takes none), else itself."""
        return self.with_resource(self.bucket) if self.bucket is not None else self

    def with_resource(self, resource: str) -> Arn:
        return Arn(self.partition, self.service, self.region, self.account, resource)


def is_account_id(text: str) -> bool:
    """Whether ``text`` is an AWS account id: exactly twelve digits 0-9."""
    return _ACCOUNT_ID.fullmatch(text) is not None


@cache
def _region_partitions() -> tuple[tuple[re.Pattern[str], str], ...]:
    """AWS's own region -> partition rules: botocore's ``data/partitions.json`` (the SDK's
    endpoint data, a pinned dependency), read without importing botocore, which ``analyze``
    must not pay for at start-up. The ``aws`` partition's pattern comes last: it is the
    broadest."""
    spec = importlib.util.find_spec("botocore")
    origin = spec.origin if spec is not None else None
    if origin is None:
        return ()
    path = Path(origin).parent / "data" / "partitions.json"
    try:
        partitions = json.loads(path.read_text())["partitions"]
        rules = [(re.compile(p["regionRegex"]), str(p["id"])) for p in partitions]
    except (OSError, ValueError, KeyError, TypeError, re.error):
        return ()
    return tuple(sorted(rules, key=lambda rule: rule[1] == "aws"))


def partition_of(arn: str | None, region: str | None = None) -> str:
    """The partition a request runs in: its caller ARN's, else its region's (``cn-*`` is
    ``aws-cn``, ``us-gov-*`` is ``aws-us-gov``, ``us-iso-*`` is ``aws-iso``, ... as AWS's
    endpoint data says), else ``aws``. Text that is not an ARN (``arn:`` alone, ``*``) says
    nothing about the partition."""
    parsed = Arn.parse(arn) if arn else None
    if parsed is not None:
        return parsed.partition
    if region:
        for pattern, partition in _region_partitions():
            if pattern.match(region):
                return partition
    return "aws"
