"""Read CloudTrail from every layout AWS and its tools produce, streaming.

Accepted (spec/interface.md, "Accepted CloudTrail input"): a single event; ``{"Records":
[...]}`` (S3 delivery, console download); a JSON array of events; ``aws cloudtrail
lookup-events`` output (``{"Events": [{"CloudTrailEvent": "<json>"}]}``); EventBridge events
("AWS API Call via CloudTrail", the event in ``detail``); JSON Lines; gzip
of any of those; a directory tree in the S3 delivery layout
(``AWSLogs/[o-xxxx/]<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz``, digest files skipped);
and Parquet with the Athena CloudTrail table's columns.

Memory does not grow with the number of events: JSON is decoded one event at a
time from a sliding text buffer (``json.JSONDecoder.raw_decode``), Parquet one
row batch at a time. A file that cannot be read, or a record that is not an
event, becomes a ``ReadProblem`` naming the file and record, and reading goes on.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import re
import zlib
from collections.abc import Generator, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol

from analyzer.events.athena import AthenaRowError, athena_row_to_event
from analyzer.events.log_files import HEAD_BYTES, log_kind, never_read_folder, skipped_for_its_name
from analyzer.events.records import EventRecord, ReadProblem, ReadStats
from analyzer.untrusted import shortened

PathLike = str | os.PathLike[str]
ReadItem = EventRecord | ReadProblem

_CHUNK = 1 << 20
# One event larger than this is not CloudTrail (AWS caps events at 256 KB).
_MAX_VALUE = 64 << 20
# The longest JSON token that can be cut by a read boundary and still be reported
# by the decoder at its start: ``-Infinity`` (9) or a surrogate pair ``\uXXXX\uXXXX`` (12).
_LONGEST_TOKEN = 16
# A broken array stops being resynchronised after this many broken records in a row:
# by then the file is not CloudTrail with a few damaged records but something else.
_MAX_BROKEN_IN_A_ROW = 100
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_EVENT_ID = re.compile(r'"eventID"\s*:\s*"([^"\\\x00-\x1f]{1,128})"')
_DECODER = json.JSONDecoder()
_CONTAINERS = ("Records", "Events")
_EVENT_FIELDS = ("eventSource", "eventName")
_PARQUET_BATCH = 2048


class ByteStream(Protocol):
    """What the JSON reader reads from: a file, a ``GzipFile``, an S3 object (``read1`` is used
    when the stream has it, so a gzip stream hands over what it has decompressed so far)."""

    def read(self, size: int = -1, /) -> bytes: ...


class _Truncated(ValueError):
    """The text ended inside a JSON value."""


class _Broken(ValueError):
    """A JSON value is not valid; ``event_id`` is its eventID if the text still shows one."""

    def __init__(self, message: str, event_id: str | None = None) -> None:
        super().__init__(message)
        self.event_id = event_id


def _event_id_in(text: str) -> str | None:
    found = _EVENT_ID.search(text)
    return found.group(1) if found else None


class _JsonText:
    """A forward-only window on a text stream that decodes one JSON value at a time.

    Only the unread part of the text is kept, so memory is bounded by the
    largest single value, not by the file. Read boundaries fall anywhere (inside
    a string, an escape, a number or ``false``): a value the decoder rejects is
    decoded again with more text whenever the rejection could be the boundary's
    doing, and is reported as invalid only when more text cannot change that.
    """

    def __init__(self, stream: ByteStream, chunk: int = _CHUNK) -> None:
        # read1 hands over whatever is decompressed so far, so a truncated gzip
        # still yields the events before the damage.
        self._read = getattr(stream, "read1", stream.read)
        self._chunk = chunk
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._buffer = ""
        self._pos = 0
        self._eof = False

    def _fill(self) -> bool:
        """Append the next chunk, dropping consumed text; False at the end of the stream."""
        if self._eof:
            return False
        raw = self._read(self._chunk)
        data = self._decoder.decode(raw, final=not raw)
        if not raw:
            self._eof = True
            if not data:
                return False
        self._buffer = self._buffer[self._pos :] + data
        self._pos = 0
        if len(self._buffer) > _MAX_VALUE:
            raise ValueError(f"a single JSON value is larger than {_MAX_VALUE >> 20} MB")
        return True

    def peek(self) -> str | None:
        """The next non-blank character (not consumed), or None at the end."""
        while True:
            blank = _WHITESPACE.match(self._buffer, self._pos)
            assert blank is not None  # the pattern matches the empty string anywhere
            self._pos = blank.end()
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill():
                return None

    def take(self, char: str) -> None:
        found = self.peek()
        if found != char:
            shown = "end of file" if found is None else repr(found)
            raise ValueError(f"expected {char!r}, found {shown}")
        self._pos += 1

    def _may_continue(self, error: json.JSONDecodeError) -> bool:
        """Could more text make this rejection go away? A value cut by the end of
        the buffer is rejected either at the start of an unterminated string or
        within the last token (``fa|lse``, ``\\u00|41``, ``1e+|5``)."""
        return error.msg.startswith("Unterminated string") or error.pos >= len(self._buffer) - _LONGEST_TOKEN

    def value(self) -> Any:
        """Decode the next JSON value, reading more text while it may be incomplete."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as error:
                if self._may_continue(error) and self._fill():
                    continue
                if self._eof and self._may_continue(error):
                    raise _Truncated("the file ends in the middle of a JSON value") from None
                raise _Broken(
                    f"invalid JSON ({_json_error(error)})", _event_id_in(self._buffer[self._pos : error.pos])
                ) from None
            except RecursionError:
                raise _Broken("JSON nested too deeply to be a CloudTrail event") from None
            # A number at the buffer's edge (top level only) may go on in the next chunk.
            at_edge = end > len(self._buffer) - _LONGEST_TOKEN and not isinstance(value, dict | list | str)
            if at_edge and self._fill():
                continue
            self._pos = end
            return value

    def skip_value(self) -> str | None:
        """Skip one value by its brackets and quotes alone, without judging its
        tokens, so that an array element with a bad literal or escape costs only
        itself. Returns the eventID the skipped text shows; raises ``_Truncated``
        when the brackets never close."""
        self.peek()
        depth, index, in_string, escaped = 0, self._pos, False, False
        while True:
            if index >= len(self._buffer):
                offset = index - self._pos
                if not self._fill():
                    raise _Truncated("the file ends in the middle of a JSON value")
                index = self._pos + offset
                continue
            char = self._buffer[index]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "[{":
                depth += 1
            elif char in "]}" or (char == "," and depth == 0):
                if depth == 0:
                    break  # the end of the enclosing array's element
                depth -= 1
            index += 1
        skipped = self._buffer[self._pos : index]
        self._pos = index
        return _event_id_in(skipped)

    def skip_line(self) -> str:
        """Drop text up to and including the next newline (resynchronise JSON Lines);
        returns the dropped text."""
        dropped = []
        while True:
            newline = self._buffer.find("\n", self._pos)
            if newline >= 0:
                dropped.append(self._buffer[self._pos : newline])
                self._pos = newline + 1
                return "".join(dropped)
            dropped.append(self._buffer[self._pos :])
            self._pos = len(self._buffer)
            if not self._fill():
                return "".join(dropped)


