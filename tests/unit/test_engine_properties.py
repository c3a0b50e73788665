"""Property tests: invariants of AWS's evaluation logic that must hold for any policies."""

import functools
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.actions import rcp_supported_services
from analyzer.engine.evaluation import evaluate
from analyzer.engine.model import Decision, PolicySet, Request
from analyzer.engine.policy import parse_policy

# Hypothesis notes a change of the global `random` state while it draws as a strategy's use
# of `random`; these strategies use none, but the session's Prefect harness runs threads
# that do (hypothesis.control._note_random_in_strategy compares the state before and after).
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "ec2:StartInstances", "kms:Decrypt"]
ACTION_PATTERNS = [*ACTIONS, "s3:*", "*", "s3:Get*", "ec2:?tartInstances", "kms:*"]
RESOURCES = [
    "arn:aws:s3:::bucket/a.txt",
    "arn:aws:s3:::bucket",
    "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
    "arn:aws:kms:us-east-1:111122223333:key/k-1",
]
RESOURCE_PATTERNS = [*RESOURCES, "*", "arn:aws:s3:::bucket/*", "arn:aws:ec2:*:*:instance/*"]
CONDITIONS = [
    None,
    {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
    {"StringNotEquals": {"aws:PrincipalTag/team": "blue"}},
    {"Bool": {"aws:SecureTransport": "false"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"ForAnyValue:StringLike": {"aws:TagKeys": ["env*"]}},
    {"Null": {"aws:SourceVpce": "true"}},
]
PRINCIPALS = [
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:sts::111122223333:assumed-role/App/s1",
    "arn:aws:iam::444455556666:user/carol",
]
CONTEXTS = [
    {},
    {"aws:PrincipalTag/team": "blue", "aws:SecureTransport": "true", "aws:SourceIp": "10.1.2.3"},
    {"aws:PrincipalTag/team": "red", "aws:TagKeys": ["env", "owner"], "aws:SourceVpce": "vpce-1"},
]


@st.composite
def statements(draw, effect=None):
    statement = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        draw(st.sampled_from(["Action", "NotAction"])): draw(
            st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3)
        ),
        draw(st.sampled_from(["Resource", "Resource", "NotResource"])): draw(
            st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=2)
        ),
    }
    condition = draw(st.sampled_from(CONDITIONS))
    if condition:
        statement["Condition"] = condition
    return statement


def documents(min_size=1):
    return st.lists(statements(), min_size=min_size, max_size=4).map(
        lambda s: {"Version": "2012-10-17", "Statement": s}
    )


requests = st.builds(
    Request.build,
    principal=st.sampled_from(PRINCIPALS),
    action=st.sampled_from(ACTIONS),
    resource=st.sampled_from(RESOURCES),
    resource_account=st.just("111122223333"),
    context=st.sampled_from(CONTEXTS),
)


def decide(request, identity_docs, boundary=None, scp=None):
    policies = PolicySet(
        identity=tuple(parse_policy(d, require_resource=True) for d in identity_docs),
        permissions_boundary=None if boundary is None else parse_policy(boundary),
        scp=None if scp is None else tuple(tuple(parse_policy(d) for d in level) for level in scp),
    )
    return evaluate(request, policies, rcp_supported_services())


@settings(max_examples=300, deadline=None)
@given(requests, st.lists(documents(), max_size=3), statements(effect="Deny"))
def test_adding_a_deny_never_turns_a_denial_into_an_allow(request, docs, deny):
    before = decide(request, docs)
    after = decide(request, [*docs, {"Version": "2012-10-17", "Statement": [deny]}])
    if before.decision != Decision.ALLOWED:
        assert after.decision != Decision.ALLOWED
    if before.decision == Decision.EXPLICITLY_DENIED:
        assert after.decision == Decision.EXPLICITLY_DENIED


@settings(max_examples=300, deadline=None)
@given(requests, st.lists(documents(), max_size=3), documents(), st.randoms())
def test_statement_and_policy_order_never_matters(request, docs, boundary, rnd: random.Random):
    shuffled = []
    for doc in docs:
        statements_copy = list(doc["Statement"])
        rnd.shuffle(statements_copy)
        shuffled.append({"Version": "2012-10-17", "Statement": statements_copy})
    rnd.shuffle(shuffled)
    first = decide(request, docs, boundary)
    second = decide(request, shuffled, boundary)
    assert first.decision == second.decision
    assert set(first.denied_by) == set(second.denied_by)


@settings(max_examples=200, deadline=None)
@given(requests, st.lists(documents(), max_size=2))
def test_a_deny_with_not_action_never_denies_the_listed_action(request, docs):
    deny = {"Effect": "Deny", "NotAction": [request.action], "Resource": "*"}
    with_deny = decide(request, [*docs, {"Version": "2012-10-17", "Statement": [deny]}])
    without = decide(request, docs)
    assert with_deny.decision == without.decision


