"""Write output files atomically: a JSON array of results incrementally (``ResultsFile``),
or a whole file at once (``replace_atomically``).

Results go to ``<file>.partial`` as they are produced (flushed one by one);
closing the writer finishes the array and renames the file into place. An
interrupted or failed run (Ctrl-C, an exception) removes the ``.partial`` file:
the output file exists only when it is complete (spec/interface.md, exit 130
"leaving no partial output"); a killed process leaves the ``.partial`` file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO


def replace_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place: a reader
    (or a full disk, or Ctrl-C, which ends a pool worker mid-write with ``SystemExit``) never
    leaves a half-written file where the old one was. The data reaches the disk before the
    rename, so a crash cannot leave the new name on an empty file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ResultsFile:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self._handle: TextIO | None = None
        self.count = 0

    def __enter__(self) -> ResultsFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.partial.open("w", encoding="utf-8")
        self._handle.write("[")
        self._handle.flush()
        return self

    def write(self, result: dict[str, Any]) -> None:
        assert self._handle is not None, "use ResultsFile as a context manager"
        self._handle.write(("," if self.count else "") + "\n" + json.dumps(result, indent=2))
        self._handle.flush()
        self.count += 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        assert self._handle is not None
        if kind is not None:  # interrupted or failed: leave no partial output behind
            self._handle.close()
            os.unlink(self.partial)
            return
        self._handle.write("\n]\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self.partial, self.path)
