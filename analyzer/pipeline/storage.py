"""Files on a local disk or in S3, through one fsspec interface.

Listing finds CloudTrail log files (``analyzer/events/log_files.py`` decides which) and
prunes them by the day in their path (``YYYY/MM/DD`` in S3 delivery,
``dt=YYYY-MM-DD`` or ``year=/month=/day=`` in Parquet layouts) before DuckDB
reads anything. Writing is atomic: a Parquet file is written under a
temporary name and renamed (locally) or uploaded in one PUT (S3), so a reader
sees the old partition or the new one, never half of one.
"""

from __future__ import annotations

import calendar
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

import fsspec

from analyzer.errors import PipelineError, aws_problem, is_transient
from analyzer.events.log_files import (
    HEAD_BYTES,
    LogKind,
    delivered_at,
    in_skipped_folder,
    kind_by_content,
    kind_by_name,
    log_kind,
    never_read_folder,
    skipped_for_its_name,
)
from analyzer.results_file import replace_atomically

_LISTERS = 16  # folders listed at once (one LIST request each on S3)
_DAY_PATTERNS = (
    re.compile(r"/(\d{4})/(\d{2})/(\d{2})/"),
    re.compile(r"/dt=(\d{4})-(\d{2})-(\d{2})/"),
    re.compile(r"/year=(\d{4})/month=(\d{1,2})/day=(\d{1,2})/"),
)


