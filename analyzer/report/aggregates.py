"""Every number of the report, aggregated in SQL over the views of ``results.py``.

Two sources, each for what it is the record of:

* denial *events* (totals, per day, per result, account, principal, action,
  suppressed events) count rows of ``denials``; the AssessmentResult of an
  event is that of its group in ``reasons`` (joined on ``group_key``), or its region's
  where the group is denied for another reason there (``other_regions``);
* denial *groups* (new denials, hot spots, what changed, suppressed groups) are rows of
  ``reasons`` with their ``event_count`` (hot spots and what to fix first: of
  ``reason_parts``, a group's denials in such regions counted under their own statement or
  fix); the backlog is ``backlog``;
* the policy change behind a new denial is the ``changes`` row its ``reasons`` row names.

Lists leave suppressed groups out; their counts appear per rule. Python here
only turns result rows into frozen dataclasses; templates only render them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from analyzer.arn import Arn
from analyzer.engine.service_rules import permission_set_of
from analyzer.explain.combine import combined
from analyzer.explain.registry import registry
from analyzer.report.results import Runs
from analyzer.suppressions import Rule, Suppressions

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True, slots=True)
class Count:
    """Denial events (and distinct groups) for one label of a breakdown; ``other`` marks
    the row that sums every label beyond the top N (its label says how many)."""

    label: str
    events: int
    groups: int
    other: bool = False


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    events: int


@dataclass(frozen=True, slots=True)
class Totals:
    denials: int  # every denial event of the latest run, suppressed ones included
    reported: int  # not suppressed
    suppressed: int
    groups: int
    principals: int
    accounts: int
    previous_reported: int | None  # None when there is no previous run

    @property
    def delta(self) -> int | None:
        return None if self.previous_reported is None else self.reported - self.previous_reported


@dataclass(frozen=True, slots=True)
class HotSpot:
    """One explicitly denying statement, where it is attached, the groups it denies, and
    the edit suggested for its largest group (None when the analysis had none)."""

    policy_type: str | None
    policy_arn: str | None
    policy_name: str | None
    statement_sid: str | None
    attachment_target_arn: str | None
    groups: int
    events: int
    suggestion: str | None = None
    suggested_statement: str | None = None  # pretty-printed JSON


@dataclass(frozen=True, slots=True)
class Fix:
    """One policy to add to one attachment target (for IAM Identity Center roles: to their
    permission set, whatever account each role is in): every reported missing-allow group
    it resolves, with the statements merged (the "what to fix first" list)."""

    kind: str  # "identity policy", "key policy", "trust policy", "SCP"...
    policy_type: str
    target: str | None
    events: int
    groups: int
    principals: int
    actions: tuple[str, ...]
    policy: str  # pretty-printed JSON, ready to copy


@dataclass(frozen=True, slots=True)
class Rest:
    """What a top-N list left out: how many entries, and their events."""

    entries: int
    events: int


@dataclass(frozen=True, slots=True)
class LoggedChange:
    """A policy-change event behind a denial (or one that fixed it), as ``changes/`` logs it.

    ``logged`` is False when ``changes/`` has no row for the event (results written before
    the table existed, or a pruned partition): only the event id, time, author and API
    that ``reasons/`` recorded are known then.
    """

    event_id: str
    event_time: datetime | None
    changed_by: str | None
    event_name: str | None
    account_id: str | None = None
    policy_type: str | None = None
    policy_arn: str | None = None
    target_arn: str | None = None
    document: str | None = None  # pretty-printed JSON when it parses, else as logged
    summary: str | None = None  # the one-line diff the analysis wrote, when it kept one
    logged: bool = True


@dataclass(frozen=True, slots=True)
class NewDenial:
    """A denial group of the latest run that the previous run did not have, with the change
    that made it denied (None when no logged change explains it) and the one that fixed it."""

    principal_arn: str
    action: str
    resource_arn: str | None
    assessment_result: str | None
    event_count: int
    first_seen: datetime | None
    last_seen: datetime | None
    root_cause: LoggedChange | None
    fixed_by: LoggedChange | None
    # Where the same request is denied for another reason (reasons.other_regions).
    elsewhere: tuple[RegionResult, ...] = ()


@dataclass(frozen=True, slots=True)
class RegionResult:
    """Of a group's denials, those of one region where its request is denied for another
    reason than the group's row says."""

    region: str
    event_count: int
    assessment_result: str


