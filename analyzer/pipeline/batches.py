"""Analysis batches by reference: the groups file and the small frozen references to it.

The group stage writes one Parquet file under the run's work folder
(``<out>/_work/``) with one row per (principal, action, resource) group, sorted by
principal, and cut into coarse batches: each batch is one row group, and a
principal's groups stay in one batch unless it alone has more than a batch's worth.
Each row carries its sample event *already mapped* (a ``DeniedEvent`` as typed JSON,
``analyzer.typed_json``), so an event is mapped to its IAM requests once, in the group
stage, and never again. It is JSON, not pickle: the work folder may be a shared S3 prefix,
and nothing read from storage may choose what code runs.

A task receives only a ``BatchRef`` (a few strings and integers), never rows: task
runners and Prefect pass it cheaply, and its ``content_hash`` is the identity a
result cache keys on. The worker re-computes that hash over the row group it reads
and refuses a batch whose content changed.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer import typed_json
from analyzer.errors import PipelineError
from analyzer.events.mapping import DeniedEvent
from analyzer.pipeline.storage import filesystem, write_atomically

WORK_FOLDER = "_work"

GROUPS_SCHEMA = pa.schema(
    [
        ("group_key", pa.string()),
        ("principal_arn", pa.string()),
        ("account_id", pa.string()),
        ("action", pa.string()),
        ("resource_arn", pa.string()),
        ("event_count", pa.int64()),
        ("first_seen", pa.timestamp("us", tz="UTC")),
        ("last_seen", pa.timestamp("us", tz="UTC")),
        ("sample_event_id", pa.string()),
        # Which of the sample's requests this group is (its position in event.requests()).
        ("action_index", pa.int32()),
        ("problem", pa.string()),  # the sample could not be mapped: the group is an Error
        ("sample_event", pa.string()),  # the mapped sample, typed JSON (None with a problem)
        # Other denials of the group came from sessions with other session policies
        # (analyzer/pipeline/sessions.py): a note for the group's result.
        ("session_note", pa.string()),
        # Its denials per region (JSON), when it was denied in more than one
        # (analyzer/pipeline/regions.py): a worker evaluates the sample in the others too.
        ("regions", pa.string()),
    ]
)


@dataclass(frozen=True)
class BatchRef:
    """One analysis batch, by reference: row group ``row_group`` of ``groups_uri``."""

    batch_id: int
    groups_uri: str
    row_group: int
    groups: int
    content_hash: str


@dataclass(frozen=True)
class BatchResult:
    """What an analysis task returns: where its reason rows are, and how many of each kind."""

    batch_id: int
    part_uri: str
    groups: int
    events: int
    by_result: Mapping[str, int]
    root_causes: int = 0  # groups whose denial a logged policy change explains


# An analysis task's size when the run does not set one (``batch_size_for``).
AUTO_BATCH_GROUPS = (200, 1000)
BATCHES_PER_WORKER = 2


def batch_size_for(groups: int, workers: int, requested: int | None = None) -> int:
    """Groups per analysis task: ``requested``, or about ``BATCHES_PER_WORKER`` batches per
    worker, each of 200 to 1,000 groups.

    A Prefect task has a cost of its own besides its groups' analysis (about 0.5 ms a group):
    its state reports, which a Prefect server on the same machine processes on the same
    cores, and its persisted result. At 1M events (6,477 groups, 4 threads, a running server,
    7 runs each) the analysis stage took 4.2-6.2 s (median 4.5) in 200-group batches, 3.5-4.6 s
    (3.9) in 2,000-group ones and 3.7-4.6 s (4.0) in these, against 3.0-3.4 s for the analysis
    alone. Two batches per worker still spread a small
    night over every worker, and an uneven one (history makes some groups dearer) evens out;
    past 1,000 groups a failed batch would redo more than about a second of work."""
    if requested is not None:
        return requested
    smallest, largest = AUTO_BATCH_GROUPS
    wanted = -(-groups // max(1, workers * BATCHES_PER_WORKER))
    return min(largest, max(smallest, wanted))


def work_location(out: str) -> str:
    return f"{out.rstrip('/')}/{WORK_FOLDER}"


def dump_event(event: DeniedEvent) -> str:
    return typed_json.dumps(event)


def content_hash(batch: pa.Table) -> str:
    """A digest of a batch's rows: equal batches (same groups, counts, samples) hash equal."""
    digest = hashlib.sha256()
    for column in GROUPS_SCHEMA.names:
        for value in batch.column(column).to_pylist():
            data = value if isinstance(value, bytes) else repr(value).encode()
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
    return digest.hexdigest()


