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
