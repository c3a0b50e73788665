-- The `denials/` output table: one row per denied event, with the primary IAM
-- action its raw_key maps to. Always runs locally on DuckDB (transpiled).
SELECT
    d.event_id,
    from_iso8601_timestamp(d.event_time) AS event_time,
    d.account_id,
    d.region,
    d.event_source,
    d.event_name,
    d.error_code,
    d.error_message,
    m.principal_arn,
    m.principal_type,
    m.action,
    m.resource_arn,
    d.source_ip,
    d.user_agent,
    m.group_key,
    m.aws_policy_type,
    m.aws_policy_arn,
    m.authorization_id
FROM denial_rows AS d
JOIN denial_mapping AS m ON d.raw_key = m.raw_key AND m.is_primary
ORDER BY event_time, d.event_id
