"""Opt-in generalization of least-privilege fixes (``--generalize``).

By default a fix names exactly the denied resource. When one principal was
denied the same action on several resources that share a path, users may
prefer one statement on ``<common path>/*``: broader than strictly needed, so
only on request. The common prefix is cut back to a ``/`` or ``:`` boundary and
must keep the resource's own segment (a bucket, a table), so generalizing never
produces ``arn:aws:s3:::*`` or a service-wide wildcard.
"""

from __future__ import annotations

from collections.abc import Iterable

from analyzer.arn import Arn


def _minimum_length(arn: str) -> int:
    """Length of ``arn`` up to and including its first resource segment."""
    parsed = Arn.parse(arn)
    if parsed is None:  # not an ARN: nothing of it may be generalized
        return len(arn)
    resource = parsed.resource
    first = min((i for i in (resource.find("/"), resource.find(":")) if i >= 0), default=len(resource))
    if parsed.service != "s3":  # e.g. table/Orders: keep the type and the name
        second = resource.find("/", first + 1)
        first = second if second >= 0 else len(resource)
    return len(arn) - len(resource) + first


def generalized(resources: Iterable[str]) -> str | None:
    """One pattern covering ``resources`` (at least two), or None when they share no path."""
    distinct = sorted(set(resources))
    if len(distinct) < 2 or any(r == "*" for r in distinct):
        return None
    # In a sorted list, the first and last strings share the prefix all of them share.
    first, last = distinct[0], distinct[-1]
    length = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last))
    )
    prefix = first[:length]
    cut = max(prefix.rfind("/"), prefix.rfind(":"))
    if cut < 0:
        return None
    prefix = prefix[: cut + 1]
    if len(prefix) <= max(_minimum_length(r) for r in distinct):
        return None
    return prefix + "*"


def generalize_results(documents: list[dict]) -> list[dict]:
    """Rewrite the identity-policy fixes of ``analyze`` results (JSON documents) so that a
    principal's resources for one action that share a path become one pattern."""
    seen: dict[tuple[str, str], set[str]] = {}
    for statement, target in _identity_statements(documents):
        seen.setdefault((target, statement["Action"]), set()).add(statement["Resource"])
    patterns = {
        key: pattern for key, resources in seen.items() if (pattern := generalized(resources)) is not None
    }
    for document in documents:
        widened = []
        for statement, target in _identity_statements([document]):
            pattern = patterns.get((target, statement["Action"]))
            if pattern is not None:
                widened.append(f"{statement['Action']} on {pattern}")
                statement["Resource"] = pattern
        if widened:
            document.setdefault("Notes", []).append(
                "generalized on request (--generalize): resources denied to the same "
                "principal for the same action were merged into one pattern"
            )
            # No longer least privilege, which is what FixVerified vouches for.
            if document.get("FixVerified"):
                document["FixVerified"] = False
                document["FixCheck"] = (
                    f"not verified as least privilege: widened on request (--generalize) to "
                    f"{'; '.join(dict.fromkeys(widened))}, which grants resources that were not "
                    f"denied; before widening it was {document.get('FixCheck')}"
                )
    return documents


def _identity_statements(documents: Iterable[dict]):
    for document in documents:
        for fix in document.get("ResultDetails", {}).get("PoliciesToAdd", []):
            if fix.get("PolicyType") != "identity":
                continue
            for statement in fix["Policy"]["Statement"]:
                if isinstance(statement.get("Action"), str) and isinstance(statement.get("Resource"), str):
                    yield statement, fix["AttachmentTargetArn"]
