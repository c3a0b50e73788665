-- Denied CloudTrail events, successful policy changes and the session-creating calls
-- that may have passed session policies, one row per event, in Athena's dialect: one scan
-- of the logs yields all three (row_kind 'denial', 'change' or 'session').
--
-- Runs as written on Athena (the standard CloudTrail table, see
-- athena_cloudtrail_table.sql) and, transpiled by sqlglot, on DuckDB over a
-- `cloudtrail` view with the same columns. Struct fields are flattened here
-- because drivers return Athena ROW values as text.
--
-- raw_key identifies events that look the same to the mapping step (same
-- caller — the role for a role's sessions —, API, parameters, message but for EC2's
-- encoded authorization message): each
-- distinct raw_key is mapped to IAM actions and resources once, not once per event.
--
-- Policy changes are the successful events (no errorCode) that
-- analyzer/history/changes.py recognises; they are read over the denials' window
-- and up to the snapshot's collectedAt when that lies outside it (see
-- analyzer/pipeline/queries.py, time_window), so the policies at each denial's time
-- can be rebuilt from the snapshot.
--
-- Sessions are the successful AssumeRole* / GetFederationToken calls, read from 36 hours
-- before the denials' window (a federation token's longest life) to its end. Each denial
-- row names the call that created its session when it is among them (session_event_id,
-- matched on the temporary access key: the denial's userIdentity.accessKeyId, the call's
-- responseElements.credentials.accessKeyId; and on the session: the denial's
-- userIdentity.arn, the call's assumedRoleUser or federatedUser arn), so a session created
-- without session policies is known to be one. Only the calls whose session policies may matter leave
-- the scan as rows (analyzer/events/sessions.py decides exactly, from these rows): a
-- policy or policyArns parameter, CloudTrail's "omitted" marker, a packedPolicySize, or
-- any federation token. The others, most of them, cost a window over the rows the scan
-- keeps, not a row each.
--
-- Parameters: :since / :until (ISO timestamps of the denials, until exclusive),
-- :changes_since / :changes_until (the same for the changes), :sessions_since (the
-- sessions', which end at :until) and :since_day / :until_day (yyyy/MM/dd, the
-- table's partition projection, covering all three).
SELECT *
FROM (
    SELECT
        CASE
            -- A denial or policy change whose time is not one (null, missing, no date): its
            -- day, so its window and partition, or when the change took effect, cannot be
            -- known. Kept only to be named, not analysed.
            WHEN eventtime IS NULL THEN 'untimed'
            WHEN coalesce(errorcode, '') <> '' THEN 'denial'
            WHEN is_session_creation(eventsource, eventname) THEN 'session'
            ELSE 'change'
        END AS row_kind,
        -- The flat columns of analyzer/events/fields.py (ROW_COLUMNS: eventid AS event_id,
        -- useridentity.sessioncontext.sessionissuer.arn AS issuer_arn, ...), rendered in by
        -- analyzer/pipeline/queries.py: one list, which grouping.py turns back into events.
        row_columns(),
        to_hex(md5(to_utf8(concat_ws('|',
            -- Sessions of one role are one caller: the role, not the session, and the session
            -- ARN left out of the message (AWS's message names it), so a role's hourly sessions
            -- do not make every event a shape of its own.
            coalesce(useridentity.type, ''),
            CASE WHEN useridentity.type = 'AssumedRole'
                 THEN coalesce(useridentity.sessioncontext.sessionissuer.arn, useridentity.arn, '')
                 ELSE coalesce(useridentity.arn, '') END,
            coalesce(useridentity.sessioncontext.sessionissuer.arn, ''),
            coalesce(useridentity.invokedby, ''), coalesce(useridentity.accountid, ''),
            -- Callers outside IAM are told apart by these (analyzer/events/caller.py), and a
            -- web identity's subject and audience are condition keys.
            coalesce(useridentity.identityprovider, ''), coalesce(useridentity.onbehalfof.userid, ''),
            coalesce(useridentity.onbehalfof.identitystorearn, ''),
            CASE WHEN useridentity.type IN ('WebIdentityUser', 'SAMLUser')
                 THEN coalesce(useridentity.principalid, '') || '|' || coalesce(useridentity.username, '')
                 ELSE '' END,
            coalesce(useridentity.sessioncontext.webidfederationdata.federatedprovider, ''),
            coalesce(recipientaccountid, ''), coalesce(awsregion, ''), eventsource, eventname,
            coalesce(errorcode, ''),
            -- EC2's encoded authorization message differs on every call, retries of one
            -- request included, and the mapping reads nothing from it: left out too.
            without_encoded_message(
                CASE WHEN useridentity.type = 'AssumedRole' AND useridentity.arn IS NOT NULL
                     THEN replace(coalesce(errormessage, ''), useridentity.arn, '')
                     ELSE coalesce(errormessage, '') END),
            coalesce(requestparameters, ''), coalesce(vpcendpointid, ''),
            coalesce(array_join(transform(resources, r -> r.arn), ' '), '')
        )))) AS raw_key,
        -- The call that created a denial's session, when the scan read it: one scan, so a
        -- window over the access key and session rather than a join of the logs with themselves.
        CASE WHEN coalesce(errorcode, '') <> '' AND coalesce(useridentity.accesskeyid, '') <> ''
             THEN max(CASE WHEN coalesce(errorcode, '') = '' AND is_session_creation(eventsource, eventname)
                           THEN eventid END)
                  OVER (PARTITION BY CASE
                      WHEN coalesce(errorcode, '') <> '' THEN useridentity.accesskeyid
                      -- The new key, credentials.accessKeyId: the only accessKeyId these
                      -- calls' responses hold. A pattern, not a JSON function: text that is
                      -- not JSON yields no key rather than failing the scan, and searching
                      -- for the one name costs little more than reading the column.
                      WHEN is_session_creation(eventsource, eventname)
                      THEN nullif(regexp_extract(responseelements,
                          '"accessKeyId"\s*:\s*"([^"]+)"', 1), '')
                  END, CASE
                      -- And the session: a call that made another role's or account's session,
                      -- or another session name, with the key is not this caller's. Each side
                      -- without its partition, the caller's ARN rebuilt where CloudTrail left
                      -- it out, as analyzer/events/sessions.py's SessionIndex (and
                      -- events/caller.py) reads them; a call naming no session matches none.
                      WHEN coalesce(errorcode, '') <> '' THEN CASE
                          WHEN coalesce(useridentity.type, '') NOT IN ('AssumedRole', 'FederatedUser')
                          THEN NULL
                          WHEN coalesce(useridentity.arn, '') <> ''
                          THEN nullif(regexp_extract(useridentity.arn, '^arn:[^:]*:sts::(.+)', 1), '')
                          WHEN useridentity.type = 'AssumedRole'
                              AND strpos(coalesce(useridentity.principalid, ''), ':') > 0
                              AND coalesce(useridentity.sessioncontext.sessionissuer.arn, '') <> ''
                          THEN useridentity.accountid || ':assumed-role/'
                              || regexp_extract(useridentity.sessioncontext.sessionissuer.arn, '[^/]*$')
                              || '/' || substr(useridentity.principalid,
                                  strpos(useridentity.principalid, ':') + 1)
                      END
                      WHEN is_session_creation(eventsource, eventname)
                      THEN coalesce(regexp_extract(responseelements,
                          '"arn"\s*:\s*"arn:[^:"]*:sts::([^"]+)"', 1), '')
                  END)
        END AS session_event_id
    FROM cloudtrail
    WHERE ("timestamp" BETWEEN :since_day AND :until_day OR "timestamp" IS NULL)
        AND (
            (
                eventtime IS NULL
                AND (
                    is_access_denied(errorcode)
                    OR (coalesce(errorcode, '') = '' AND is_policy_change(eventsource, eventname))
                )
            )
            OR
            (
                eventtime >= :since
                AND eventtime < :until
                -- AWS's access-denied codes, rendered in by analyzer/pipeline/queries.py from
                -- analyzer/data/denial_messages.json (the list `analyze` uses), case-insensitively.
                AND is_access_denied(errorcode)
            )
            OR (
                coalesce(errorcode, '') = ''
                AND eventtime >= :changes_since
                AND eventtime < :changes_until
                -- The (eventSource, eventName) pairs of analyzer/history/changes.py's
                -- registry, rendered in by analyzer/pipeline/queries.py.
                AND is_policy_change(eventsource, eventname)
            )
            OR (
                coalesce(errorcode, '') = ''
                AND eventtime >= :sessions_since
                AND eventtime < :until
                -- analyzer/events/sessions.py's SESSION_EVENT_NAMES, rendered in.
                AND is_session_creation(eventsource, eventname)
            )
        )
) AS scanned
WHERE row_kind <> 'session'
    OR event_name = 'GetFederationToken'
    OR request_parameters LIKE '%"policy%'
    OR request_parameters LIKE '%"omitted"%'
    OR response_elements LIKE '%"packedPolicySize"%'
