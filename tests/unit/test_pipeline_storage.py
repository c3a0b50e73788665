"""Storage: the log files a folder holds are found by name or content, and outputs are
written atomically: a write that is interrupted (Ctrl-C ends a pool worker with
``SystemExit`` mid-write) leaves neither the target nor its temporary file behind."""

from __future__ import annotations

import gzip
import json
import os
from datetime import date
from pathlib import Path

import fsspec
import fsspec.implementations.local
import pytest

from analyzer.events import iter_files
from analyzer.events.log_files import kind_by_content
from analyzer.pipeline import storage
from analyzer.pipeline.storage import list_logs


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def interrupted(_descriptor: int) -> None:
        raise SystemExit(130)

    monkeypatch.setattr(storage.os, "fsync", interrupted)
    with pytest.raises(SystemExit):
        storage.write_atomically(str(tmp_path), "part.parquet", b"rows", {})
    assert list(tmp_path.iterdir()) == []


def test_a_write_replaces_the_target_in_one_step(tmp_path):
    (tmp_path / "part.parquet").write_bytes(b"old")
    written = storage.write_atomically(str(tmp_path), "part.parquet", b"new", {})
    assert written == os.path.join(tmp_path, "part.parquet")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["part.parquet"]
    assert (tmp_path / "part.parquet").read_bytes() == b"new"


def _folder_of_logs(root: Path) -> dict[str, bytes]:
    """Files as a folder of logs holds them; the value is the content."""
    records = json.dumps({"Records": []}).encode()
    files = {
        "AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/24/a.json.gz": gzip.compress(records),
        "exports/events.ndjson": b'{"eventSource": "s3.amazonaws.com"}\n',
        "exports/events-no-extension": b'  {"Records": []}',
        "unload/20261124_100000_00001_abcde": b"PAR1 then the rest of a Parquet file",
        "unload/_SUCCESS": b"",
        "unload/.part.crc": b"PAR1",
        "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2026/11/24/d.json.gz": gzip.compress(b"{}"),
        "README.md": b"# notes",
        # A central logging bucket: other services deliver beside the trail, not CloudTrail events.
        "AWSLogs/111111111111/Config/us-east-1/2026/11/24/ConfigSnapshot/c.json.gz": gzip.compress(b"{}"),
        "AWSLogs/111111111111/elasticloadbalancing/us-east-1/2026/11/24/e.log.gz": gzip.compress(b"h2 x"),
        "AWSLogs/111111111111/CloudTrail-Insight/us-east-1/2026/11/24/i.json.gz": gzip.compress(records),
        # Hidden and "_" folders (an archive, Spark's scratch, a Delta log) are never read,
        # and files named like logs but hidden or "_"-first are left out and said.
        "exports/.archive/2026/11/24/old.json": records,
        "exports/_temporary/2026/11/24/part.json": records,
        "exports/_delta_log/00000.json": b'{"commitInfo": {}}',
        "exports/_cloudtrail_export.json": records,
        "exports/.events.jsonl.gz": gzip.compress(b"{}"),
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return files


def test_a_log_is_found_by_its_name_or_its_content(tmp_path):
    """Athena UNLOAD writes Parquet with no extension and `.ndjson` is JSON Lines: listing by
    suffix alone used to skip both without a word. Digests, markers, notes and other services'
    logs in the AWSLogs layout (each used to be one more "not CloudTrail" problem) stay out."""
    _folder_of_logs(tmp_path)
    logs = list_logs(str(tmp_path), {}, None, None)
    assert sorted(Path(p).relative_to(tmp_path).as_posix() for p in logs.json) == [
        "AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/24/a.json.gz",
        "exports/events-no-extension",
        "exports/events.ndjson",
    ]
    assert [Path(p).relative_to(tmp_path).as_posix() for p in logs.parquet] == [
        "unload/20261124_100000_00001_abcde"
    ]
    assert sorted(Path(p).relative_to(tmp_path).as_posix() for p in logs.skipped) == [
        "exports/.events.jsonl.gz",
        "exports/_cloudtrail_export.json",
    ]
    # analyze's file reader picks the same files and says the same of the others, and so
    # does a listing a folder at a time (a window): the same folders are left out.
    skipped: list[str] = []
    picked = sorted(
        p.relative_to(tmp_path).as_posix() for p in iter_files(tmp_path, skipped) if isinstance(p, Path)
    )
    assert picked == sorted(Path(p).relative_to(tmp_path).as_posix() for p in logs.json + logs.parquet)
    assert sorted(skipped) == sorted(logs.skipped)
    windowed = list_logs(str(tmp_path), {}, date(2026, 11, 1), date(2026, 12, 1))
    assert (windowed.json, windowed.parquet, windowed.skipped) == (logs.json, logs.parquet, logs.skipped)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"PAR1\x15\x04", "parquet"),
        (b"\x1f\x8b\x08\x00", "json"),
        (b'\xef\xbb\xbf\r\n {"Records": [', "json"),
        (b"[{", "json"),
        (b"eventVersion,eventTime", None),
        (b"", None),
    ],
)
def test_a_file_kind_by_its_first_bytes(head, kind):
    assert kind_by_content(head) == kind


