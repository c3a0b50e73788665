"""A group's denials in other regions than its sample's.

A group is one (principal, action, resource). A resource whose ARN names no region — "*"
for ``ec2:DescribeInstances`` or ``sts:GetCallerIdentity``-like calls, an S3 object, an IAM
role — is asked for from every region the caller calls, and a region-restricting SCP (AWS's
own example policy tests ``aws:RequestedRegion``) denies the same request in some regions
while its denials elsewhere have another cause. A group's result is its sample's, the
latest denial's: without more, every denial of the group would be reported under the reason
of whichever region was called last. On the benchmark's night (1M events) 3,812 of 6,477
groups were denied in two regions, and in 1,907 of them (17,994 of 49,885 denials) AWS's
own messages blamed an SCP for some denials and the identity policies for others.

So the group stage counts each group's denials per region (``counts``), and a worker
evaluates the sample's request once in each of the group's other regions: the same request
with ``aws:RequestedRegion`` set to that region (``in_region``), under the same policies,
without AWS's message (it is the sample's) and without a fix (only the reason is compared).
The regions where the reason differs (another reason code, policy or statement:
``differing``) go into the group's ``other_regions`` column with their denials, and a note
says so (``note``); one evaluation per other region, for the groups denied in more than one.
Where the other reason is a missing allow, the region's request is explained again with
its fix, which the backlog and the report's "what to fix first" take in (``parts``): a
group last denied by the SCP in one region still needs its identity allow in the others.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from analyzer.result_tables import OTHER_REGION

if TYPE_CHECKING:
    import duckdb

    from analyzer.events.mapping import DeniedEvent
    from analyzer.explain.output import EventResult

# A region's reason: the reason row's columns (``work.reason_fields``) an entry holds
# besides its region, denials and fix.
OUTCOME = tuple(name for name in OTHER_REGION.names if name not in ("region", "event_count", "fix_policy"))
# What makes two reasons the same (the attachment target of a missing allow is known only
# with a fix, which a region's evaluation does not propose).
_COMPARED = ("reason_code", "policy_type", "policy_arn", "policy_name", "statement_sid")
_NAMED = 3  # regions a note names; the rest are counted
# The context keys (lower-case, as requests hold them) through which a region reaches a decision.
_REGION = "aws:requestedregion"
_ENDPOINT = "aws:sourcevpce"

_COUNTS = """
SELECT m.group_key, d.region, count(*) AS denials
FROM denial_rows AS d
JOIN denial_mapping AS m ON d.raw_key = m.raw_key
WHERE d.region IS NOT NULL
GROUP BY m.group_key, d.region
"""


def counts(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """``group_key`` -> its denials per region (JSON, regions sorted), for the groups
    denied in more than one region; ``connection`` holds ``denial_rows`` and
    ``denial_mapping``. An event needing several actions counts once per action, as in
    ``groups.sql``."""
    by_group: dict[str, dict[str, int]] = defaultdict(dict)
    for group_key, region, denials in connection.execute(_COUNTS).fetchall():
        by_group[group_key][region] = denials
    return {
        group_key: json.dumps(dict(sorted(regions.items())))
        for group_key, regions in by_group.items()
        if len(regions) > 1
    }


def others(regions_json: str | None, sample_region: str | None) -> tuple[tuple[str, int], ...]:
    """The group's other regions and their denials, most denials first."""
    if not regions_json:
        return ()
    found = json.loads(regions_json)
    return tuple(
        sorted(
            ((region, denials) for region, denials in found.items() if region != sample_region),
            key=lambda item: (-item[1], item[0]),
        )
    )


def in_region(event: DeniedEvent, region: str) -> DeniedEvent:
    """``event``'s request as if sent to ``region``: its requests keep their actions and
    resources (a group denied in several regions names no region in its resource)."""
    return replace(
        event.without_message(),  # AWS's message is about the sample's region
        region=region,
        context={**event.context, "aws:RequestedRegion": region},
    )


def decided_alike_everywhere(result: EventResult) -> bool:
    """Whether ``result``'s requests would be decided the same, for the same reasons, in
    any other region, so that evaluating them there again can be skipped: every
    explanation is the engine's own walk of the policies (not AWS's message, which an
    evaluation in another region does without), none of its statements reads
    ``aws:RequestedRegion`` (``Evaluation.keys_read``), and no request came through a VPC
    endpoint (whose policy is looked up in the request's region). ``in_region`` changes
    nothing else. On the benchmark's night this spares the groups of accounts without a
    region-restricting SCP and the calls of global services."""
    return bool(result.explanations) and all(
        explanation.evaluation.keys_read is not None
        and not explanation.from_message
        and _REGION not in explanation.evaluation.keys_read
        and _ENDPOINT not in explanation.request.context
        for explanation in result.explanations
    )


def differing(
    sample: Mapping[str, Any], elsewhere: Iterable[tuple[str, int, Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """The ``other_regions`` entries: each region whose reason (``OUTCOME`` of its
    reason row) is not the sample's, with its denials."""
    return [
        {"region": region, "event_count": denials, **{column: row.get(column) for column in OUTCOME}}
        for region, denials, row in elsewhere
        if not same_reason(row, sample)
    ]


def same_reason(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two reason rows (or entries) name the same reason: code, policy, statement."""
    return all(one.get(column) == other.get(column) for column in _COMPARED)


def parts(row: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """A reason row as parts with one reason each: the row for its denials in the regions
    where it holds, then each of its ``other_regions`` with its own reason, denials and fix
    (the group's other columns kept)."""
    entries = json.loads(row["other_regions"]) if row.get("other_regions") else []
    yield {**row, "event_count": row["event_count"] - sum(entry["event_count"] for entry in entries)}
    for entry in entries:
        yield {**row, **{column: entry.get(column) for column in OTHER_REGION.names if column != "region"}}


def reason_text(entry: Mapping[str, Any]) -> str:
    """A reason row's (or entry's) result, with the policy and statement behind it."""
    where = ", ".join(
        part
        for part in (
            entry.get("policy_name") or entry.get("policy_arn"),
            f"statement {entry['statement_sid']}" if entry.get("statement_sid") else None,
        )
        if part
    )
    return f"{entry['assessment_result']} ({where})" if where else str(entry["assessment_result"])


def note(sample_region: str | None, entries: list[dict[str, Any]]) -> str | None:
    """What a reader of the group's row must know when ``entries`` is not empty."""
    if not entries:
        return None
    parts = [
        f"{entry['event_count']} in {entry['region']}: {reason_text(entry)}" for entry in entries[:_NAMED]
    ]
    if len(entries) > _NAMED:
        rest = entries[_NAMED:]
        parts.append(f"{sum(entry['event_count'] for entry in rest)} in {len(rest)} more regions")
    return (
        f"this result is that of the group's latest denial, in {sample_region or 'no region'}; "
        "the same request is denied for another reason in other regions the group's denials "
        "came from (other_regions): " + "; ".join(parts)
    )
