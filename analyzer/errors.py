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


class MissingAccountError(SnapshotError):
    """A request names an account the snapshot does not cover."""


class MissingPrincipalError(SnapshotError):
    """A request's principal is not in its account's authorization details."""


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
_TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "SlowDown", "RequestThrottled", "ServiceUnavailable",
    "ServiceUnavailableException", "InternalError", "InternalFailure", "InternalServerError",
    "RequestTimeout", "RequestTimeoutException", "ProvisionedThroughputExceededException",
})


def is_transient(error: BaseException) -> bool:
    """Whether retrying might help: throttling and network trouble, never bad input.

    The one place retries (Prefect's ``retry_condition_fn``) decide what to retry;
    botocore's own adaptive retries handle the same codes inside each client.
    """
    if isinstance(error, AnalyzerError):
        return False
    code = getattr(error, "response", {}).get("Error", {}).get("Code") if hasattr(
        error, "response") else None
    if code in _TRANSIENT_CODES:
        return True
    text = str(error)
    if any(name in text for name in ("ThrottlingException", "TooManyRequests", "SlowDown",
                                     "Rate exceeded")):
        return True
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return False
    return isinstance(error, ConnectionError | TimeoutError | OSError) or type(
        error).__name__ in ("EndpointConnectionError", "ConnectionClosedError",
                            "ReadTimeoutError", "ConnectTimeoutError")