def cut(principals: Sequence[str], size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) ranges of about ``size`` rows over rows sorted by principal, never
    splitting a principal's run of rows unless that run alone exceeds ``size``."""
    start, index, total = 0, 0, len(principals)
    while index < total:
        stop = index
        while stop < total and principals[stop] == principals[index]:
            stop += 1
        if stop - start > size and index > start:  # this principal would overflow: cut before
            yield start, index
            start = index
        while stop - start > size:  # one principal bigger than a batch: split it
            yield start, start + size
            start += size
        index = stop
    if start < total:
        yield start, total


def write_groups(
    groups: pa.Table, samples: Mapping[str, str], out: str, size: int, s3_options: dict[str, Any]
) -> tuple[str, tuple[BatchRef, ...]]:
    """Write the groups file (one row group per batch); its name is its content's hash,
    so a re-run over the same denials writes the same file and the same references.

    Each group's sample event (``samples``: typed JSON by raw_key, none for a sample that
    could not be mapped) joins its row a batch at a time as the batch is written: on a
    night of 40,000 groups the sample column whole was another ~115 MB at the group
    stage's peak, beside the texts it copies."""
    written: list[tuple[int, str]] = []  # (rows, content hash) of each batch
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, GROUPS_SCHEMA, compression="zstd") as writer:
        for start, stop in cut(groups.column("principal_arn").to_pylist(), size):
            piece = _with_sample_events(groups.slice(start, stop - start), samples)
            writer.write_table(piece, row_group_size=max(piece.num_rows, 1))
            written.append((piece.num_rows, content_hash(piece)))
    name = hashlib.sha256("".join(digest for _, digest in written).encode()).hexdigest()[:24]
    uri = write_atomically(work_location(out), f"groups-{name}.parquet", buffer.getvalue(), s3_options)
    refs = tuple(BatchRef(number, uri, number, rows, digest) for number, (rows, digest) in enumerate(written))
    return uri, refs


def _with_sample_events(groups: pa.Table, samples: Mapping[str, str]) -> pa.Table:
    """``groups`` (rows of ``groups.sql``) as the groups file holds them, each with its
    sample event's typed JSON. Every group but one whose sample could not be mapped has
    one: the group stage keeps only the samples ``groups.sql`` names, and a group without
    its sample would be analysed as nothing."""
    keys = groups.column("sample_raw_key").to_pylist()
    texts = [samples.get(raw_key) for raw_key in keys]
    for raw_key, text, problem in zip(keys, texts, groups.column("problem").to_pylist(), strict=True):
        if text is None and problem is None:
            raise PipelineError(f"the group stage kept no mapped event for the sample {raw_key}")
    return (
        groups.append_column("sample_event", pa.array(texts, pa.string()))
        .select(GROUPS_SCHEMA.names)
        .cast(GROUPS_SCHEMA)
    )


def read_batch(ref: BatchRef, s3_options: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The rows of one batch, samples decoded, after checking the content is the ref's."""
    fs, path = filesystem(ref.groups_uri, s3_options)
    try:
        with fs.open(path, "rb") as handle:
            table = pq.ParquetFile(handle).read_row_group(ref.row_group)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise PipelineError(f"{ref.groups_uri}: cannot read batch {ref.batch_id} ({error})") from None
    if content_hash(table) != ref.content_hash:
        raise PipelineError(f"{ref.groups_uri}: batch {ref.batch_id} changed since the group stage wrote it")
    rows = table.to_pylist()
    events: dict[str, DeniedEvent] = {}  # groups of one multi-action sample share it
    for row in rows:
        text = row.pop("sample_event")
        if text is not None and text not in events:
            try:
                events[text] = typed_json.loads(DeniedEvent, text)
            except (TypeError, ValueError, KeyError) as error:
                raise PipelineError(
                    f"{ref.groups_uri}: batch {ref.batch_id} holds a sample "
                    f"that is not a mapped event ({error})"
                ) from None
        row["sample_event"] = events[text] if text is not None else None
    return tuple(rows)
