"""The plain DuckDB first stage: the work a pipeline over CloudTrail cannot avoid (issue 20).

One DuckDB script, no project code: it reads only the columns it needs (``.json.gz``
through ``read_json`` with an explicit narrow schema, ``Records`` unnested; Parquet by
projection), keeps the access denials, derives the principal (the role ARN for a session)
and a resource key, and writes

* the one-row-per-denial table (the contract's columns, ``error_message`` and
  ``user_agent`` included), Hive-partitioned by event day, and
* the groups table: one row per (principal, action, resource) with the count, first and
  last seen and a sample event id.

The benchmark (``benchmarks/pipeline.py``) times ``access-undenied run`` against this.
From ``s3://`` it lists the objects once and lets DuckDB read each through s3fs.

Run: ``python benchmarks/plain_first_stage.py --logs PATH_OR_S3 --out DIR``.
"""

from __future__ import annotations

import argparse
import os
import time

import duckdb

RECORD = (
    "STRUCT(eventTime VARCHAR, eventID VARCHAR, eventSource VARCHAR, eventName VARCHAR, "
    "awsRegion VARCHAR, sourceIPAddress VARCHAR, userAgent VARCHAR, errorCode VARCHAR, "
    "errorMessage VARCHAR, recipientAccountId VARCHAR, requestParameters JSON, "
    "resources STRUCT(ARN VARCHAR)[], userIdentity STRUCT(type VARCHAR, arn VARCHAR, "
    "accountId VARCHAR, sessionContext STRUCT(sessionIssuer STRUCT(arn VARCHAR))))"
)

DENIED = (
    "(errorcode IN ('AccessDenied', 'AccessDeniedException', 'Client.UnauthorizedOperation', "
    "'UnauthorizedOperation', 'AuthorizationError', 'Forbidden', 'ForbiddenException', "
    "'UnauthorizedException', 'AllAccessDisabled') OR errorcode LIKE '%AccessDenied%')"
)


def _list(logs: str) -> tuple[list[str], object | None]:
    if logs.startswith("s3://"):
        import s3fs

        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint} if endpoint else {})
        found = fs.find(logs[len("s3://") :])
        return [f"s3://{p}" for p in found if p.endswith((".json.gz", ".parquet"))], fs
    found = [
        os.path.join(folder, name)
        for folder, _, names in os.walk(logs)
        for name in names
        if name.endswith((".json.gz", ".parquet"))
    ]
    return sorted(found), None


def _source(paths: list[str]) -> str:
    listed = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
    if paths[0].endswith(".parquet"):
        # Text whatever the writer typed them as (a timestamp, Glue's struct), as in JSON.
        return f"""
            SELECT CAST(eventtime AS VARCHAR) AS eventtime, eventid, eventsource, eventname,
                   awsregion, sourceipaddress, useragent, errorcode, errormessage,
                   recipientaccountid, CAST(requestparameters AS VARCHAR) AS requestparameters,
                   resources[1].arn AS resource, useridentity.type AS identity_type,
                   useridentity.arn AS identity_arn,
                   useridentity.sessioncontext.sessionissuer.arn AS issuer_arn
            FROM read_parquet({listed})"""
    return f"""
        SELECT r.eventTime AS eventtime, r.eventID AS eventid, r.eventSource AS eventsource,
               r.eventName AS eventname, r.awsRegion AS awsregion,
               r.sourceIPAddress AS sourceipaddress, r.userAgent AS useragent,
               r.errorCode AS errorcode, r.errorMessage AS errormessage,
               r.recipientAccountId AS recipientaccountid,
               CAST(r.requestParameters AS VARCHAR) AS requestparameters,
               r.resources[1].ARN AS resource, r.userIdentity.type AS identity_type,
               r.userIdentity.arn AS identity_arn,
               r.userIdentity.sessionContext.sessionIssuer.arn AS issuer_arn
        FROM (SELECT unnest(Records) AS r
              -- eventVersion (always absent beside Records) only because DuckDB 2.0 reads a
              -- lone list-of-struct column about 6x slower than the same with any second
              -- column (2,500 files of the 1M set: 62 s against 12 s); the pipeline's scan
              -- reads a second one anyway, so the ratio compares work, not that quirk.
              FROM read_json({listed}, columns = {{'Records': '{RECORD}[]', 'eventVersion': 'VARCHAR'}},
                             format = 'auto', maximum_object_size = 1073741824))"""


def first_stage(logs: str, out: str) -> dict[str, float | int]:
    began = time.perf_counter()
    paths, fs = _list(logs)
    connection = duckdb.connect()
    if fs is not None:
        connection.register_filesystem(fs)
    connection.execute(f"""
        CREATE TEMP TABLE denials AS
        SELECT eventid AS event_id, CAST(eventtime AS TIMESTAMPTZ) AS event_time,
               recipientaccountid AS account_id, awsregion AS region,
               eventsource AS event_source, eventname AS event_name, errorcode AS error_code,
               errormessage AS error_message,
               coalesce(issuer_arn, identity_arn) AS principal_arn,
               identity_type AS principal_type,
               split_part(eventsource, '.', 1) || ':' || eventname AS action,
               coalesce(resource, md5(coalesce(requestparameters, ''))) AS resource_arn,
               sourceipaddress AS source_ip, useragent AS user_agent,
               substr(eventtime, 1, 10) AS dt
        FROM ({_source(paths)})
        WHERE {DENIED}""")
    os.makedirs(out, exist_ok=True)
    connection.execute(
        f"COPY denials TO '{out}/denials' (FORMAT parquet, PARTITION_BY (dt), OVERWRITE_OR_IGNORE)"
    )
    connection.execute(f"""
        COPY (SELECT principal_arn, action, resource_arn, count(*) AS event_count,
                     min(event_time) AS first_seen, max(event_time) AS last_seen,
                     arg_max(event_id, event_time) AS sample_event_id
              FROM denials GROUP BY ALL) TO '{out}/groups.parquet' (FORMAT parquet)""")
    denials, groups = connection.execute(
        "SELECT count(*), count(DISTINCT (principal_arn, action, resource_arn)) FROM denials"
    ).fetchone()
    return {
        "objects": len(paths),
        "denials": denials,
        "groups": groups,
        "seconds": time.perf_counter() - began,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import json

    print(json.dumps(first_stage(args.logs, args.out)))


if __name__ == "__main__":
    main()
