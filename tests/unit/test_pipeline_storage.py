"""Outputs are written atomically: a write that is interrupted (Ctrl-C ends a pool worker
with ``SystemExit`` mid-write) leaves neither the target nor its temporary file behind."""

from __future__ import annotations

import os

import pytest

from analyzer.pipeline import storage


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
