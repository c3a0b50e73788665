-- One sample event per raw_key (see denials.sql): what the mapping step reads.
-- The latest event of the raw_key, whole (every column from the same event); of events
-- in the same second, the largest event id, as groups.sql chooses a group's sample.
-- The samples come latest first, so the first raw_key the mapping step sees in a group
-- is the one whose sample groups.sql names: only those are kept, encoded, for analysis.
-- Always runs locally on DuckDB (transpiled), over the denial rows the source returned.
SELECT *
FROM (
    SELECT
        d.*,
        row_number() OVER (PARTITION BY raw_key ORDER BY event_time DESC, event_id DESC) AS sample_rank
    FROM denial_rows AS d
) AS ranked
WHERE sample_rank = 1
ORDER BY event_time DESC, event_id DESC