def _unwrap(item: Any) -> Any:
    """A lookup-events item carries the event as JSON text in ``CloudTrailEvent``; an
    EventBridge event ("AWS API Call via CloudTrail", as a rule's Lambda, SQS queue or
    Firehose archive receives it) carries it as the object in ``detail``. An event may
    also stand as JSON text itself: ``aws cloudtrail lookup-events --query
    'Events[*].CloudTrailEvent'`` prints an array of them."""
    if isinstance(item, dict) and isinstance(item.get("CloudTrailEvent"), str):
        return json.loads(item["CloudTrailEvent"])
    if isinstance(item, str) and item.lstrip().startswith("{"):
        return json.loads(item)
    if (
        isinstance(item, dict)
        and isinstance(item.get("detail"), dict)
        and "via CloudTrail" in str(item.get("detail-type", ""))
    ):
        return item["detail"]
    return item


def _json_kind(value: Any) -> str:
    """What JSON calls the value: ``null``, ``string``, ``number``, ``array``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else type(value).__name__


def _as_record(source: str, index: int, item: Any) -> ReadItem:
    try:
        event = _unwrap(item)
    except json.JSONDecodeError as error:
        text = item if isinstance(item, str) else item["CloudTrailEvent"]
        what = "the event's JSON text" if isinstance(item, str) else "CloudTrailEvent"
        return ReadProblem(source, f"{what} is not JSON ({error.msg})", index, _event_id_in(text))
    except RecursionError:
        return ReadProblem(source, "CloudTrailEvent is nested too deeply to be an event", index)
    if not isinstance(event, dict):
        return ReadProblem(source, f"not a CloudTrail event (a JSON {_json_kind(event)})", index)
    missing = [name for name in _EVENT_FIELDS if not isinstance(event.get(name), str)]
    if missing:
        event_id = event.get("eventID")
        return ReadProblem(
            source,
            f"not a CloudTrail event (no {' or '.join(missing)})",
            index,
            shortened(event_id, 128) if isinstance(event_id, str) else None,
        )
    return EventRecord(source, index, event)


def _json_error(error: json.JSONDecodeError) -> str:
    """What is wrong, in Python's words without their dangling "at" (the position they
    name is in the reader's buffer, not the file); a string that runs into the end of its
    line — a JSON Lines line cut short — said as such."""
    at_line_end = error.doc[error.pos : error.pos + 1] in ("\r", "\n")
    if error.msg.startswith("Invalid control character") and at_line_end:
        return "a string runs past the end of its line: the line was cut short"
    return error.msg.removesuffix(" at")


def _json_items(source: str, text: _JsonText) -> Iterator[ReadItem]:
    """Every event in one JSON / JSON Lines text, whatever its top-level layout."""
    index = 0
    while (char := text.peek()) is not None:
        if char == "[":
            text.take("[")
            yield from _array_items(source, text, index)
            return
        if char != "{":
            yield ReadProblem(source, f"not CloudTrail JSON (starts with {char!r})", index if index else None)
            if index == 0:
                return
            text.skip_line()
            continue
        try:
            fields, container = _object_head(text)
        except _Truncated as error:
            yield ReadProblem(source, str(error), index)
            return
        except ValueError as error:
            # JSON Lines: a bad line costs that line only.
            rest = text.skip_line()
            yield ReadProblem(
                source, str(error), index, getattr(error, "event_id", None) or _event_id_in(rest)
            )
            index += 1
            continue
        if container is not None:
            after = yield from _array_items(source, text, index)
            if after is None:  # the array said the rest of the file is skipped: once is enough
                return
            index = after
            try:
                _object_tail(text)
            except ValueError as error:
                yield ReadProblem(source, f"after the {container} array: {error}")
                return
            continue
        yield _as_record(source, index, fields)
        index += 1


def _object_head(text: _JsonText) -> tuple[dict[str, Any], str | None]:
    """Read a top-level object up to a ``Records``/``Events`` array (left open),
    or to its end; returns the fields read and the container's name, if any."""
    text.take("{")
    fields: dict[str, Any] = {}
    if text.peek() == "}":
        text.take("}")
        return fields, None
    try:
        while True:
            key = text.value()
            if not isinstance(key, str):
                raise ValueError("invalid JSON (object key is not a string)")
            text.take(":")
            if key in _CONTAINERS and text.peek() == "[":
                text.take("[")
                return fields, key
            fields[key] = text.value()
            if text.peek() == ",":
                text.take(",")
                continue
            text.take("}")
            return fields, None
    except _Broken as error:
        event_id = fields.get("eventID")
        if error.event_id is None and isinstance(event_id, str):
            error.event_id = shortened(event_id, 128)
        raise