def filesystem(location: str, s3_options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem for ``location`` and the path within it."""
    if location.startswith("s3://"):
        import s3fs

        return s3fs.S3FileSystem(**s3_options), location[len("s3://") :]
    return fsspec.filesystem("file"), os.path.abspath(location)


def qualified(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return f"s3://{path}" if _is_s3(fs) else path


def _is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol
    return "s3" in (protocol if isinstance(protocol, tuple | list) else (protocol,))


def _day(path: str) -> date | None:
    for pattern in _DAY_PATTERNS:
        match = pattern.search(path)
        if match:
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                return None
    return None


def _head(fs: fsspec.AbstractFileSystem, path: str) -> bytes:
    """A file's first bytes, in one ranged read (one GET on S3), to tell its kind."""
    try:
        return bytes(fs.cat_file(path, start=0, end=HEAD_BYTES))
    except OSError:
        return b"{"  # unreadable: list it, so reading names the problem


@dataclass(frozen=True)
class LogFiles:
    json: tuple[str, ...]
    parquet: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # left out for their names although named like logs

    @property
    def count(self) -> int:
        return len(self.json) + len(self.parquet)


def _folder_days(parts: list[str]) -> tuple[date, date] | None:
    """The first and last day (inclusive) a folder can hold files of, from the date in its
    path's last parts (``YYYY[/MM[/DD]]``, ``dt=YYYY-MM-DD``, ``year=/month=/day=``), or None
    when the path names no date."""
    named = dict(part.split("=", 1) for part in parts[-3:] if "=" in part)
    if "dt" in named and parts[-1].startswith("dt="):
        match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", named["dt"])
        numbers = [int(group) for group in match.groups()] if match else []
    elif parts[-1].startswith(("year=", "month=", "day=")):
        numbers = [int(named[key]) for key in ("year", "month", "day") if named.get(key, "").isdigit()]
    else:
        tail = parts[-3:]
        start = next((i for i, part in enumerate(tail) if re.fullmatch(r"(19|2\d)\d\d", part)), None)
        plain = tail[start:] if start is not None else []
        numbers = [int(part) for part in plain] if all(part.isdigit() for part in plain) else []
    try:
        if len(numbers) == 1:
            return date(numbers[0], 1, 1), date(numbers[0], 12, 31)
        if len(numbers) == 2:
            last = calendar.monthrange(numbers[0], numbers[1])[1]
            return date(numbers[0], numbers[1], 1), date(numbers[0], numbers[1], last)
        if len(numbers) == 3:
            day = date(*numbers)
            return day, day
    except ValueError:
        pass
    return None


def _wanted_folder(path: str, since: date | None, until: date | None) -> bool:
    if never_read_folder(path):
        return False
    days = _folder_days(path.rstrip("/").split("/"))
    return days is None or ((since is None or days[1] >= since) and (until is None or days[0] < until))


def _walk(fs: fsspec.AbstractFileSystem, root: str, since: date | None, until: date | None) -> list[str]:
    """The files under ``root``, listing only the folders that can hold the window's days.

    A whole-tree listing reads every object's name: on a trail's bucket after a year,
    hundreds of millions for one night's few hundred thousand. Folder by folder, a level at
    a time in bounded parallel, the years, months and days outside [since, until) and other
    services' folders are never listed.

    A symbolic link to a folder on a local disk is a folder (``analyze`` follows it too; it
    was opened as a file, failing the run); one leading back up the tree is listed once."""
    files: list[str] = []
    level = [root]
    local = not _is_s3(fs)
    seen = {os.path.realpath(root)} if local else set()
    with ThreadPoolExecutor(_LISTERS) as pool:
        while level:
            below: list[str] = []
            for entries in pool.map(partial(fs.ls, detail=True), level):
                for entry in entries:
                    name = entry["name"].rstrip("/")
                    linked = local and bool(entry.get("islink")) and fs.isdir(name)
                    if entry["type"] == "directory" or linked:
                        real = os.path.realpath(name) if local else name
                        if _wanted_folder(name, since, until) and real not in seen:
                            seen.add(real)
                            below.append(name)
                    else:
                        files.append(name)
            level = below
    return files


def list_logs(
    location: str,
    s3_options: dict[str, Any],
    since: date | None,
    until: date | None,
    delivered_by: datetime | None = None,
) -> LogFiles:
    """Every log file under ``location`` whose path day (if any) is in [since, until) and
    whose CloudTrail name (if it has one) says it was delivered by ``delivered_by``; with a
    window, folders of other days are not listed at all (``_walk``)."""
    fs, root = filesystem(location, s3_options)
    if not fs.exists(root):
        raise PipelineError(f"{location}: no such file or folder")
    if fs.isfile(root):
        paths = [root]
    elif since is None and until is None and _is_s3(fs):
        # One listing of the whole prefix: far fewer requests than a level at a time; the
        # folders _walk would not list are left out too.
        paths = sorted(path for path in fs.find(root) if not in_skipped_folder(root, path))
    else:
        paths = sorted(_walk(fs, root.rstrip("/"), since, until))
    keep_json: list[str] = []
    keep_parquet: list[str] = []
    skipped: list[str] = []
    for path in paths:
        day = _day("/" + path)
        if day is not None and ((since and day < since) or (until and day >= until)):
            continue
        delivered = delivered_at(path)
        if delivered_by is not None and delivered is not None and delivered > delivered_by:
            continue
        kind: LogKind | None
        if path == root:  # a file given by name is read whatever it holds; the reader says what
            kind = kind_by_name(path) or kind_by_content(_head(fs, path)) or "json"
        else:
            kind = log_kind(path, partial(_head, fs, path))
        if kind is not None:
            (keep_parquet if kind == "parquet" else keep_json).append(qualified(fs, path))
        elif skipped_for_its_name(path):
            skipped.append(qualified(fs, path))
    return LogFiles(tuple(keep_json), tuple(keep_parquet), tuple(skipped))


def write_atomically(location: str, relative: str, data: bytes, s3_options: dict[str, Any]) -> str:
    """Write ``data`` to ``location/relative``, replacing it in one step.

    A refused or failed write is a ``PipelineError`` naming the object (with AWS's error
    and what to check): the run's last line then says which write failed, not only that
    something under ``--out`` did. Throttling and network trouble are raised as they are,
    for the task's retries."""
    fs, root = filesystem(location, s3_options)
    target = f"{root.rstrip('/')}/{relative}"
    try:
        return _write(fs, target, data)
    except Exception as error:
        if is_transient(error):
            raise
        raise PipelineError(f"cannot write {qualified(fs, target)}: {aws_problem(error) or error}") from error


def _write(fs: fsspec.AbstractFileSystem, target: str, data: bytes) -> str:
    if _is_s3(fs):
        fs.pipe_file(target, data)  # a single PUT: S3 replaces objects atomically
        return qualified(fs, target)
    replace_atomically(target, data)  # a hidden temporary file beside it, renamed into place
    return target
