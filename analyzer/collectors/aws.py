"""boto3 sessions, clients, retries and error classification for the collectors.

* Sessions honour ``--profile``, the standard credential chain and
  ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` (botocore >= 1.31.57 reads
  them itself, also for sessions built from assumed-role credentials).
* Every client retries throttling and transient errors with botocore's
  adaptive mode (client-side rate limiting plus exponential backoff):
  https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
* ``classify`` decides in one place which failures are *gaps* (access denied,
  a service not enabled in a region, retries exhausted): they are recorded in
  the snapshot and reported, never fatal.
* Off EC2 the instance-metadata credential lookup waits on timeouts; sessions
  give it ``IMDS_TIMEOUT`` and one attempt (unless the user configured
  ``metadata_service_timeout``), so finding *no* credentials is quick
  (``has_credentials``) and ``analyze`` can fall back to message-only mode.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from analyzer.arn import Arn
from analyzer.errors import CollectorError
from analyzer.snapshot.model import Gap

DEFAULT_REGION = "us-east-1"
MAX_ATTEMPTS = 8  # unless AWS_MAX_ATTEMPTS says otherwise, as for the AWS CLI
# Seconds, whole: botocore reads the setting through int(), and 0.25 became 0, which
# urllib3 refuses, so an EC2 instance's role was never found (found by a held-out probe).
IMDS_TIMEOUT = 1
ACCESS_ERRORS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnauthorizedAccess",
        "Forbidden",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "AccessDeniedForDependencyException",
        "AWSOrganizationsNotInUseException",
        "SubscriptionRequiredException",
        "OptInRequired",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)


def client_config() -> Config:
    """A fresh config per client (botocore rewrites ``retries`` in place)."""
    retries: dict[str, Any] = {"mode": "adaptive"}
    if not os.environ.get("AWS_MAX_ATTEMPTS"):  # else botocore reads it itself
        retries["total_max_attempts"] = MAX_ATTEMPTS
    return Config(
        retries=retries,
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="access-undenied",
        # One client per account and region serves every thread of the collector (16 by
        # default): urllib3's default pool of 10 warned "Connection pool is full" on stderr.
        max_pool_connections=32,
    )


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def is_access_error(error: BaseException) -> bool:
    return error_code(error) in ACCESS_ERRORS or "AccessDenied" in error_code(error)


def make_gap(
    error: BaseException,
    account: str | None,
    service: str,
    operation: str,
    region: str | None = None,
    resource: str | None = None,
    policy_type: str | None = None,
) -> Gap:
    """The gap a failed call leaves in the snapshot."""
    message = str(error)
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message") or message)
    return Gap(account, service, operation, error_code(error), message[:500], region, resource, policy_type)


# Every failure AWS or the network can cause, which a collector records as a gap (or live
# mode as an unknown part) instead of stopping: AWS's errors, botocore's (connections
# dropped, retries spent), and an answer botocore cannot parse (an HTML error page from a
# proxy), which botocore raises outside its own exception tree.
AWS_FAILURES: tuple[type[Exception], ...] = (ClientError, BotoCoreError, ResponseParserError)


def base_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A session from ``--profile`` or the default credential chain (with a short
    instance-metadata timeout, see the module doc)."""
    core = botocore.session.get_session()
    if not os.environ.get("AWS_METADATA_SERVICE_TIMEOUT"):
        core.set_config_variable("metadata_service_timeout", IMDS_TIMEOUT)
        core.set_config_variable("metadata_service_num_attempts", 1)
    try:
        session = boto3.Session(botocore_session=core, profile_name=profile, region_name=region)
    except BotoCoreError as error:  # e.g. ProfileNotFound
        raise CollectorError(f"AWS profile {profile!r}: {error}") from None
    return session


def has_credentials(session: boto3.Session) -> bool:
    """Whether the credential chain yields credentials; makes no AWS call (at most the
    short instance-metadata lookup), and a broken chain counts as none."""
    try:
        return session.get_credentials() is not None
    except Exception:  # any failure of the chain means: no usable credentials
        return False


class Account:
    """One account's session and thread-safe client cache (``Session.client`` is not
    thread-safe; clients are)."""

    def __init__(self, account_id: str, session: boto3.Session, partition: str = "aws"):
        self.account_id = account_id
        self.session = session
        self.partition = partition
        self.region = session.region_name or DEFAULT_REGION
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.session.client(service, region_name=key[1], config=client_config())
            return self._clients[key]


def caller_account(session: boto3.Session) -> tuple[str, str]:
    """(account id, partition) of the credentials; a ``CollectorError`` when there are none."""
    try:
        identity = Account("", session).client("sts").get_caller_identity()
    except AWS_FAILURES as error:
        raise CollectorError(
            f"cannot call sts:GetCallerIdentity ({error_code(error)}: "
            f"{error}); check credentials, --profile and AWS_ENDPOINT_URL"
        ) from None
    caller = Arn.parse(identity["Arn"])
    return identity["Account"], caller.partition if caller else "aws"


def assume(base: Account, role_arn: str, session_name: str = "AccessUndenied") -> boto3.Session:
    """A session with the credentials of ``role_arn`` (raises ClientError on failure)."""
    credentials = base.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=base.region,
    )


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"
