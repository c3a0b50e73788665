"""One settings object for a pipeline run; it builds every connector's arguments.

Everything the run needs (where logs are, which engine reads them, Athena's
staging directory, the S3 endpoint, the output location, the window) lives
here, so no function takes a dozen keyword arguments and the Prefect
deployment's parameters map one to one onto the fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from analyzer.errors import PipelineError

Source = Literal["duckdb", "athena"]


@dataclass(frozen=True)
class AthenaSettings:
    """Where Athena runs the query (see ``sql/athena_cloudtrail_table.sql`` for the table)."""

    database: str = "default"
    table: str = "cloudtrail"
    s3_staging_dir: str | None = None
    work_group: str | None = None
    region: str | None = None

    def connect_kwargs(self, profile: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"schema_name": self.database}
        if self.s3_staging_dir:
            kwargs["s3_staging_dir"] = self.s3_staging_dir
        if self.work_group:
            kwargs["work_group"] = self.work_group
        region = (
            self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        )
        kwargs["region_name"] = region
        if profile:
            kwargs["profile_name"] = profile
        endpoint = os.environ.get("AWS_ENDPOINT_URL_ATHENA") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        return kwargs


# Analysis tasks at a time when ``--workers`` is not given, per task runner. Explaining a
# group is CPU-bound Python, so threads share one interpreter lock and more of them only
# contend for it: at 1M events (6,477 groups, 2 cores) the analysis took 6.1-6.7 s in one
# thread and 7.8-9.2 s in four, and the whole run 16.5-17.5 s against 19.3-22.3 s.
# Processes and a local Dask cluster run one task per worker process.
DEFAULT_WORKERS = {"threads": 1, "processes": 4, "dask": 4}


@dataclass(frozen=True)
class PipelineSettings:
    logs: str
    snapshot: str
    out: str
    source: Source = "duckdb"
    since: date | None = None
    until: date | None = None  # exclusive
    suppressions: str | None = None
    generalize: bool = False
    profile: str | None = None
    batch_size: int | None = None  # groups per analysis task; None: batches.batch_size_for decides
    workers: int = DEFAULT_WORKERS["threads"]
    athena: AthenaSettings = field(default_factory=AthenaSettings)
    # Snapshots collected earlier than ``snapshot`` (the previous night's, say): with policy
    # changes in the logs, what a change replaced without logging it is read from them.
    earlier_snapshots: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "earlier_snapshots", tuple(self.earlier_snapshots))  # a flow's list
        if self.source not in ("duckdb", "athena"):
            raise PipelineError(f"--source must be duckdb or athena, not {self.source!r}")
        if self.since and self.until and self.since >= self.until:
            raise PipelineError(f"--since {self.since} must be before --until {self.until}")
        if self.source == "athena" and not (self.athena.s3_staging_dir or self.athena.work_group):
            raise PipelineError(
                "--source athena needs --athena-s3-staging-dir or "
                "--athena-work-group (where Athena writes query results)"
            )
        if (self.batch_size is not None and self.batch_size < 1) or self.workers < 1:
            raise PipelineError("--batch-size and --workers must be at least 1")

    @property
    def run_date(self) -> date:
        """The ``dt`` partition this run writes: the last day it covers."""
        if self.until is not None:
            return self.until - timedelta(days=1)
        return datetime.now(UTC).date()

    def covered_days(self) -> list[date]:
        """The event days this run replaces in ``denials/``: every day of a bounded
        window (a day without denials now loses its old rows); none otherwise, and then
        only the days its events fall on are written."""
        if self.since is None or self.until is None:
            return []
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days)]

    def in_window(self, day: date) -> bool:
        """Whether the event day ``day`` is one of the run's window (``--since`` on,
        before ``--until``; a bound not given leaves that side open): the days whose
        ``denials/`` and ``changes/`` partitions the run writes."""
        return (self.since is None or day >= self.since) and (self.until is None or day < self.until)

    @property
    def uses_s3(self) -> bool:
        """Whether any location of the run is on S3 (reading then goes through s3fs)."""
        locations = (self.logs, self.snapshot, self.out, *self.earlier_snapshots)
        return any(location.startswith("s3://") for location in locations)

    def s3_options(self) -> dict[str, Any]:
        """Arguments for ``s3fs.S3FileSystem`` honouring ``--profile`` and AWS_ENDPOINT_URL."""
        return s3_options(self.profile)


def s3_options(profile: str | None) -> dict[str, Any]:
    """Arguments for ``s3fs.S3FileSystem`` honouring ``--profile`` and AWS_ENDPOINT_URL(_S3):
    for the pipeline and for anything else that reads S3 as it does (``analyze --history``)."""
    options: dict[str, Any] = {}
    if profile:
        options["profile"] = profile
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


def window(
    since: date | None, until: date | None, last_days: int | None, today: date | None = None
) -> tuple[date | None, date | None]:
    """The days to analyse: as given, or, for schedules, the ``last_days`` before today
    (UTC) when neither bound is given (1 is "yesterday")."""
    if not last_days or since is not None or until is not None:
        return since, until
    end = today or datetime.now(UTC).date()
    return end - timedelta(days=last_days), end
