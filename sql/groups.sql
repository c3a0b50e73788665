-- Distinct (principal, action, resource) groups with their event counts.
-- `denial_rows` is what denials.sql returned; `denial_mapping` holds the IAM
-- actions each raw_key maps to (an event needing several actions counts once per
-- action). Always runs locally on DuckDB (transpiled).
WITH mapped_denials AS (
    SELECT
        d.event_id, d.event_time, d.raw_key, m.principal_arn, m.principal_account,
        m.action, m.resource_arn, m.group_key, m.problem
    FROM denial_rows AS d
    JOIN denial_mapping AS m ON d.raw_key = m.raw_key
)
SELECT
    group_key,
    principal_arn,
    -- The sample's: an event may claim an account its caller's ARN does not name (its
    -- userIdentity is written by whoever wrote the log), and one group must stay one row.
    max_by(principal_account, ROW(event_time, event_id)) AS account_id,
    action,
    resource_arn,
    count(*) AS event_count,
    min(from_iso8601_timestamp(event_time)) AS first_seen,
    max(from_iso8601_timestamp(event_time)) AS last_seen,
    -- The group's latest event. eventTime has whole seconds, so ties are common; the event
    -- id breaks them (as in samples.sql), so both columns name one event, the one whose
    -- shape is explained, and a re-run over the same logs picks it again.
    max_by(event_id, ROW(event_time, event_id)) AS sample_event_id,
    max_by(raw_key, ROW(event_time, event_id)) AS sample_raw_key,
    arbitrary(problem) AS problem
FROM mapped_denials
GROUP BY group_key, principal_arn, action, resource_arn
ORDER BY event_count DESC, group_key
