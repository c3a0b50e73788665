"""Snapshots for the pipeline: read from a local path or s3://, identified by content."""

from __future__ import annotations

import gzip
import json
from typing import Any

from analyzer.errors import SnapshotError
from analyzer.pipeline.storage import filesystem
from analyzer.snapshot import Snapshot, load_snapshot, snapshot_from_dict


def read_snapshot(location: str, s3_options: dict[str, Any]) -> Snapshot:
    if not location.startswith("s3://"):
        return load_snapshot(location)
    fs, path = filesystem(location, s3_options)
    try:
        raw = fs.cat_file(path)
    except (OSError, FileNotFoundError) as error:
        raise SnapshotError(f"{location}: cannot read snapshot ({error})") from None
    try:
        data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (OSError, EOFError, ValueError) as error:
        raise SnapshotError(f"{location}: not a snapshot ({error})") from None
    return snapshot_from_dict(data, location)
