"""Write the demo: snapshot, CloudTrail ``.json.gz`` in the S3 delivery layout, and Parquet.

Layout under ``out_dir``::

    snapshot.json
    cloudtrail/AWSLogs/<org-id>/<account>/CloudTrail/<region>/YYYY/MM/DD/
        <account>_CloudTrail_<region>_<YYYYMMDDTHH55Z>_<16 random>.json.gz    one per account, region, hour
    cloudtrail/AWSLogs/<org-id>/<account>/CloudTrail-Digest/us-east-1/YYYY/MM/DD/...json.gz
        one digest per account and day (readers must skip them)
    cloudtrail-parquet/dt=YYYY-MM-DD/part-HH.parquet                          one per hour

This is an organization trail's layout
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-examples.html);
the Parquet columns are those of the AWS Athena CloudTrail table
(https://docs.aws.amazon.com/athena/latest/ug/cloudtrail-logs.html): lower-case names,
``useridentity`` and ``tlsdetails`` as structs, ``resources`` as a list of structs, the
free-form parts as JSON text and ``readonly`` as text. Both hold exactly the same events.

Speed: every distinct event is rendered once (``analyzer.demo.traffic.templates``) into a
format string; an event costs one ``str.format`` with its time and ids. Parquet rows are
``take``n from a small table of the same templates. Work is split by hour, each hour
seeded on its own, so the output is the same whatever the number of worker processes,
and memory is bounded by one hour of events.

Policy changes (``traffic.yaml``'s ``changes``) are written at their own times, in the
hour they fall in; an hour that ends after a change's first event makes none of the calls
that stop at it (``until``), and denials that begin with it (``after``) go only to hours
that start after its last event, so the logs tell one consistent story.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import os
import random
import shutil
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.demo.org import build_snapshot, demo_organization
from analyzer.demo.traffic import (
    CREATED,
    EVENT_ID,
    REQUEST_ID,
    TIME,
    Catalog,
    Template,
    shuffled_denials,
    templates,
    traffic,
)
from analyzer.errors import AnalyzerError
from analyzer.snapshot import write_snapshot

DEFAULT_START = date(2026, 11, 21)
_MARKER = ".access-undenied-demo"
_PARALLEL_FROM = 100_000  # below this, starting worker processes costs more than it saves


class DemoError(AnalyzerError):
    """The demo cannot be written (bad arguments, or the output folder holds other data)."""


@dataclass(frozen=True, slots=True)
class DemoDataset:
    """What ``generate`` wrote, and the counts a pipeline run over it should reproduce.

    ``events`` counts every event written: normally the number asked for, more only when
    an hour holds more policy-change events and denials than its share of events.

    ``denials_by_code`` counts denied events by the reason code the analyzer should report
    (``analyzer/data/reasons.json``); ``denial_groups`` is the number of distinct
    (principal, action, resource) among them, i.e. the rows the pipeline's ``reasons``
    table should have (INVALID_ACTION events included, one group each).
    """

    out_dir: Path
    snapshot: Path
    json_root: Path
    parquet_root: Path
    events: int
    denials: int
    denials_by_code: Mapping[str, int]
    denial_groups: int
    json_files: int
    parquet_files: int
    digest_files: int
    start: date
    days: int
    seed: int
    policy_changes: int = 0  # policy-change events written (counted in ``events``)
    seconds: float = field(default=0.0, compare=False)


# --- Athena table schema -----------------------------------------------------------------------

_S = pa.string()
USER_IDENTITY = pa.struct(
    [
        ("type", _S),
        ("principalid", _S),
        ("arn", _S),
        ("accountid", _S),
        ("invokedby", _S),
        ("accesskeyid", _S),
        ("username", _S),
        (
            "sessioncontext",
            pa.struct(
                [
                    ("attributes", pa.struct([("mfaauthenticated", _S), ("creationdate", _S)])),
                    (
                        "sessionissuer",
                        pa.struct(
                            [
                                ("type", _S),
                                ("principalid", _S),
                                ("arn", _S),
                                ("accountid", _S),
                                ("username", _S),
                            ]
                        ),
                    ),
                ]
            ),
        ),
    ]
)
SCHEMA = pa.schema(
    [
        ("eventversion", _S),
        ("useridentity", USER_IDENTITY),
        ("eventtime", _S),
        ("eventsource", _S),
        ("eventname", _S),
        ("awsregion", _S),
        ("sourceipaddress", _S),
        ("useragent", _S),
        ("errorcode", _S),
        ("errormessage", _S),
        ("requestparameters", _S),
        ("responseelements", _S),
        ("additionaleventdata", _S),
        ("requestid", _S),
        ("eventid", _S),
        ("resources", pa.list_(pa.struct([("arn", _S), ("accountid", _S), ("type", _S)]))),
        ("eventtype", _S),
        ("apiversion", _S),
        ("readonly", _S),
        ("recipientaccountid", _S),
        ("serviceeventdetails", _S),
        ("sharedeventid", _S),
        ("vpcendpointid", _S),
        ("vpcendpointaccountid", _S),
        ("eventcategory", _S),
        ("sessioncredentialfromconsole", _S),
        (
            "tlsdetails",
            pa.struct([("tlsversion", _S), ("ciphersuite", _S), ("clientprovidedhostheader", _S)]),
        ),
    ]
)
_JSON_COLUMNS = ("requestParameters", "responseElements", "additionalEventData")


def _lower_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key.lower(): _lower_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lower_keys(item) for item in value]
    return value


def athena_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """One CloudTrail event as a row of the Athena CloudTrail table."""
    row: dict[str, Any] = {}
    for name, value in event.items():
        column = name.lower()
        if column not in SCHEMA.names:
            continue
        if name in _JSON_COLUMNS:
            value = None if value is None else json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        else:
            value = _lower_keys(value)
        row[column] = value
    return row


# --- one hour of events ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hour:
    """The work for one hour: how many events, and which denial templates among them."""

    index: int
    start: datetime
    events: int
    denials: tuple[int, ...]
    changes: tuple[tuple[int, int], ...] = ()  # (second in the hour, index in Catalog.changes)
    stopped: frozenset[str] = frozenset()  # changes whose ``until`` calls this hour leaves out


@dataclass(frozen=True, slots=True)
class _HourResult:
    events: int
    json_files: int
    denials_by_code: tuple[tuple[str, int], ...]  # a tuple: results cross process boundaries
    parquet_file: bool


def _format_string(event: Mapping[str, Any]) -> str:
    """The event as compact JSON, ready for ``str.format(t=, c=, e=, r=)``."""
    text = json.dumps(event, separators=(",", ":")).replace("{", "{{").replace("}", "}}")
    for placeholder, name in ((TIME, "t"), (CREATED, "c"), (EVENT_ID, "e"), (REQUEST_ID, "r")):
        text = text.replace(placeholder, "{" + name + "}")
    return text


class _Writer:
    """Writes hours of events for one catalog; one per process."""

    def __init__(self, json_root: Path, parquet_root: Path, seed: int):
        self.json_root = json_root
        self.parquet_root = parquet_root
        self.seed = seed
        self.catalog: Catalog = templates()
        self.all: tuple[Template, ...] = (
            self.catalog.allowed + self.catalog.denied + tuple(t for _, _, t in self.catalog.changes)
        )
        self.formats = tuple(_format_string(t.event) for t in self.all)
        self.s3 = tuple(t.event["eventSource"] == "s3.amazonaws.com" for t in self.all)
        self.rows = tuple(athena_row(t.event) for t in self.all)
        self._allowed: dict[frozenset[str], tuple[list[int], list[float]]] = {}

    def allowed(self, stopped: frozenset[str]) -> tuple[list[int], list[float]]:
        """The allowed templates an hour may draw from (those of calls not ``stopped``) and
        their cumulative weights; computed once per distinct set."""
        if stopped not in self._allowed:
            indexes = [i for i, t in enumerate(self.catalog.allowed) if t.until not in stopped]
            weights = [self.catalog.allowed[i].weight for i in indexes]
            self._allowed[stopped] = (indexes, list(itertools.accumulate(weights)))
        return self._allowed[stopped]

    def _rows_for(self, created: str) -> pa.Table:
        rows = []
        for row in self.rows:
            identity = row["useridentity"]
            attributes = (identity.get("sessioncontext") or {}).get("attributes")
            if attributes is not None:
                identity = {
                    **identity,
                    "sessioncontext": {
                        **identity["sessioncontext"],
                        "attributes": {**attributes, "creationdate": created},
                    },
                }
            rows.append({**row, "useridentity": identity})
        return pa.Table.from_pylist(rows, schema=SCHEMA)

    def write(self, hour: _Hour) -> _HourResult:
        rng = random.Random(f"{self.seed}:{hour.index}")
        allowed_count = max(0, hour.events - len(hour.denials) - len(hour.changes))
        offset = len(self.catalog.allowed)
        indexes, cumulative = self.allowed(hour.stopped)
        chosen = rng.choices(indexes, cum_weights=cumulative, k=allowed_count)
        chosen += [offset + index for index in hour.denials]
        seconds = [(rng.randrange(3600), template) for template in chosen]
        changes_offset = offset + len(self.catalog.denied)
        seconds = sorted(seconds + [(second, changes_offset + index) for second, index in hour.changes])

        prefix = hour.start.strftime("%Y-%m-%dT%H:")
        created = hour.start.strftime("%Y-%m-%dT%H:00:00Z")
        files: dict[tuple[str, str], list[str]] = {}
        times, event_ids, request_ids = [], [], []
        formats, s3, all_templates = self.formats, self.s3, self.all
        getrandbits = rng.getrandbits
        for second, template in seconds:
            when = f"{prefix}{second // 60:02d}:{second % 60:02d}Z"
            bits = f"{getrandbits(128):032x}"
            event_id = f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-a{bits[17:20]}-{bits[20:]}"
            request_id = bits[:16].upper() if s3[template] else f"{bits[20:]}-{bits[:4]}-{bits[4:8]}"
            info = all_templates[template]
            files.setdefault((info.account, info.region), []).append(
                formats[template].format(t=when, c=created, e=event_id, r=request_id)
            )
            times.append(when)
            event_ids.append(event_id)
            request_ids.append(request_id)

        for (account, region), records in files.items():
            self._write_json(account, region, hour.start, records, rng)
        parquet = bool(seconds)
        if parquet:
            table = self._rows_for(created).take(pa.array([t for _, t in seconds], pa.int32()))
            for column, values in (("eventtime", times), ("eventid", event_ids), ("requestid", request_ids)):
                table = table.set_column(SCHEMA.get_field_index(column), column, pa.array(values, _S))
            folder = self.parquet_root / f"dt={hour.start:%Y-%m-%d}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / f"part-{hour.start:%H}.parquet", compression="zstd")
        codes = Counter(
            code for _, t in seconds if t >= offset and (code := all_templates[t].code) is not None
        )
        return _HourResult(len(seconds), len(files), tuple(codes.items()), parquet)

    def _write_json(
        self, account: str, region: str, start: datetime, records: Sequence[str], rng: random.Random
    ) -> None:
        folder = (
            self.json_root
            / "AWSLogs"
            / demo_organization().org_id
            / account
            / "CloudTrail"
            / region
            / f"{start:%Y}"
            / f"{start:%m}"
            / f"{start:%d}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz", k=16))
        name = f"{account}_CloudTrail_{region}_{start:%Y%m%dT%H}55Z_{suffix}.json.gz"
        body = '{"Records":[' + ",".join(records) + "]}"
        (folder / name).write_bytes(gzip.compress(body.encode(), compresslevel=5, mtime=0))


_WORKER: _Writer | None = None


def _init_worker(json_root: Path, parquet_root: Path, seed: int) -> None:
    global _WORKER  # one writer per worker process, built once (its templates are immutable)
    _WORKER = _Writer(json_root, parquet_root, seed)


def _write_hour(hour: _Hour) -> _HourResult:
    assert _WORKER is not None
    return _WORKER.write(hour)


# --- planning ----------------------------------------------------------------------------------


def _hourly_counts(total: int, hours: int) -> list[int]:
    """``total`` spread over the hours with a daily curve peaking at 17:00 UTC (US working day)."""
    weights = [1.0 + 2.0 * math.exp(-((h % 24 - 17) ** 2) / 18.0) for h in range(hours)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    by_remainder = sorted(range(hours), key=lambda h: weights[h] * scale - counts[h], reverse=True)
    for h in by_remainder[: total - sum(counts)]:
        counts[h] += 1
    return counts


def _plan(
    catalog: Catalog, events: int, denial_rate: float, start: date, days: int, seed: int
) -> list[_Hour]:
    """Events, denials and policy-change events per hour.

    Denials are dealt out in order, each hour taking its share; a denial that may not
    happen yet (its change comes later) waits for the first hour after that change, where
    the waiting ones go first: a change's denials start right after it, as they do. One
    that a later change fixes is dropped from that change's hour on.
    """
    counts = _hourly_counts(events, days * 24)
    denials = shuffled_denials(catalog, round(events * denial_rate), random.Random(f"{seed}:denials"))
    window = traffic().change_window(start, days)
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    queue = deque(denials)
    waiting: list[int] = []  # denials whose change has not happened yet
    hours, used, seen = [], 0, 0
    for index, count in enumerate(counts):
        begins = first + timedelta(hours=index)
        ends = begins + timedelta(hours=1)
        stopped = frozenset(name for name, (earliest, _) in window.items() if ends > earliest)
        began = {name for name, (_, latest) in window.items() if begins > latest}
        seen += count
        take = min(count, round(len(denials) * seen / events) - used) if events else 0
        # A denial fixed by a change (``until``) is no longer made from the hour of that change.
        waiting = [d for d in waiting if catalog.denied[d].until not in stopped]
        picked = [d for d in waiting if catalog.denied[d].after in began][:take]
        for denial in picked:
            waiting.remove(denial)
        while len(picked) < take and queue:
            denial = queue.popleft()
            template = catalog.denied[denial]
            if template.until in stopped:
                continue
            (picked if template.after is None or template.after in began else waiting).append(denial)
        steps = tuple(
            (int((when - begins).total_seconds()), number)
            for number, (change, step, _) in enumerate(catalog.changes)
            if begins <= (when := change.time(step, start, days)) < ends
        )
        hours.append(_Hour(index, begins, count, tuple(picked), steps, stopped))
        used += len(picked)
    return hours


def _write_digests(json_root: Path, start: date, days: int) -> int:
    """One CloudTrail digest file per account and day: real trails write them next to the logs,
    and readers must not mistake them for events."""
    written = 0
    organization = demo_organization()
    home = organization.home_region
    for account in organization.org_accounts:
        for day in range(days):
            when = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=day, hours=23)
            folder = (
                json_root
                / "AWSLogs"
                / organization.org_id
                / account
                / "CloudTrail-Digest"
                / home
                / f"{when:%Y}"
                / f"{when:%m}"
                / f"{when:%d}"
            )
            folder.mkdir(parents=True, exist_ok=True)
            digest = {
                "awsAccountId": account,
                "digestStartTime": f"{when:%Y-%m-%dT%H}:00:00Z",
                "digestEndTime": f"{when:%Y-%m-%dT%H}:59:59Z",
                "digestS3Bucket": "acme-org-trail",
                "digestSignatureAlgorithm": "SHA256withRSA",
                "logFiles": [],
            }
            name = f"{account}_CloudTrail-Digest_{home}_acme-org-trail_{home}_{when:%Y%m%dT%H}5959Z.json.gz"
            (folder / name).write_bytes(gzip.compress(json.dumps(digest).encode(), mtime=0))
            written += 1
    return written


def _prepare(out_dir: Path) -> tuple[Path, Path]:
    """Create the output folders, replacing a previous demo's logs but nothing else."""
    json_root, parquet_root = out_dir / "cloudtrail", out_dir / "cloudtrail-parquet"
    marker = out_dir / _MARKER
    for folder in (json_root, parquet_root):
        if folder.exists() and any(folder.iterdir()):
            if not marker.exists():
                raise DemoError(
                    f"{folder}: exists and was not written by the demo; choose an empty or new output folder"
                )
            shutil.rmtree(folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("written by access-undenied demo; its logs are replaced on the next run\n")
    return json_root, parquet_root


def generate(
    out_dir: Path | str,
    events: int = 20_000,
    seed: int = 7,
    start: date = DEFAULT_START,
    days: int = 3,
    denial_rate: float = 0.05,
    workers: int | None = None,
) -> DemoDataset:
    """Write a synthetic organization's snapshot and ``events`` CloudTrail events over ``days``
    days from ``start``; about ``denial_rate`` of them are denials caused by its policies.

    ``workers`` processes share the hours (default: one below 100,000 events, else one per
    CPU up to 4); the output does not depend on it. Same arguments, same files.
    """
    began = time.perf_counter()
    if events < 0 or days < 1 or not 0 <= denial_rate <= 1:
        raise DemoError(
            f"need events >= 0, days >= 1 and 0 <= denial_rate <= 1 (got {events}, {days}, {denial_rate})"
        )
    out_dir = Path(out_dir)
    json_root, parquet_root = _prepare(out_dir)
    snapshot = out_dir / "snapshot.json"
    collected = datetime(start.year, start.month, start.day, 2, tzinfo=UTC) + timedelta(days=days)
    write_snapshot(build_snapshot(collected.strftime("%Y-%m-%dT%H:%M:%SZ")), snapshot)

    catalog = templates()
    hours = _plan(catalog, events, denial_rate, start, days, seed)
    if workers is None:
        workers = 1 if events < _PARALLEL_FROM else max(1, min(4, os.cpu_count() or 1))
    if workers == 1:
        writer = _Writer(json_root, parquet_root, seed)
        results = [writer.write(hour) for hour in hours]
    else:
        with ProcessPoolExecutor(
            workers, initializer=_init_worker, initargs=(json_root, parquet_root, seed)
        ) as pool:
            results = list(pool.map(_write_hour, hours, chunksize=1))

    codes: Counter[str] = Counter()
    for result in results:
        codes.update(dict(result.denials_by_code))
    used = {index for hour in hours for index in hour.denials}
    groups = {
        (catalog.denied[i].principal, catalog.denied[i].action, catalog.denied[i].resource) for i in used
    }
    return DemoDataset(
        out_dir=out_dir,
        snapshot=snapshot,
        json_root=json_root,
        parquet_root=parquet_root,
        events=sum(result.events for result in results),
        denials=sum(codes.values()),
        denials_by_code=MappingProxyType(dict(sorted(codes.items()))),
        denial_groups=len(groups),
        json_files=sum(r.json_files for r in results),
        parquet_files=sum(r.parquet_file for r in results),
        digest_files=_write_digests(json_root, start, days),
        start=start,
        days=days,
        seed=seed,
        policy_changes=sum(len(hour.changes) for hour in hours),
        seconds=time.perf_counter() - began,
    )