def _object_tail(text: _JsonText) -> None:
    """Skip what follows the container array (``NextToken``...) to the object's end."""
    while text.peek() == ",":
        text.take(",")
        text.value()
        text.take(":")
        text.value()
    text.take("}")


def _array_items(source: str, text: _JsonText, start: int) -> Generator[ReadItem, None, int | None]:
    """Elements of an array whose ``[`` was consumed; returns the index after its last
    element, or None when the rest of the file is skipped (and said so).

    An element that is not valid JSON costs only itself when its brackets and
    quotes still balance (a bad literal, escape or number); when they do not,
    the array cannot be resynchronised and the rest of the file is skipped.
    """
    index = start
    broken_in_a_row = 0
    if text.peek() == "]":
        text.take("]")
        return index
    while True:
        try:
            item = text.value()
        except _Broken as error:
            broken_in_a_row += 1
            try:
                event_id = text.skip_value() or error.event_id
            except ValueError:
                event_id = None
                resumed = False
            else:
                resumed = text.peek() in (",", "]") and broken_in_a_row < _MAX_BROKEN_IN_A_ROW
            tail = "" if resumed else "; the rest of the file is skipped"
            yield ReadProblem(source, f"{error}{tail}", index, event_id or error.event_id)
            if not resumed:
                return None
        except ValueError as error:
            yield ReadProblem(source, f"{error}; the rest of the file is skipped", index)
            return None
        else:
            broken_in_a_row = 0
            yield _as_record(source, index, item)
        index += 1
        try:
            char = text.peek()
            if char == ",":
                text.take(",")
                continue
            text.take("]")
        except ValueError as error:
            yield ReadProblem(source, f"{error}; the rest of the file is skipped", index)
            return None
        return index