@dataclass(frozen=True, slots=True)
class NewDenials:
    """The report's first section: tonight's new denial groups, those a logged change
    explains first, then most events first.

    ``first_run``: there is no previous run, so every group of the window is new.
    ``root_causes``: False when the results predate root causes (nothing is known about
    the changes behind the groups, which is not the same as "no change").
    """

    first_run: bool
    root_causes: bool
    groups: int
    explained: int  # groups with a root cause
    listed: tuple[NewDenial, ...]
    rest: Rest | None


@dataclass(frozen=True, slots=True)
class Change:
    principal_arn: str
    action: str
    resource_arn: str | None
    before: int  # events in the previous run (0 for a new group)
    after: int  # events in the latest run (0 for a resolved group)

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class Changes:
    new_groups: int
    resolved_groups: int
    changed_groups: int
    new: tuple[Change, ...]
    resolved: tuple[Change, ...]
    changed: tuple[Change, ...]  # largest |delta| first


@dataclass(frozen=True, slots=True)
class BacklogEntry:
    """One principal's missing allows, without the actions suppression rules expect."""

    principal_arn: str
    account_id: str | None
    event_count: int
    actions: tuple[str, ...]
    suppressed_actions: tuple[str, ...]
    suggested_policy: str  # pretty-printed JSON, suppressed actions removed


@dataclass(frozen=True, slots=True)
class RuleCount:
    rule: Rule
    groups: int
    events: int


@dataclass(frozen=True, slots=True)
class ReportData:
    results: str
    runs: Runs
    top: int
    totals: Totals
    per_day: tuple[Day, ...]
    by_result: tuple[Count, ...]
    by_account: tuple[Count, ...]
    top_principals: tuple[Count, ...]
    top_actions: tuple[Count, ...]
    new_denials: NewDenials  # the report's first section
    fixes: tuple[Fix, ...]  # ranked by events
    fixes_rest: Rest | None
    hot_spots: tuple[HotSpot, ...]
    hot_spots_rest: Rest | None
    fixed_since: Rest | None  # groups a later logged change fixed: in neither list above
    changes: Changes | None  # None when there is no previous run
    backlog_principals: int
    backlog: tuple[BacklogEntry, ...]
    suppressed: tuple[RuleCount, ...]
    warnings: tuple[str, ...]
    snapshot_ids: tuple[str, ...]


TOTALS_SQL = """
SELECT count(*) AS denials,
       count(*) FILTER (WHERE suppressed_by IS NULL) AS reported,
       count(*) FILTER (WHERE suppressed_by IS NOT NULL) AS suppressed,
       (SELECT count(*) FROM reasons WHERE suppressed_by IS NULL) AS groups,
       count(DISTINCT principal_arn) FILTER (WHERE suppressed_by IS NULL) AS principals,
       count(DISTINCT account_id) FILTER (WHERE suppressed_by IS NULL) AS accounts,
       (SELECT count(*) FROM previous_denials WHERE suppressed_by IS NULL) AS previous_reported
FROM denials
"""

PER_DAY_SQL = """
SELECT CAST(CAST(event_time AS TIMESTAMPTZ) AS DATE) AS day, count(*) AS events
FROM denials_all WHERE suppressed_by IS NULL
GROUP BY day ORDER BY day DESC LIMIT $days
"""

