"""Checks of a run's local locations, made before any Prefect machinery starts.

A missing logs folder, an unreadable or invalid snapshot or suppression file
and an output folder that cannot be created or written are the user's mistakes, not the pipeline's: they are
reported in one line within a second, instead of after Prefect's server has
booted and the flow has started. ``s3://`` locations are checked by the run's
first read (reaching S3 needs credentials and the network; that is the run).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from analyzer.errors import PipelineError
from analyzer.pipeline.settings import PipelineSettings


def _is_remote(location: str) -> bool:
    return location.startswith("s3://")


def check_logs(location: str) -> None:
    if _is_remote(location):
        return
    path = Path(location)
    if not path.exists():
        raise PipelineError(f"{location}: no such file or folder (--logs)")
    if not os.access(path, os.R_OK):
        raise PipelineError(f"{location}: not readable (--logs)")


def check_snapshot(location: str, option: str = "--snapshot") -> None:
    """A SnapshotError naming the file if it is not a policy snapshot."""
    from analyzer.snapshot import load_snapshot

    if _is_remote(location):
        return
    if not Path(location).is_file():
        raise PipelineError(f"{location}: no such snapshot file ({option})")
    load_snapshot(location)


def check_output(location: str) -> None:
    """The output folder exists as a folder, or can be created where it is, and takes files.

    Permission bits do not say it all (root may write anything they allow, yet not create a
    folder in /proc, nor on a read-only mount), so the missing folders are created and a file
    written and removed in the last; the folders the check created are removed again, so a
    run refused by a later check leaves none behind (the run creates them when it writes).
    """
    if _is_remote(location):
        return
    path = Path(location).absolute()
    if path.exists() and not path.is_dir():
        raise PipelineError(f"{location}: exists and is not a folder (--out)")
    existing, missing = path, []
    while not existing.exists():
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise PipelineError(f"{location}: {existing} is not a folder (--out)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PipelineError(f"{location}: {existing} is not writable (--out)")
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:  # made meanwhile by someone else: theirs to keep
                continue
            except OSError as error:
                raise PipelineError(
                    f"{location}: cannot create {folder}: {error.strerror or error} (--out)"
                ) from None
            created.append(folder)
        try:
            _probe_write(path)
        except OSError as error:
            raise PipelineError(
                f"{location}: {path} is not writable: {error.strerror or error} (--out)"
            ) from None
    finally:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _probe_write(folder: Path) -> None:
    """Write a file in ``folder`` and remove it (hidden, so a reader would skip one left over)."""
    handle, name = tempfile.mkstemp(prefix=".access-undenied-check-", dir=folder)
    os.close(handle)
    os.unlink(name)


def check_locations(settings: PipelineSettings) -> None:
    """Every local location of the run, cheapest first."""
    if settings.source == "duckdb":
        check_logs(settings.logs)
    check_output(settings.out)
    if settings.suppressions:
        from analyzer.suppressions import load_suppressions

        load_suppressions(settings.suppressions)
    check_snapshot(settings.snapshot)
    for snapshot in settings.earlier_snapshots:
        check_snapshot(snapshot, "--earlier-snapshot")