def _is_parquet(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PAR1"


def read_json_stream(source: str, stream: ByteStream, chunk: int = _CHUNK) -> Iterator[ReadItem]:
    """Every event in one JSON text (any accepted JSON layout), read ``chunk`` bytes at a
    time from ``stream``; ``source`` names it in problems. The result does not depend
    on ``chunk``."""
    yield from _json_items(source, _JsonText(stream, chunk))


def read_json_binary(source: str, raw: IO[bytes]) -> Iterator[ReadItem]:
    """Every event in one JSON or gzip-compressed JSON file opened as ``raw`` (seekable:
    a local file or an fsspec/S3 object). A damaged file yields the events before the
    damage and one problem naming it; nothing is raised."""
    try:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: ByteStream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        yield from read_json_stream(source, stream)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        detail = "truncated gzip" if isinstance(error, EOFError) else f"corrupt gzip ({error})"
        yield ReadProblem(source, f"{detail}; events before the damage were read")
    except UnicodeDecodeError:
        yield ReadProblem(source, "not UTF-8 text (not CloudTrail JSON)")
    except ValueError as error:
        yield ReadProblem(source, str(error))
    except OSError as error:
        yield ReadProblem(source, f"cannot read ({error.strerror or error}); events before it were read")


def _read_json_file(path: Path) -> Iterator[ReadItem]:
    with path.open("rb") as raw:
        yield from read_json_binary(str(path), raw)


def _read_parquet_file(path: Path) -> Iterator[ReadItem]:
    yield from read_parquet_binary(str(path), path)


def read_parquet_binary(source: str, raw: Path | IO[bytes]) -> Iterator[ReadItem]:
    """Every event of an Athena-layout CloudTrail Parquet file, given as a path or opened as
    ``raw`` (a local file or an fsspec/S3 object); ``source`` names it in problems."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(raw)
    except (pa.ArrowException, OSError) as error:
        yield ReadProblem(source, f"unreadable Parquet ({error})")
        return
    columns = {name.lower() for name in parquet.schema_arrow.names}
    if not {"eventsource", "eventname"} <= columns:
        yield ReadProblem(source, "not a CloudTrail table (no eventsource/eventname columns)")
        return
    index = 0
    try:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            for row in _rows(batch):
                try:
                    if isinstance(row, AthenaRowError):
                        raise row
                    event = athena_row_to_event(row)
                except AthenaRowError as error:
                    yield ReadProblem(source, str(error), index)
                else:
                    yield _as_record(source, index, event)
                index += 1
    except (pa.ArrowException, OSError) as error:
        yield ReadProblem(source, f"unreadable Parquet ({error}); rows before it were read", index)


def _rows(batch: Any) -> Iterator[dict[str, Any] | AthenaRowError]:
    """A Parquet batch's rows as Python values, a map column (``map<string,string>``, as
    some exporters type ``requestparameters``) as a dict of its entries as stored, the way
    DuckDB reads it for ``run``: pyarrow's default gives a list of (key, value) pairs,
    which is not the object CloudTrail logged. A row whose map holds a key twice (no
    CloudTrail object can) is an ``AthenaRowError``; the batch's other rows are still read."""
    try:
        yield from batch.to_pylist(maps_as_pydicts="strict")
    except KeyError:
        for index in range(batch.num_rows):
            try:
                [row] = batch.slice(index, 1).to_pylist(maps_as_pydicts="strict")
            except KeyError as error:  # pyarrow's message names the key
                yield AthenaRowError(f"a map column holds a key twice: {error.args[0]}")
            else:
                yield row


def read_file(path: PathLike) -> Iterator[ReadItem]:
    """Every event in one file (JSON, JSON Lines, gzip of those, or Parquet)."""
    path = Path(path)
    try:
        parquet = _is_parquet(path)
    except OSError as error:
        yield ReadProblem(str(path), f"cannot open ({error.strerror or error})")
        return
    yield from _read_parquet_file(path) if parquet else _read_json_file(path)