BREAKDOWN_SQL = """
WITH counted AS (
  SELECT coalesce(CAST({label} AS VARCHAR), '(none)') AS label, count(*) AS events,
         count(DISTINCT d.group_key) AS groups
  FROM denials d LEFT JOIN reasons r ON r.group_key = d.group_key
  LEFT JOIN other_regions o ON o.group_key = d.group_key AND o.region = d.region
  WHERE d.suppressed_by IS NULL
  GROUP BY label),
ranked AS (SELECT *, row_number() OVER (ORDER BY events DESC, label) AS rank FROM counted)
SELECT label, events, groups, false AS other FROM ranked WHERE rank <= $top
UNION ALL
SELECT 'other (' || count(*) || ')', sum(events), sum(groups), true FROM ranked
WHERE rank > $top HAVING count(*) > 0
ORDER BY other, events DESC, label
"""
# The labels a breakdown may group by (trusted SQL, never user input).
BREAKDOWN_LABELS = {
    # An event's region's reason where its group is denied otherwise there.
    "by_result": "coalesce(o.assessment_result, r.assessment_result)",
    "by_account": "d.account_id",
    "top_principals": "d.principal_arn",
    "top_actions": "d.action",
}

# Over reason_parts: a group's denials in its other regions count under their own reason.
HOT_SPOTS_SQL = """
SELECT policy_type, policy_arn, policy_name, statement_sid, attachment_target_arn,
       count(DISTINCT group_key) AS groups, sum(event_count) AS events,
       arg_max(fix_policy, event_count) FILTER (WHERE fix_policy IS NOT NULL) AS fix_policy,
       count(*) OVER () AS spots, sum(sum(event_count)) OVER () AS all_events
FROM reason_parts
WHERE suppressed_by IS NULL AND fixed_by_event_id IS NULL AND list_contains($explicit, assessment_result)
GROUP BY ALL
ORDER BY events DESC, groups DESC, policy_arn, statement_sid, attachment_target_arn LIMIT $top
"""

# Missing-allow groups with the policies that would let them through (PoliciesToAdd), a
# group's regions where it is denied for another reason each with its own (reason_parts);
# neither list shows a group a later logged change already fixed (its sample is the
# group's latest event, so nothing of it was denied after the fix).
FIX_GROUPS_SQL = """
SELECT group_key, principal_arn, action, event_count, fix_policy FROM reason_parts
WHERE suppressed_by IS NULL AND fixed_by_event_id IS NULL AND fix_policy IS NOT NULL
  AND NOT list_contains($explicit, assessment_result)
"""

FIXED_SINCE_SQL = """
SELECT count(*) AS entries, coalesce(sum(event_count), 0) AS events FROM reasons
WHERE suppressed_by IS NULL AND fixed_by_event_id IS NOT NULL
"""

# Reported groups of the latest run absent from the previous run (all of them on a first run,
# when previous_reasons is empty), with the change events their root-cause columns name; those
# a change explains first (they answer "what changed?"), then by events.
NEW_DENIALS_SQL = """
WITH fresh AS (
  SELECT * FROM reasons r
  WHERE r.suppressed_by IS NULL AND NOT EXISTS (
    SELECT 1 FROM previous_reasons p
    WHERE p.suppressed_by IS NULL AND p.principal_arn = r.principal_arn AND p.action = r.action
      AND p.resource_arn IS NOT DISTINCT FROM r.resource_arn))
SELECT f.principal_arn, f.action, f.resource_arn, f.assessment_result, f.event_count,
       f.first_seen, f.last_seen,
       f.root_cause_event_id, f.root_cause_time, f.root_cause_changed_by, f.root_cause_event_name,
       f.fixed_by_event_id, f.root_cause_summary, f.fixed_by_summary, f.other_regions,
       c AS cause, c.event_id IS NOT NULL AS cause_logged,
       x AS fix, x.event_id IS NOT NULL AS fix_logged,
       count(*) OVER () AS groups, count(f.root_cause_event_id) OVER () AS explained,
       sum(f.event_count) OVER () AS all_events
FROM fresh f
LEFT JOIN changes_all c ON c.event_id = f.root_cause_event_id
LEFT JOIN changes_all x ON x.event_id = f.fixed_by_event_id
ORDER BY f.root_cause_event_id IS NULL, f.event_count DESC, f.principal_arn, f.action, f.resource_arn
LIMIT $top
"""

