"""What the readers yield: one raw CloudTrail event, or one problem, each with its origin.

Every record and every problem carries the file it came from and its index
in that file, so a message about a bad record can name both and the caller
can carry on with the rest (the spec's "names the file/record" rule).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One CloudTrail event as AWS wrote it, plus where it was read from.

    ``event`` is the raw event object (camelCase keys, as in S3 delivery);
    readers of other layouts (lookup-events, Athena Parquet) convert to it,
    so mapping code sees a single shape.
    """

    source: str
    index: int
    event: Mapping[str, Any]

    @property
    def error_code(self) -> str | None:
        code = self.event.get("errorCode")
        return code if isinstance(code, str) and code else None

    @property
    def is_denial(self) -> bool:
        return is_denial_code(self.error_code)

    @property
    def where(self) -> str:
        return f"{self.source}: record {self.index}"


@dataclass(frozen=True, slots=True)
class ReadProblem:
    """Why a file, or one record of it, could not be read.

    ``index`` is None when the whole file is the problem (missing, not
    JSON, truncated before the first record). ``event_id`` lets a user find
    the skipped event in their logs; it is read even from a record that is not
    valid JSON when its ``"eventID"`` field is intact.
    """

    source: str
    message: str
    index: int | None = None
    event_id: str | None = None  # the record's eventID, when one could be read from it

    def __str__(self) -> str:
        where = self.source if self.index is None else f"{self.source}: record {self.index}"
        if self.event_id:
            where += f" (eventID {self.event_id})"
        return f"{where}: {self.message}"


@dataclass(slots=True)
class ReadStats:
    """Counters a reader fills in as it goes (an accumulator, hence mutable).

    Non-denials are counted rather than reported one by one: a day of
    CloudTrail has millions of them.
    """

    files: int = 0
    events: int = 0
    denials: int = 0  # distinct: a copy of one already read is counted in ``duplicates``
    skipped_non_denials: int = 0
    problems: int = 0
    duplicates: int = 0
    duplicate_example: str | None = None  # the first eventID read twice, for the warning
    skipped_by_name: list[str] = field(default_factory=list)  # log_files.skipped_for_its_name


def duplicates_warning(count: int, example: str | None = None) -> str:
    """What ``analyze`` and ``run`` say of denied events read more than once, naming one of
    them so its copies can be found (the caller shows it as data)."""
    events = "1 denied event was" if count == 1 else f"{count:,} denied events were"
    return (
        f"{events} read more than once (same eventID"
        + (f", e.g. {example}" if example else "")
        + ": two trails delivering to the logs read, or copies of a log file); each is counted once"
    )


@dataclass(frozen=True, slots=True)
class DenialCodes:
    """AWS's access-denied error codes, from ``analyzer/data/denial_messages.json``: the
    readers test them here and the pipeline's SQL gets them rendered in
    (``analyzer.pipeline.queries``), so ``analyze`` and ``run`` agree on what a denial is."""

    exact: tuple[str, ...]  # lower-case; compared case-insensitively
    patterns: tuple[str, ...]  # regexes searched in the code, case-insensitively


@lru_cache(maxsize=1)
def denial_codes() -> DenialCodes:
    data = json.loads((resources.files("analyzer") / "data" / "denial_messages.json").read_text())
    codes = data["errorCodes"]
    return DenialCodes(
        tuple(dict.fromkeys(code.lower() for code in codes["exact"])), tuple(codes["patterns"])
    )


@lru_cache(maxsize=1)
def _compiled_patterns() -> tuple[re.Pattern[str], ...]:
    r"""The patterns as the pipeline's SQL reads them (RE2, in DuckDB and Athena), so both
    readers call the same codes denials: case folded and ``\w`` over ASCII only, and ``$``
    the end of the text, not also before a final newline (Python's reading let analyze
    explain "Sérvice.Forbidden" or "UnauthorizedOperation\n", which run left out unsaid)."""
    return tuple(
        re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern), re.IGNORECASE | re.ASCII)
        for pattern in denial_codes().patterns
    )


def is_denial_code(error_code: str | None) -> bool:
    """True when ``errorCode`` is one of AWS's access-denied codes.

    The exact codes and the patterns for service-prefixed variants
    (``KMS.AccessDeniedException``, ``Client.UnauthorizedOperation``...) live in
    ``analyzer/data/denial_messages.json`` so a new code is a data change.
    """
    if not error_code:
        return False
    if error_code.lower() in denial_codes().exact:
        return True
    return any(pattern.search(error_code) for pattern in _compiled_patterns())