def may_contain(path: Path, needle: bytes) -> bool:
    """Whether a JSON log file (gzip or not) can hold ``needle``: a byte search, far cheaper
    than parsing, so a pass that wants a few rare events can skip the files without them.
    Parquet, or a file that cannot be read, may always hold it (the reader then says why)."""
    try:
        if _is_parquet(path):
            return True
        with path.open("rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream: ByteStream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            tail = b""
            while chunk := stream.read(_CHUNK):
                window = tail + chunk
                if needle in window:
                    return True
                tail = window[max(0, len(window) - len(needle) + 1) :]
    except (OSError, EOFError, zlib.error):
        return True
    return False


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError:
        return b"{"  # unreadable: read it, so the reader names the problem


def iter_files(
    paths: PathLike | Iterable[PathLike], skipped: list[str] | None = None
) -> Iterator[Path | ReadProblem]:
    """The files to read: given files as they are, directories walked in sorted order.

    In a directory, the files ``log_files.log_kind`` accepts are read: a log's name
    (``.json``, ``.json.gz``, ``.jsonl``, ``.parquet``...) or, whatever the name, JSON,
    gzip or Parquet content; ``CloudTrail-Digest`` folders and files (signed hashes, not
    events), hidden and ``_``-first files and folders are skipped (the folders as the
    pipeline's listing skips them: ``log_files.never_read_folder``). Files left out for
    their names although named like logs go to ``skipped``.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    for given in paths:
        path = Path(given)
        if str(given).startswith("s3://"):
            yield ReadProblem(
                str(given), "s3:// locations are read by the pipeline (`run`), not by the file reader"
            )
        elif path.is_dir():
            # A symbolic link to a folder is followed (as ``run``'s listing does); one leading
            # back up the tree is walked once.
            seen = {os.path.realpath(path)}
            for root, dirs, files in os.walk(path, followlinks=True):
                dirs[:] = sorted(d for d in dirs if not never_read_folder(os.path.join(root, d)))
                dirs[:] = [d for d in dirs if _first_visit(seen, os.path.join(root, d))]
                for name in sorted(files):
                    file = Path(root) / name
                    if log_kind(str(file), partial(_head, file)):
                        yield file
                    elif skipped is not None and skipped_for_its_name(str(file)):
                        skipped.append(str(file))
        elif path.exists():
            yield path
        else:
            yield ReadProblem(str(given), "no such file or directory")


def _first_visit(seen: set[str], folder: str) -> bool:
    """Whether ``folder`` (by its real path) is walked for the first time; records it."""
    real = os.path.realpath(folder)
    if real in seen:
        return False
    seen.add(real)
    return True


def counted_files(paths: PathLike | Iterable[PathLike], stats: ReadStats) -> Iterator[Path | ReadProblem]:
    """``iter_files``, counting the files found and the ones that could not be listed."""
    for item in iter_files(paths, stats.skipped_by_name):
        if isinstance(item, ReadProblem):
            stats.problems += 1
        else:
            stats.files += 1
        yield item


def counted(reads: Iterable[ReadItem], stats: ReadStats, denials_only: bool) -> Iterator[ReadItem]:
    """Pass one file's records through, counting events, denials and problems in
    ``stats``; with ``denials_only`` the other events are counted and dropped."""
    for read in reads:
        if isinstance(read, ReadProblem):
            stats.problems += 1
            yield read
            continue
        stats.events += 1
        if read.is_denial:
            stats.denials += 1
        elif denials_only:
            stats.skipped_non_denials += 1
            continue
        yield read


def read_events(
    paths: PathLike | Iterable[PathLike],
    *,
    denials_only: bool = False,
    stats: ReadStats | None = None,
) -> Iterator[ReadItem]:
    """Stream every event (or only the access denials) from files and directories.

    Yields ``EventRecord`` for each event and ``ReadProblem`` for each file or
    record that could not be read; never raises for bad input. With
    ``denials_only`` the other events are counted in ``stats`` and skipped.
    """
    stats = stats if stats is not None else ReadStats()
    for item in counted_files(paths, stats):
        if isinstance(item, ReadProblem):
            yield item
            continue
        yield from counted(read_file(item), stats, denials_only)
