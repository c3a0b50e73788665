"""The reason-code registry (``analyzer/data/reasons.json``), loaded once on first use.

Codes are the stable keys that tables, SQL and tests join on; the texts
(AssessmentResult strings, titles, remediation wording) live only in the data
file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from analyzer.engine.model import PolicyType


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    code: str
    assessment_result: str
    title: str
    remediation: str
    policy_type: PolicyType | None = None
    explicit: bool | None = None


@lru_cache(maxsize=1)
def registry() -> Mapping[str, ReasonInfo]:
    raw = json.loads((resources.files("analyzer") / "data" / "reasons.json").read_text())
    entries = {}
    for item in raw["reasons"]:
        policy_type = item.get("policy_type")
        entries[item["code"]] = ReasonInfo(
            code=item["code"],
            assessment_result=item["assessment_result"],
            title=item["title"],
            remediation=item["remediation"],
            policy_type=PolicyType(policy_type) if policy_type else None,
            explicit=item.get("explicit"),
        )
    return MappingProxyType(entries)


def reason_info(code: str) -> ReasonInfo:
    return registry()[code]


def code_for(policy_type: PolicyType, explicit: bool) -> str:
    """The per-reason code of one policy type's explicit deny or missing allow.

    Resource-policy missing allows have two codes (cross-account, or a key or
    trust policy that is required in-account); callers pick between them. AWS's
    fixed rules each have their own code (``ServiceRule.code``), never looked up here.
    """
    for info in registry().values():
        if info.policy_type == policy_type and info.explicit is explicit:
            return info.code
    raise KeyError(f"no reason code for {policy_type} explicit={explicit}")