CHANGES_SQL = """
WITH cur AS (SELECT principal_arn, action, resource_arn, sum(event_count) AS events
             FROM reasons WHERE suppressed_by IS NULL GROUP BY ALL),
     prev AS (SELECT principal_arn, action, resource_arn, sum(event_count) AS events
              FROM previous_reasons WHERE suppressed_by IS NULL GROUP BY ALL),
diff AS (
  SELECT coalesce(cur.principal_arn, prev.principal_arn) AS principal_arn,
         coalesce(cur.action, prev.action) AS action,
         coalesce(cur.resource_arn, prev.resource_arn) AS resource_arn,
         coalesce(prev.events, 0) AS before, coalesce(cur.events, 0) AS after,
         CASE WHEN prev.events IS NULL THEN 'new' WHEN cur.events IS NULL THEN 'resolved'
              ELSE 'changed' END AS status
  FROM cur FULL OUTER JOIN prev
    ON cur.principal_arn = prev.principal_arn AND cur.action = prev.action
   AND cur.resource_arn IS NOT DISTINCT FROM prev.resource_arn
  WHERE cur.events IS DISTINCT FROM prev.events)
SELECT *, count(*) OVER (PARTITION BY status) AS groups FROM diff
QUALIFY row_number() OVER (PARTITION BY status
          ORDER BY abs(after - before) DESC, principal_arn, action, resource_arn) <= $top
ORDER BY status, abs(after - before) DESC, principal_arn, action, resource_arn
"""

# A backlog action is suppressed when every group of that principal and action
# in ``reasons`` is; the backlog itself has no resource to match rules against.
BACKLOG_SQL = """
WITH missing AS (
  SELECT principal_arn, account_id, event_count, suggested_policy,
         unnest(missing_actions) AS action FROM backlog),
verdict AS (
  SELECT principal_arn, lower(action) AS action_key,
         bool_and(suppressed_by IS NOT NULL) AS suppressed
  FROM reasons GROUP BY ALL),
entries AS (
  SELECT m.principal_arn, m.account_id, m.event_count, m.suggested_policy,
         list(DISTINCT m.action ORDER BY m.action) FILTER (WHERE NOT coalesce(v.suppressed, false))
           AS actions,
         list(DISTINCT m.action ORDER BY m.action) FILTER (WHERE v.suppressed) AS suppressed_actions
  FROM missing m LEFT JOIN verdict v
    ON v.principal_arn = m.principal_arn AND v.action_key = lower(m.action)
  GROUP BY ALL)
SELECT *, count(*) OVER () AS principals FROM entries
WHERE len(coalesce(actions, [])) > 0
ORDER BY event_count DESC, principal_arn LIMIT $top
"""

SUPPRESSED_SQL = """
SELECT rule, sum(groups) AS groups, sum(events) AS events FROM (
  SELECT suppressed_by AS rule, count(*) AS groups, 0 AS events
  FROM reasons WHERE suppressed_by IS NOT NULL GROUP BY rule
  UNION ALL
  SELECT suppressed_by, 0, count(*) FROM denials WHERE suppressed_by IS NOT NULL GROUP BY 1)
GROUP BY rule ORDER BY rule
"""

SNAPSHOTS_SQL = "SELECT DISTINCT snapshot_id FROM reasons WHERE snapshot_id IS NOT NULL ORDER BY 1"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or None)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def explicit_results() -> list[str]:
    """The AssessmentResult strings of explicit denies, from the reason registry."""
    return sorted({info.assessment_result for info in registry().values() if info.explicit})


def strip_actions(policy_json: str, actions: tuple[str, ...]) -> str:
    """``policy_json`` pretty-printed, without ``actions`` (case-insensitive).

    Statements left without an action are dropped. Text that is not a policy
    document is returned unchanged, so a pipeline bug stays visible.
    """
    try:
        policy = json.loads(policy_json)
        statements = policy["Statement"]
    except (ValueError, TypeError, KeyError):
        return policy_json
    removed = {action.lower() for action in actions}
    kept = []
    for statement in statements if isinstance(statements, list) else [statements]:
        listed = statement.get("Action")
        if listed is None:  # a NotAction statement: nothing to strip
            kept.append(statement)
            continue
        remaining = [
            action
            for action in ([listed] if isinstance(listed, str) else listed)
            if action.lower() not in removed
        ]
        if remaining:
            kept.append({**statement, "Action": remaining})
    return json.dumps({**policy, "Statement": kept}, indent=2)


