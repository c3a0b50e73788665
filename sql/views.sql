-- DuckDB views over the pipeline's output tables, for ad-hoc queries.
--
--   duckdb results.duckdb -c "SET VARIABLE results = 'out'" -c ".read sql/views.sql"
--   python -c "import duckdb; c = duckdb.connect(); c.execute(\"SET VARIABLE results = 'out'\");
--              c.execute(open('sql/views.sql').read()); print(c.sql('from latest_backlog'))"
--
-- `results` is the pipeline's --out (a folder, or s3://... with httpfs or an fsspec
-- filesystem registered). Each table is Hive-partitioned by a day `dt`:
--   denials/, changes/  the EVENT's day (UTC); a run replaces the days it covers, so
--                       each event is in one partition whatever the runs' windows;
--   reasons/, backlog/  the analysis run's day (each run's conclusions, latest_* below).
-- CloudTrail delivers an event at least once: the views keep one row per event id.
CREATE OR REPLACE VIEW denials AS
    SELECT * FROM read_parquet(getvariable('results') || '/denials/**/*.parquet',
                               hive_partitioning = true)
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY dt DESC) = 1;
-- Successful policy-change events (a day read without any has an empty partition).
CREATE OR REPLACE VIEW changes AS
    SELECT * FROM read_parquet(getvariable('results') || '/changes/**/*.parquet',
                               hive_partitioning = true)
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY dt DESC) = 1;
-- Columns added since the first results: NULL in results written before them, whether
-- every partition lacks them (the UNION) or only the older ones (union_by_name; without it
-- DuckDB takes the first file's columns and drops the newer ones of later partitions).
CREATE OR REPLACE VIEW reasons AS
    SELECT * FROM read_parquet(getvariable('results') || '/reasons/**/*.parquet',
                               hive_partitioning = true, union_by_name = true)
    UNION ALL BY NAME SELECT NULL::VARCHAR AS other_regions, NULL::VARCHAR AS unknown_policies WHERE false;
CREATE OR REPLACE VIEW backlog AS
    SELECT * FROM read_parquet(getvariable('results') || '/backlog/**/*.parquet',
                               hive_partitioning = true, union_by_name = true)
    UNION ALL BY NAME SELECT NULL::VARCHAR AS unknown_policies WHERE false;

-- The latest run's rows. (`max(dt)` over the DISTINCT partitions: DuckDB 1.5's
-- statistics shortcut for a bare max() of a Hive partition column fails internally.)
CREATE OR REPLACE VIEW latest_reasons AS
    SELECT * FROM reasons WHERE dt = (SELECT max(dt) FROM (SELECT DISTINCT dt FROM reasons));
CREATE OR REPLACE VIEW latest_backlog AS
    SELECT * FROM backlog WHERE dt = (SELECT max(dt) FROM (SELECT DISTINCT dt FROM backlog));

-- Where the latest run's groups are denied for another reason in some of their regions
-- than their row's (reasons.other_regions, analyzer/pipeline/regions.py): one row per
-- (group, region), with that region's denials and reason.
CREATE OR REPLACE VIEW latest_other_regions AS
    SELECT group_key,
           unnest(from_json(other_regions,
               -- analyzer/result_tables.py, OTHER_REGIONS_JSON_TYPE
               '[{"region": "VARCHAR", "event_count": "BIGINT", "reason_code": "VARCHAR", "assessment_result": "VARCHAR", "policy_type": "VARCHAR", "policy_arn": "VARCHAR", "policy_name": "VARCHAR", "statement_sid": "VARCHAR", "attachment_target_arn": "VARCHAR", "fix_policy": "VARCHAR"}]'),
               recursive := true)
    FROM latest_reasons
    WHERE other_regions IS NOT NULL;

-- Explicit-deny hot spots: which policy statements deny the most events (a group's
-- denials in its other regions counted under their own reason).
CREATE OR REPLACE VIEW deny_hot_spots AS
    WITH parts AS (
        SELECT r.group_key, r.reason_code, r.policy_type, r.policy_arn, r.policy_name,
               r.statement_sid, r.attachment_target_arn,
               r.event_count - coalesce((SELECT sum(o.event_count) FROM latest_other_regions AS o
                                         WHERE o.group_key = r.group_key), 0) AS events
        FROM latest_reasons AS r
        UNION ALL
        SELECT group_key, reason_code, policy_type, policy_arn, policy_name, statement_sid,
               attachment_target_arn, event_count
        FROM latest_other_regions
    )
    SELECT policy_type, policy_arn, policy_name, statement_sid, attachment_target_arn,
           count(DISTINCT group_key) AS groups, sum(events) AS events
    FROM parts
    WHERE reason_code LIKE 'EXPLICIT_DENY%'
    GROUP BY ALL
    ORDER BY events DESC;

-- The latest run's groups that a logged policy change explains: what changed, who
-- changed it, and whether a later change allowed the request again.
CREATE OR REPLACE VIEW root_causes AS
    SELECT r.principal_arn, r.action, r.resource_arn, r.event_count, r.last_seen,
           r.assessment_result, r.root_cause_time, r.root_cause_event_name,
           r.root_cause_changed_by, c.policy_type AS changed_policy_type,
           c.policy_arn AS changed_policy_arn, c.target_arn AS changed_target_arn,
           r.root_cause_summary, r.root_cause_event_id, r.fixed_by_event_id
    FROM latest_reasons AS r LEFT JOIN changes AS c ON c.event_id = r.root_cause_event_id
    WHERE r.root_cause_event_id IS NOT NULL
    ORDER BY r.root_cause_time DESC, r.event_count DESC;

-- Denials per day and reason, joining events to their group's reason, or to their
-- region's where the group's request is denied for another reason there.
CREATE OR REPLACE VIEW denials_by_reason AS
    SELECT CAST(d.event_time AS DATE) AS day,
           coalesce(o.reason_code, r.reason_code) AS reason_code,
           coalesce(o.assessment_result, r.assessment_result) AS assessment_result,
           count(*) AS events
    FROM denials AS d JOIN latest_reasons AS r USING (group_key)
    LEFT JOIN latest_other_regions AS o ON o.group_key = d.group_key AND o.region = d.region
    GROUP BY ALL
    ORDER BY day, events DESC;