@settings(max_examples=200, deadline=None)
@given(requests, st.lists(documents(), max_size=2), documents())
def test_a_boundary_only_ever_narrows_permissions(request, docs, boundary):
    if decide(request, docs).decision != Decision.ALLOWED:
        assert decide(request, docs, boundary).decision != Decision.ALLOWED


@settings(max_examples=200, deadline=None)
@given(requests, st.lists(documents(), max_size=2))
def test_full_access_scp_levels_change_nothing(request, docs):
    full = [[{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]]
    assert decide(request, docs).decision == decide(request, docs, scp=full * 3).decision


CONTEXT_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["blue", "10.1.2.3", "vpce-1"]),
    st.lists(st.sampled_from(["env", "owner", True]), max_size=3),
)
CONTEXT_KEYS = st.sampled_from(
    [
        "aws:PrincipalArn",
        "aws:principalarn",
        "aws:SourceIp",
        "aws:TagKeys",
        "aws:PrincipalTag/Team",
        "s3:prefix",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.dictionaries(CONTEXT_KEYS, CONTEXT_VALUES, max_size=5),
    changes=st.dictionaries(
        CONTEXT_KEYS.map(str.lower), CONTEXT_VALUES.filter(lambda v: v is not None), max_size=3
    ),
    drop=st.lists(CONTEXT_KEYS.map(str.lower), max_size=2),
)
def test_deriving_a_context_equals_normalizing_the_edited_one(base, changes, drop):
    """``derive_context`` normalizes only the changes: the result (keys, values and their
    order) is what normalizing the whole edited context gave."""
    from analyzer.engine.context import derive_context, normalize_context

    normalized = normalize_context(base)
    edited = {key: value for key, value in normalized.items() if key not in drop}
    edited.update(changes)
    derived = derive_context(normalized, changes, drop=drop)
    assert list(derived.items()) == list(normalize_context(edited).items())


@settings(max_examples=300, deadline=None)
@given(requests, st.lists(documents(), max_size=3), documents(), documents(), st.booleans())
def test_scans_kept_across_evaluations_change_no_answer(request, docs, added, boundary, bounded):
    """Evaluating a request again with a policy added (or a boundary) through the scans
    of its first evaluation gives exactly the evaluation made from scratch."""
    from analyzer.engine.evaluation import Scans

    first = PolicySet(identity=tuple(parse_policy(d) for d in docs), scp=((parse_policy(added),),))
    second = PolicySet(
        identity=(*first.identity, parse_policy(added)),
        permissions_boundary=parse_policy(boundary) if bounded else None,
        scp=first.scp,
        resource=parse_policy(added),
    )
    scans = Scans(request)
    for policies in (first, second, first):
        assert evaluate(request, policies, rcp_supported_services(), scans) == evaluate(
            request, policies, rcp_supported_services()
        )


# Statements reading context keys through a variable or the region, beside CONDITIONS'.
_READING = [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::bucket/${aws:PrincipalTag/team}*"},
    {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}},
    },
    {"Effect": "Allow", "Action": "ec2:*", "Resource": "arn:aws:ec2:${aws:RequestedRegion}:*:instance/*"},
]
_KEYS = [
    "aws:PrincipalTag/team",
    "aws:SecureTransport",
    "aws:SourceIp",
    "aws:SourceVpce",
    "aws:RequestedRegion",
]


def _decided_by(document, request, context):
    """``request`` (built with ``context``) decided by ``document`` as identity policy and SCP."""
    return decide(request(context), [document], scp=[[document]])


def test_an_evaluation_depends_on_no_context_key_it_does_not_read():
    """``Evaluation.keys_read``: a request differing only in a key outside it (another
    value, or none) is decided the same, for the same reasons (the pipeline skips evaluating
    a group's request again in each region when no statement reads the region). Every
    combination, not a sample: the cases where a key matters are few."""
    checked = 0
    for reading in (_READING[:1], _READING[1:2], _READING[2:], _READING):
        document = {"Version": "2012-10-17", "Statement": reading}
        for principal, action, resource, context, key, value in itertools.product(
            PRINCIPALS[:2], ACTIONS, RESOURCES, CONTEXTS, _KEYS, [None, "blue", "us-east-1", "eu-west-1"]
        ):
            request = functools.partial(Request.build, principal, action, resource, "111122223333")
            evaluated = functools.partial(_decided_by, document, request)
            before = evaluated(context)
            if key.lower() in before.keys_read:
                continue
            changed = {k: v for k, v in context.items() if k != key}
            if value is not None:
                changed[key] = value
            after = evaluated(changed)
            assert (after.decision, after.reasons, after.keys_read) == (
                before.decision,
                before.reasons,
                before.keys_read,
            ), (reading, action, resource, context, key, value)
            checked += 1
    assert checked > 1000