def fix_kind(policy_type: str, target: str | None) -> str:
    """What a user calls the policy a fix goes into: a resource policy on a KMS key is its
    key policy, on an IAM role its trust policy; an identity policy of an IAM Identity
    Center role is its permission set's (only Identity Center changes the role)."""
    if policy_type == "identity" and target and (permission_set := permission_set_of(target)):
        return f"permission set {permission_set} (inline policy)"
    if policy_type == "resource":
        arn = Arn.parse(target) if target else None
        if arn is not None and arn.service == "kms":
            return "key policy"
        if arn is not None and arn.service == "iam" and arn.resource_type == "role":
            return "trust policy"
        return "resource policy"
    return {
        "identity": "identity policy",
        "permissionsBoundary": "permissions boundary",
        "scp": "SCP",
        "rcp": "RCP",
        "session": "session policy",
        "endpoint": "VPC endpoint policy",
    }.get(policy_type, f"{policy_type} policy")


def _policies_to_add(fix_policy: str) -> list[dict[str, Any]]:
    """The PoliciesToAdd entries of a reasons row (nothing for text that is not that list)."""
    try:
        entries = json.loads(fix_policy)
    except ValueError:
        return []
    return (
        [entry for entry in entries if isinstance(entry, dict) and "Policy" in entry]
        if isinstance(entries, list)
        else []
    )


def _fix_place(policy_type: str, target: str | None) -> tuple[str, str | None]:
    """Where a fix is made: its attachment target, except that an IAM Identity Center role's
    identity policy is its permission set's, one place for every account the set reaches."""
    if policy_type == "identity" and target and (permission_set := permission_set_of(target)):
        return policy_type, f"permission set {permission_set}"
    return policy_type, target


def _shown_target(place: str | None, targets: set[str]) -> str | None:
    """The target a fix names: the attachment target, or a permission set's roles by account."""
    if len(targets) <= 1:
        return next(iter(targets), place)
    accounts = sorted({arn.account for target in targets if (arn := Arn.parse(target)) and arn.account})
    return f"its roles in {', '.join(accounts)}" if accounts else place


def _fixes(con: duckdb.DuckDBPyConnection, top: int) -> tuple[tuple[Fix, ...], Rest | None]:
    """Reported missing allows merged per place (``_fix_place``), most events first, each
    place's statements ``combined``."""
    merged: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in _rows(con, FIX_GROUPS_SQL, explicit=explicit_results()):
        for entry in _policies_to_add(row["fix_policy"]):
            target = entry.get("AttachmentTargetArn")
            key = _fix_place(str(entry.get("PolicyType")), target)
            fix = merged.setdefault(
                key,
                {
                    "events": 0,
                    "groups": set(),  # a group's regions may need the same place's fix
                    "principals": set(),
                    "actions": set(),
                    "statements": [],
                    "targets": set(),
                },
            )
            if target:
                fix["targets"].add(target)
            fix["events"] += row["event_count"]
            fix["groups"].add(row["group_key"])
            fix["principals"].add(row["principal_arn"])
            fix["actions"].add(row["action"])
            statements = entry["Policy"].get("Statement", [])
            fix["statements"].extend(statements if isinstance(statements, list) else [statements])
    ranked = sorted(merged.items(), key=lambda item: (-item[1]["events"], item[0][0], item[0][1] or ""))
    fixes = tuple(
        Fix(
            kind=fix_kind(policy_type, min(fix["targets"], default=place)),
            policy_type=policy_type,
            target=_shown_target(place, fix["targets"]),
            events=fix["events"],
            groups=len(fix["groups"]),
            principals=len(fix["principals"]),
            actions=tuple(sorted(fix["actions"])),
            policy=json.dumps({"Version": "2012-10-17", "Statement": combined(fix["statements"])}, indent=2),
        )
        for (policy_type, place), fix in ranked[:top]
    )
    left = ranked[top:]
    rest = Rest(len(left), sum(fix["events"] for _, fix in left)) if left else None
    return fixes, rest