class _Listing(fsspec.implementations.local.LocalFileSystem):
    """The local filesystem, remembering every folder it was asked to list."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: list[str] = []

    def ls(self, path, detail=True, **kwargs):
        self.listed.append(str(path))
        return super().ls(path, detail=detail, **kwargs)


def test_a_window_lists_only_the_folders_of_its_days(tmp_path, monkeypatch):
    """A nightly run on a bucket with a year of logs must not list every object of the year:
    the walk opens only the years, months and days of the window, and no other service's
    folder. The files it keeps are those a whole-tree listing keeps."""
    trail = "AWSLogs/o-abc123/111111111111/CloudTrail/us-east-1"
    files = {
        f"{trail}/2025/12/31/a.json.gz",
        f"{trail}/2026/10/02/b.json.gz",
        f"{trail}/2026/11/23/c.json.gz",
        f"{trail}/2026/11/24/d.json.gz",
        f"{trail}/2026/11/25/e.json.gz",
        "AWSLogs/o-abc123/111111111111/Config/us-east-1/2026/11/24/f.json.gz",
        "athena/dt=2026-11-24/g.parquet",
        "athena/dt=2026-11-26/h.parquet",
        "glue/year=2026/month=11/day=24/i.parquet",
        "glue/year=2026/month=12/day=1/j.parquet",
        "loose/k.json",
    }
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"PAR1" if name.endswith(".parquet") else b"{}")
    spy = _Listing()
    monkeypatch.setattr(storage, "filesystem", lambda location, options: (spy, str(tmp_path)))
    since, until = date(2026, 11, 24), date(2026, 11, 25)
    logs = list_logs(str(tmp_path), {}, since, until)
    kept = sorted(Path(p).relative_to(tmp_path).as_posix() for p in logs.json + logs.parquet)
    assert kept == [
        f"{trail}/2026/11/24/d.json.gz",
        "athena/dt=2026-11-24/g.parquet",
        "glue/year=2026/month=11/day=24/i.parquet",
        "loose/k.json",
    ]
    listed = {Path(p).relative_to(tmp_path).as_posix() for p in spy.listed if p != str(tmp_path)}
    assert {f"{trail}/2025", f"{trail}/2026/10", f"{trail}/2026/11/23", "athena/dt=2026-11-26"}.isdisjoint(
        listed
    )
    assert not any("/Config" in folder or "month=12" in folder for folder in listed)
    assert f"{trail}/2026/11/24" in listed
    # the same files as listing the whole tree and filtering by day
    monkeypatch.setattr(
        storage, "filesystem", lambda location, options: (fsspec.filesystem("file"), str(tmp_path))
    )
    whole = storage.list_logs(str(tmp_path), {}, None, None)
    by_day = [
        p
        for p in whole.json + whole.parquet
        if (day := storage._day("/" + p)) is None or since <= day < until
    ]
    assert sorted(Path(p).relative_to(tmp_path).as_posix() for p in by_day) == kept
