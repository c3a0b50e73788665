"""Which files in a folder of logs are CloudTrail logs, decided once for ``analyze``'s
file reader and the pipeline's listing (local or S3).

A file is read when its name says it is a log (``.json``, ``.json.gz``, ``.jsonl``,
``.ndjson``, ``.parquet``...) or, whatever its name, when its first bytes are JSON, gzip
or Parquet: Athena's UNLOAD and CTAS write Parquet objects with no extension, and a log
exported by hand may be called anything. Skipping those by name would lose valid events
without a word. Hidden files and folders, ``_SUCCESS``-like markers and ``_``-first
folders (``_temporary``, ``_delta_log``), and ``CloudTrail-Digest`` files (signed hashes,
not events) are never read; a file left out for its name although named like a log is said.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

LogKind = Literal["json", "parquet"]

LOG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz", ".parquet")
DIGEST_FOLDER = "CloudTrail-Digest"
TRAIL_FOLDER = "CloudTrail"
# AWSLogs/[o-xxxxxxxxxx/]<account>/<service>/...: the layout AWS services deliver logs in.
_DELIVERY_FOLDER = re.compile(r"/AWSLogs/(?:o-[a-z0-9]+/)?\d{12}/(?P<service>[^/]+)/")
# Enough of a file's start to tell its kind: Parquet's magic, gzip's, or JSON after
# leading whitespace and a byte-order mark.
HEAD_BYTES = 64
# CloudTrail's own names for what it delivers: AccountID_CloudTrail_Region_YYYYMMDDTHHmmZ_Unique.json.gz
# (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html).
DELIVERY_NAME = re.compile(r"\d{12}_CloudTrail_[a-z0-9-]+_(?P<delivered>\d{8}T\d{4})Z_\w+\.json\.gz")


def never_read(path: str) -> bool:
    """Hidden files, markers such as ``_SUCCESS``, anything under ``CloudTrail-Digest``, and
    in the ``AWSLogs/`` layout every other service's folder: a central logging bucket also
    holds AWS Config snapshots (JSON), load-balancer, VPC flow and CloudTrail Insights logs
    under ``AWSLogs/<account>/<service>/``, which are not the trail's events."""
    path = path.replace("\\", "/")
    name = path.rsplit("/", 1)[-1]
    return name.startswith((".", "_")) or _not_the_trails(path)


def _not_the_trails(path: str) -> bool:
    """Under ``CloudTrail-Digest`` or another service's ``AWSLogs/`` folder."""
    if f"/{DIGEST_FOLDER}/" in f"/{path}" or DIGEST_FOLDER in path.rsplit("/", 1)[-1]:
        return True
    delivered = _DELIVERY_FOLDER.search(f"/{path}")
    return delivered is not None and delivered.group("service") != TRAIL_FOLDER


def skipped_for_its_name(path: str) -> bool:
    """A file ``never_read`` leaves out for its name alone (hidden, or ``_`` first) although
    the name is a log's (``_export.json``, ``.events.jsonl.gz``): left out, as markers and
    tools' metadata must be, but said (``skipped_warning``), so a log named so does not
    vanish without a word. ``_SUCCESS`` and other names without a log's suffix are not."""
    path = path.replace("\\", "/")
    name = path.rsplit("/", 1)[-1]
    return name.startswith((".", "_")) and kind_by_name(name) is not None and not _not_the_trails(path)


def skipped_warning(paths: Sequence[str]) -> str:
    """What ``analyze`` and ``run`` say of the files ``skipped_for_its_name`` left out."""
    return (
        f"{len(paths):,} file(s) named like a log left out for a name starting with '.' or '_' "
        f"(hidden files, markers and tools' metadata), e.g. {paths[0]}: give a file by name to read it"
    )


def in_skipped_folder(root: str, path: str) -> bool:
    """Whether a folder between ``root`` (a walk's start) and the file ``path`` is one
    ``never_read_folder`` leaves out: every walk skips the same folders, whether it lists
    the tree a level at a time or all at once, and whatever folders ``root`` itself is in."""
    root, path = root.replace("\\", "/").rstrip("/"), path.replace("\\", "/")
    folder = root
    for part in path[len(root) :].strip("/").split("/")[:-1]:
        folder = f"{folder}/{part}"
        if never_read_folder(folder):
            return True
    return False


@lru_cache(maxsize=4096)  # asked once per file and folder level of a whole-tree listing
def never_read_folder(path: str) -> bool:
    """A folder whose files ``never_read`` would all leave out, so a walk need not list it."""
    path = path.replace("\\", "/").rstrip("/")
    name = path.rsplit("/", 1)[-1]
    return name.startswith((".", "_")) or name == DIGEST_FOLDER or never_read(f"{path}/file.json.gz")


def kind_by_name(path: str) -> LogKind | None:
    """The kind a log file's name declares, or None when the name does not say."""
    name = path.lower()
    if not name.endswith(LOG_SUFFIXES):
        return None
    return "parquet" if name.endswith(".parquet") else "json"


def kind_by_content(head: bytes) -> LogKind | None:
    """The kind of a file from its first ``HEAD_BYTES`` bytes, or None when it is neither
    JSON (plain or gzip) nor Parquet."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\x1f\x8b"):
        return "json"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return "json" if text[:1] in (b"{", b"[") else None


def log_kind(path: str, head: Callable[[], bytes]) -> LogKind | None:
    """Whether ``path`` is read, and as what: by its name, else by ``head()`` (its first
    bytes, read only when the name does not say)."""
    if never_read(path):
        return None
    return kind_by_name(path) or kind_by_content(head())


def delivered_at(path: str) -> datetime | None:
    """When CloudTrail delivered a file, from its name, or None for another name."""
    match = DELIVERY_NAME.fullmatch(path.rsplit("/", 1)[-1])
    if match is None:
        return None
    try:
        return datetime.strptime(match["delivered"], "%Y%m%dT%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None