def _hot_spot(row: dict[str, Any]) -> HotSpot:
    """A hot-spot row with the suggested edit of its largest group, when there is one."""
    edits: list[Any] = []
    if row["fix_policy"]:
        try:
            edits = json.loads(row["fix_policy"])
        except ValueError:
            edits = []
    edit = (
        next((e for e in edits if isinstance(e, dict) and "Suggestion" in e), None)
        if isinstance(edits, list)
        else None
    )
    return HotSpot(
        policy_type=row["policy_type"],
        policy_arn=row["policy_arn"],
        policy_name=row["policy_name"],
        statement_sid=row["statement_sid"],
        attachment_target_arn=row["attachment_target_arn"],
        groups=row["groups"],
        events=row["events"],
        suggestion=edit["Suggestion"] if edit else None,
        suggested_statement=(
            json.dumps(edit["SuggestedStatement"], indent=2)
            if edit and edit.get("SuggestedStatement")
            else None
        ),
    )


def _hot_spots(con: duckdb.DuckDBPyConnection, top: int) -> tuple[tuple[HotSpot, ...], Rest | None]:
    rows = _rows(con, HOT_SPOTS_SQL, explicit=explicit_results(), top=top)
    spots = tuple(_hot_spot(row) for row in rows)
    if not rows or rows[0]["spots"] <= len(rows):
        return spots, None
    return spots, Rest(
        rows[0]["spots"] - len(rows), int(rows[0]["all_events"]) - sum(spot.events for spot in spots)
    )


def _pretty(document: str | None) -> str | None:
    """A logged policy document pretty-printed; text that is not JSON is shown as logged."""
    if document is None:
        return None
    try:
        return json.dumps(json.loads(document), indent=2)
    except ValueError:
        return document


def _logged_change(
    row: dict[str, Any] | None, event_id: str | None, summary: str | None, **recorded: Any
) -> LoggedChange | None:
    """The ``changes`` row of ``event_id``; without one, what ``reasons`` recorded of it."""
    if event_id is None:
        return None
    if row is None:
        return LoggedChange(event_id=event_id, summary=summary, logged=False, **recorded)
    return LoggedChange(
        summary=summary,
        event_id=event_id,
        event_time=row["event_time"],
        changed_by=row["changed_by"],
        event_name=row["event_name"],
        account_id=row["account_id"],
        policy_type=row["policy_type"],
        policy_arn=row["policy_arn"],
        target_arn=row["target_arn"],
        document=_pretty(row["document"]),
    )


