"""The typed errors the analyzer raises.

Every error a user can cause (a malformed policy, a bad case file) is an
``AnalyzerError`` carrying a message that names *what* is wrong and *where*;
the CLI prints that one line and exits 1 instead of showing a traceback.
"""


class AnalyzerError(Exception):
    """Base of every error caused by bad input rather than by a bug."""


class PolicyParseError(AnalyzerError):
    """A policy document does not follow AWS's policy grammar."""


class UnsupportedOperator(PolicyParseError):
    """A condition block uses an operator AWS does not define."""


class CaseError(AnalyzerError):
    """An evaluation case (see spec/cases.md) is malformed."""


class SnapshotError(AnalyzerError):
    """A policy snapshot (spec/snapshot.md) or scp_data.json file is unreadable or malformed."""


class CollectorError(AnalyzerError):
    """Collecting from AWS failed as a whole (no credentials, no usable account)."""


class EventParseError(AnalyzerError):
    """A CloudTrail file or record cannot be read (not CloudTrail, truncated, malformed).

    Readers report these per file and record and go on with the rest; the
    message names the file and, when known, the record index.
    """


class SuppressionError(AnalyzerError):
    """A suppression file (expected denials) is unreadable or malformed; names the file and rule."""


class ReportError(AnalyzerError):
    """The pipeline's result tables cannot be read for a report (missing folder, wrong columns)."""


class PipelineError(AnalyzerError):
    """A pipeline run cannot proceed (bad settings, no readable logs...)."""


# Error codes AWS returns when a call may succeed if simply tried again.
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "ProvisionedThroughputExceededException",
    }
)


def is_transient(error: BaseException) -> bool:
    """Whether retrying might help: throttling and network trouble, never bad input.

    The one place retries (Prefect's ``retry_condition_fn``) decide what to retry;
    botocore's own adaptive retries handle the same codes inside each client.
    """
    if isinstance(error, AnalyzerError):
        return False
    code = getattr(error, "response", {}).get("Error", {}).get("Code") if hasattr(error, "response") else None
    if code in _TRANSIENT_CODES:
        return True
    text = str(error)
    if any(name in text for name in ("ThrottlingException", "TooManyRequests", "SlowDown", "Rate exceeded")):
        return True
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return False
    return isinstance(error, ConnectionError | TimeoutError | OSError) or type(error).__name__ in (
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
    )


# What to check for each kind of AWS failure: the options and variables the tool honours.
_PROFILE_HINT = "pass --profile NAME (or set AWS_PROFILE) for credentials that can read it"
_HINTS = {
    "NoCredentialsError": "no AWS credentials were found: " + _PROFILE_HINT,
    "PartialCredentialsError": "the AWS credentials are incomplete: " + _PROFILE_HINT,
    "CredentialRetrievalError": "the AWS credentials could not be obtained: " + _PROFILE_HINT,
    "ProfileNotFound": "check --profile / AWS_PROFILE against ~/.aws/config",
    "EndpointConnectionError": "check the network, and AWS_ENDPOINT_URL if you set one",
    "ConnectTimeoutError": "check the network, and AWS_ENDPOINT_URL if you set one",
    "NoSuchBucket": "check the bucket name in the path",
    "AccessDenied": "the credentials may not read or write it: check --profile / AWS_PROFILE",
    "Forbidden": "the credentials may not read or write it: check --profile / AWS_PROFILE",
    "403": "the credentials may not read or write it: check --profile / AWS_PROFILE",
    "InvalidAccessKeyId": "the access key is unknown: check --profile / AWS_PROFILE, and "
    "AWS_ENDPOINT_URL if the data is not on AWS",
    "SignatureDoesNotMatch": "the secret key is wrong: check --profile / AWS_PROFILE",
    "ExpiredToken": "the session expired: renew it (aws sso login) or pass another --profile",
}


def aws_problem(error: BaseException) -> str | None:
    """One line naming AWS's error and what to check, or None when no AWS error caused ``error``.

    Follows the cause chain (s3fs raises ``PermissionError`` from botocore's
    ``ClientError``), so the line names AWS's own code and message rather than a
    wrapper's; classes are recognised by name so this module imports no botocore.
    """
    seen: BaseException | None = error
    while seen is not None:
        name = type(seen).__name__
        response = getattr(seen, "response", None)
        if isinstance(response, dict) and "Error" in response:
            code = str(response["Error"].get("Code", ""))
            message = response["Error"].get("Message") or str(seen)
            hint = _HINTS.get(code, "check --profile / AWS_PROFILE and AWS_ENDPOINT_URL")
            return f"AWS error {code}: {message} ({hint})"
        if name in _HINTS:
            return f"{name}: {seen} ({_HINTS[name]})"
        seen = seen.__cause__ or seen.__context__
    return None
