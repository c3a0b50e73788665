"""Policy snapshots (spec/snapshot.md): the model, its sources, the resolver and what applies.

Pure: no boto3 here (the collectors live in ``analyzer.collectors``).
"""

from analyzer.snapshot.applied import AppliedPolicies, Attachment, TargetType
from analyzer.snapshot.index import PolicyResolver, snapshot_resolver
from analyzer.snapshot.model import (
    FORMAT,
    Gap,
    Snapshot,
    load_snapshot,
    new_snapshot_data,
    snapshot_from_dict,
    write_snapshot,
)
from analyzer.snapshot.organization import (
    RCP,
    SCP,
    Organization,
    OrgNode,
    OrgPolicy,
    load_scp_file,
    organization_from_nodes,
)
from analyzer.snapshot.sources import PolicySource

__all__ = [
    "FORMAT",
    "RCP",
    "SCP",
    "AppliedPolicies",
    "Attachment",
    "Gap",
    "OrgNode",
    "OrgPolicy",
    "Organization",
    "PolicyResolver",
    "PolicySource",
    "Snapshot",
    "TargetType",
    "load_scp_file",
    "load_snapshot",
    "new_snapshot_data",
    "organization_from_nodes",
    "snapshot_from_dict",
    "snapshot_resolver",
    "write_snapshot",
]