def _new_denials(con: duckdb.DuckDBPyConnection, runs: Runs, top: int) -> NewDenials:
    rows = _rows(con, NEW_DENIALS_SQL, top=top)
    listed = tuple(
        NewDenial(
            principal_arn=row["principal_arn"],
            action=row["action"],
            resource_arn=row["resource_arn"],
            assessment_result=row["assessment_result"],
            event_count=row["event_count"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            root_cause=_logged_change(
                row["cause"] if row["cause_logged"] else None,
                row["root_cause_event_id"],
                row["root_cause_summary"],
                event_time=row["root_cause_time"],
                changed_by=row["root_cause_changed_by"],
                event_name=row["root_cause_event_name"],
            ),
            fixed_by=_logged_change(
                row["fix"] if row["fix_logged"] else None,
                row["fixed_by_event_id"],
                row["fixed_by_summary"],
                event_time=None,
                changed_by=None,
                event_name=None,
            ),
            elsewhere=tuple(
                RegionResult(entry["region"], entry["event_count"], entry["assessment_result"])
                for entry in json.loads(row["other_regions"] or "[]")
            ),
        )
        for row in rows
    )
    groups = rows[0]["groups"] if rows else 0
    rest = (
        Rest(groups - len(rows), int(rows[0]["all_events"]) - sum(group.event_count for group in listed))
        if groups > len(rows)
        else None
    )
    return NewDenials(
        first_run=runs.previous is None,
        root_causes=runs.root_causes,
        groups=groups,
        explained=rows[0]["explained"] if rows else 0,
        listed=listed,
        rest=rest,
    )


def _changes(con: duckdb.DuckDBPyConnection, top: int) -> Changes:
    lists: dict[str, list[Change]] = {"new": [], "resolved": [], "changed": []}
    groups = dict.fromkeys(lists, 0)
    for row in _rows(con, CHANGES_SQL, top=top):
        status = row.pop("status")
        groups[status] = row.pop("groups")
        lists[status].append(Change(**row))
    return Changes(
        new_groups=groups["new"],
        resolved_groups=groups["resolved"],
        changed_groups=groups["changed"],
        new=tuple(lists["new"]),
        resolved=tuple(lists["resolved"]),
        changed=tuple(lists["changed"]),
    )


def _backlog(con: duckdb.DuckDBPyConnection, top: int) -> tuple[int, tuple[BacklogEntry, ...]]:
    rows = _rows(con, BACKLOG_SQL, top=top)
    entries = tuple(
        BacklogEntry(
            principal_arn=row["principal_arn"],
            account_id=row["account_id"],
            event_count=row["event_count"],
            actions=tuple(row["actions"]),
            suppressed_actions=tuple(row["suppressed_actions"] or ()),
            suggested_policy=strip_actions(row["suggested_policy"], tuple(row["suppressed_actions"] or ())),
        )
        for row in rows
    )
    return (rows[0]["principals"] if rows else 0), entries


def _suppressed(con: duckdb.DuckDBPyConnection, suppressions: Suppressions) -> tuple[RuleCount, ...]:
    """Every active rule with what it hid; a rule hiding nothing may be stale."""
    counts = {row["rule"]: row for row in _rows(con, SUPPRESSED_SQL)}
    empty = {"groups": 0, "events": 0}
    return tuple(
        RuleCount(rule, counts.get(rule.index, empty)["groups"], counts.get(rule.index, empty)["events"])
        for rule in suppressions.active
    )


def collect(
    con: duckdb.DuckDBPyConnection,
    runs: Runs,
    *,
    results: str,
    suppressions: Suppressions,
    top: int = 10,
    days: int = 90,
) -> ReportData:
    """Run every aggregate of the report against ``open_results``'s views."""
    totals = _rows(con, TOTALS_SQL)[0]
    if runs.previous is None:
        totals["previous_reported"] = None
    principals, backlog = _backlog(con, top)
    fixes, fixes_rest = _fixes(con, top)
    hot_spots, hot_spots_rest = _hot_spots(con, top)
    fixed_since = Rest(**_rows(con, FIXED_SINCE_SQL)[0])
    return ReportData(
        results=results,
        runs=runs,
        top=top,
        totals=Totals(**totals),
        new_denials=_new_denials(con, runs, top),
        per_day=tuple(Day(**row) for row in reversed(_rows(con, PER_DAY_SQL, days=days))),
        **{
            name: tuple(Count(**row) for row in _rows(con, BREAKDOWN_SQL.format(label=label), top=top))
            for name, label in BREAKDOWN_LABELS.items()
        },
        fixes=fixes,
        fixes_rest=fixes_rest,
        hot_spots=hot_spots,
        hot_spots_rest=hot_spots_rest,
        fixed_since=fixed_since if fixed_since.entries else None,
        changes=_changes(con, top) if runs.previous is not None else None,
        backlog_principals=principals,
        backlog=backlog,
        suppressed=_suppressed(con, suppressions),
        warnings=suppressions.warnings,
        snapshot_ids=tuple(row["snapshot_id"] for row in _rows(con, SNAPSHOTS_SQL)),
    )
