"""Session policies from the call that created the session: the shapes CloudTrail logs,
matching a denied call to its session by access key id and session, and what ``analyze``
decides with them (an explicit deny, a missing allow, a policy the log does not show)."""

from __future__ import annotations

import json
from pathlib import Path

import cloudtrail_changes as ct
import pytest
from click.testing import CliRunner

from analyzer.cli import main as cli
from analyzer.events.caller import map_caller
from analyzer.events.records import EventRecord
from analyzer.events.sessions import SessionIndex, session_created
from analyzer.history.timeline import PolicyTimeline
from analyzer.snapshot.model import new_snapshot_data, write_snapshot

MEMBER, MANAGEMENT, ROOT = "111111111111", "999999999999", "r-root"
READS = ct.reads("data-bucket")
CAP_ARN = f"arn:aws:iam::{MEMBER}:policy/ListOnlyCap"
SAMPLES = Path(__file__).parent.parent / "data" / "history" / "session_events.json"


def _at(hhmm: str) -> str:
    return f"2026-11-24T{hhmm}:00Z"


def _snapshot(collected: str = _at("09:00"), reads: dict | None = READS) -> dict:
    """Role App (reads data-bucket) and a customer managed policy that only lists it."""
    full = {
        "Id": "p-FullAWSAccess",
        "Arn": "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
        "Name": "FullAWSAccess",
        "Type": "SERVICE_CONTROL_POLICY",
        "AwsManaged": True,
        "PolicyDocument": json.dumps(ct.doc({"Effect": "Allow", "Action": "*", "Resource": "*"})),
    }

    def node(node_id: str, parent: str | None) -> dict:
        kind = "AWSAccount" if parent else "Organizational Unit or Organization Root"
        return {
            "arn": None,
            "id": node_id,
            "name": node_id,
            "organization_node_type": kind,
            "policies": [full],
            "parent": parent,
        }

    role = {
        "RoleName": "App",
        "Arn": f"arn:aws:iam::{MEMBER}:role/App",
        "RolePolicyList": [{"PolicyName": "Reads", "PolicyDocument": reads}] if reads else [],
        "AttachedManagedPolicies": [],
        "AssumeRolePolicyDocument": ct.doc(),
    }
    cap = {
        "PolicyName": "ListOnlyCap",
        "Arn": CAP_ARN,
        "DefaultVersionId": "v1",
        "PolicyVersionList": [
            {"VersionId": "v1", "IsDefaultVersion": True, "Document": ct.list_only("data-bucket")}
        ],
    }
    federator = {
        "UserName": "federator",
        "Arn": f"arn:aws:iam::{MEMBER}:user/federator",
        "UserPolicyList": [{"PolicyName": "Reads", "PolicyDocument": READS}],
        "AttachedManagedPolicies": [],
        "GroupList": [],
    }
    accounts = {
        MEMBER: {
            "authorizationDetails": {
                "UserDetailList": [federator],
                "GroupDetailList": [],
                "RoleDetailList": [role],
                "Policies": [cap],
            },
            "resourcePolicies": {},
        },
        MANAGEMENT: {"authorizationDetails": {}},
    }
    nodes = {ROOT: node(ROOT, None), MEMBER: node(MEMBER, ROOT), MANAGEMENT: node(MANAGEMENT, ROOT)}
    return new_snapshot_data(accounts, {"managementAccountId": MANAGEMENT, "nodes": nodes}, collected)


def _denied(event_id: str, key: str, when: str = _at("08:30")) -> dict:
    return ct.get_object_denied(MEMBER, when, "App", "data-bucket", "a.csv", event_id, access_key=key)


def _analyze(tmp_path: Path, records: list[dict], *extra: str, history: list[dict] | None = None) -> dict:
    snapshot = tmp_path / "snapshot.json"
    if not snapshot.exists():
        write_snapshot(_snapshot(), snapshot)
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": records}))
    args = ["analyze", "--events-file", str(events), "--snapshot", str(snapshot), "--json", *extra]
    if history is not None:
        logs = tmp_path / "history.json"
        logs.write_text(json.dumps({"Records": history}))
        args += ["--history", str(logs)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    documents = json.loads(result.stdout)
    assert result.exit_code == int(any(d["AssessmentResult"] == "Error" for d in documents))
    return {doc["EventId"]: doc for doc in documents}


# -- the shapes CloudTrail logs -------------------------------------------------------------
@pytest.mark.parametrize("sample", json.loads(SAMPLES.read_text())["Records"], ids=lambda s: s["eventID"])
def test_session_creating_shapes_are_recognised(sample):
    expected = sample.pop("_expected")
    session = session_created(EventRecord("samples", 0, sample))
    if expected is None:  # a failed call made no session
        assert session is None
        return
    assert session is not None
    assert session.access_key_id == expected["key"]
    assert session.session_arn == expected["session"]
    assert session.event_name == sample["eventName"]
    assert session.account == MEMBER
    if expected["inline"]:
        assert expected["inline"] in json.loads(session.inline or "{}")["Statement"][0]["Action"]
    else:
        assert session.inline is None
    assert list(session.managed_arns) == expected["managed"]
    assert (session.unknown is not None) == expected["unknown"]
    assert session.has_policies == bool(expected["inline"] or expected["managed"] or expected["unknown"])
    if "created_by" in expected:
        assert session.created_by == expected["created_by"]


def _caller(key: str | None, session: str = "worker", role: str = "App", account: str = MEMBER):
    """The caller of a later call of ``role``'s session ``session``, signed with ``key``."""
    denied = ct.get_object_denied(account, _at("08:30"), role, "data-bucket", "a.csv", "d", session=session)
    identity = denied["userIdentity"]
    if key is None:
        del identity["accessKeyId"]
    else:
        identity["accessKeyId"] = key
    return map_caller(identity)


def test_a_later_call_is_matched_to_its_session_by_access_key():
    created = ct.assume_role(MEMBER, _at("08:00"), "App", "worker", "ASIASESSIONONE", policy=READS)
    other = ct.assume_role(MEMBER, _at("08:00"), "App", "other", "ASIASESSIONTWO")
    # AssumeRole is logged in the caller's and in the role's account: same key, kept once.
    twin = {**created, "eventID": "twin", "recipientAccountId": "222222222222"}
    sessions = SessionIndex()
    sessions.add_records(EventRecord("logs", i, e) for i, e in enumerate([created, twin, other]))
    # Both creations were read; only the session whose policies matter is kept whole.
    assert len(sessions) == 1
    assert sessions.read(_caller("ASIASESSIONTWO", "other"))
    assert sessions.get(_caller("ASIASESSIONTWO", "other")) is None
    assert not sessions.read(_caller("ASIAUNSEEN")) and not sessions.read(_caller(None))
    caller = _caller("ASIASESSIONONE")
    assert caller.access_key_id == "ASIASESSIONONE"
    found = sessions.get(caller)
    assert found is not None and found.event_id == created["eventID"]
    assert sessions.get(_caller("ASIAUNSEEN")) is None and sessions.get(_caller(None)) is None


@pytest.mark.parametrize(
    ("role", "session", "account"),
    [("Other", "worker", MEMBER), ("App", "other", MEMBER), ("App", "worker", "222222222222")],
    ids=["role", "session name", "account"],
)
def test_a_key_is_not_matched_to_a_call_that_made_another_session(role, session, account):
    """The call that created a session names the session it made; a call that made another
    role's, session's or account's session with the caller's key is not the caller's, and
    the caller's creating call is then not read (held-out probe: another account's
    ``AssumeRole`` with a deny-all session policy decided a denial of the caller's)."""
    made = ct.assume_role(account, _at("08:00"), role, session, "ASIAREUSED", policy=DENY_GET)
    sessions = SessionIndex()
    sessions.add_records([EventRecord("logs", 0, made)])
    assert sessions.read(_caller("ASIAREUSED", session, role, account))
    caller = _caller("ASIAREUSED")
    assert not sessions.read(caller) and sessions.get(caller) is None


# -- decided through analyze ----------------------------------------------------------------
DENY_GET = ct.doc(
    {"Sid": "NoObjects", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"},
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
)


def test_an_explicit_deny_in_the_session_policy_decides_the_denial(tmp_path):
    created = ct.assume_role(
        MEMBER, _at("08:00"), "App", "worker", "ASIADENYING", policy=DENY_GET, event_id="made-session"
    )
    results = _analyze(tmp_path, [created, _denied("denied", "ASIADENYING")])
    result = results["denied"]
    assert result["AssessmentResult"] == "Explicit deny in a session policy"
    [reason] = result["Reasons"]
    assert reason["Sid"] == "NoObjects"
    # The policy is named after the call that passed it.
    assert (
        reason["PolicyName"]
        == "inline session policy passed to AssumeRole made-session at 2026-11-24T08:00:00Z"
    )
    assert reason["AttachmentTargetArn"] == f"arn:aws:sts::{MEMBER}:assumed-role/App/worker"
    # Without the call that created the session, the same denial finds no reason, and says
    # the session policies could not be checked.
    alone = _analyze(tmp_path, [_denied("denied", "ASIADENYING")])["denied"]
    assert alone["AssessmentResult"] == "Allowed"
    assert any("session's policies could not be checked" in note for note in alone["Notes"])


@pytest.mark.parametrize(
    ("ending", "expected"),
    [
        ("because no session policy allows the s3:GetObject action", "Missing allow in a session policy"),
        ("with an explicit deny in a session policy", "Explicit deny in a session policy"),
    ],
)
def test_a_message_blaming_a_session_policy_of_an_unread_session_is_the_answer(tmp_path, ending, expected):
    """AWS's message proves the session has a session policy: with the call that created it
    not read, that policy is unknown, so the message decides. It was ``Allowed`` with a note
    that the policies had probably changed (held-out probe)."""
    denied = ct.with_message(_denied("blamed", "ASIABLAMED"), ending)
    result = _analyze(tmp_path, [denied])["blamed"]
    assert result["AssessmentResult"] == expected
    [unknown] = result["ResultDetails"]["UnknownPolicies"]
    assert unknown["PolicyType"] == "session" and "ASIABLAMED" in unknown["Reason"]
    assert any("what AWS's own error message says" in note for note in result["Notes"])
    # A session known to have none: the policies did change since the event.
    plain = ct.assume_role(MEMBER, _at("08:00"), "App", "worker", "ASIABLAMED")
    known = _analyze(tmp_path, [plain, denied])["blamed"]
    assert known["AssessmentResult"] == "Allowed"
    assert any("the policies probably changed" in note for note in known["Notes"])


def test_a_deny_all_session_policy_of_another_session_with_the_key_is_not_the_callers(tmp_path):
    """Another account's role session created with the caller's key passed a deny-all policy:
    the denial was "Explicit deny in a session policy", blaming that session (held-out
    probe). It is not the caller's session, whose creating call is then not read."""
    made = ct.assume_role(
        "222222222222", _at("08:00"), "Target", "other", "ASIAREUSED", policy=DENY_GET, event_id="other"
    )
    result = _analyze(tmp_path, [made, _denied("denied", "ASIAREUSED")])["denied"]
    assert result["AssessmentResult"] == "Allowed"
    # The note does not say the key's call was not read: it was, and made another session.
    [note] = [note for note in result["Notes"] if "session's policies could not be checked" in note]
    assert note.endswith("or the one read with that key made another session")
    # So too where AWS's message blames a session policy, which stays unknown.
    blamed = ct.with_message(
        _denied("blamed", "ASIAREUSED"), "because no session policy allows the s3:GetObject action"
    )
    [unknown] = _analyze(tmp_path, [made, blamed])["blamed"]["ResultDetails"]["UnknownPolicies"]
    assert unknown["Reason"].endswith("or the one read with that key made another session")


def test_a_managed_session_policy_without_the_allow_is_a_missing_allow(tmp_path):
    created = ct.assume_role(MEMBER, _at("08:00"), "App", "worker", "ASIACAPPED", policy_arns=(CAP_ARN,))
    result = _analyze(tmp_path, [created, _denied("denied", "ASIACAPPED")])["denied"]
    assert result["AssessmentResult"] == "Missing allow in a session policy"
    # A session created without session policies is capped by the role alone.
    plain = ct.assume_role(MEMBER, _at("08:00"), "App", "worker", "ASIAPLAIN")
    free = _analyze(tmp_path, [plain, _denied("free", "ASIAPLAIN")])["free"]
    assert free["AssessmentResult"] == "Allowed"
    assert not any("could not be checked" in note for note in free["Notes"])


def test_an_iam_users_temporary_key_has_no_session_policies_to_check(tmp_path):
    # GetSessionToken (or a console sign-in) gives an IAM user an ASIA key, and takes no
    # session policies: nothing is missing when its creating call was not read.
    denied = _denied("user-session", "ASIAUSERSESSION")
    denied["userIdentity"] = {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEUSER",
        "arn": f"arn:aws:iam::{MEMBER}:user/federator",
        "accountId": MEMBER,
        "accessKeyId": "ASIAUSERSESSION",
        "userName": "federator",
    }
    result = _analyze(tmp_path, [denied])["user-session"]
    assert result["AssessmentResult"] == "Allowed"
    assert not any("could not be checked" in note for note in result["Notes"])
    # The same key on a role's session is a session whose policies are unknown.
    role = _analyze(tmp_path, [_denied("role-session", "ASIAUSERSESSION")])["role-session"]
    assert any("could not be checked" in note for note in role["Notes"])


def test_a_session_policy_the_log_does_not_show_gives_a_partial_answer(tmp_path):
    hidden = ct.assume_role(MEMBER, _at("08:00"), "App", "worker", "ASIAHIDDEN", policy=DENY_GET)
    hidden["requestParameters"] = {"reason": "requestParameters too large", "omitted": True}
    unshown = ct.assume_role(MEMBER, _at("08:00"), "App", "worker", "ASIAUNSHOWN", packed=7)
    results = _analyze(
        tmp_path, [hidden, unshown, _denied("hidden", "ASIAHIDDEN"), _denied("unshown", "ASIAUNSHOWN")]
    )
    for event_id in ("hidden", "unshown"):
        result = results[event_id]
        # Never a confident Allowed over a session policy that is not known.
        assert result["AssessmentResult"] == "Error"
        assert "session policies of" in result["ErrorMessage"]
        [unknown] = result["ResultDetails"]["UnknownPolicies"]
        assert unknown["PolicyType"] == "session"
    reasons = {key: results[key]["ResultDetails"]["UnknownPolicies"][0]["Reason"] for key in results}
    assert "omitted" in reasons["hidden"]
    assert "packedPolicySize 7%" in reasons["unshown"]


def test_an_unknown_session_policy_does_not_hide_a_known_deny(tmp_path):
    # The role lost its read permission: a missing identity allow that no session policy
    # could make up for (session policies only narrow).
    snapshot = tmp_path / "snapshot.json"
    write_snapshot(_snapshot(reads=ct.list_only("data-bucket")), snapshot)
    hidden = ct.assume_role(MEMBER, _at("08:00"), "App", "worker", "ASIAHIDDEN", packed=7)
    result = _analyze(tmp_path, [hidden, _denied("denied", "ASIAHIDDEN")])["denied"]
    assert result["AssessmentResult"] == "Missing allow in an identity-based policy"


def test_sessions_are_found_in_history_files_too(tmp_path):
    created = ct.assume_role(MEMBER, _at("08:00"), "App", "worker", "ASIAFROMHISTORY", policy=DENY_GET)
    results = _analyze(tmp_path, [_denied("denied", "ASIAFROMHISTORY")], history=[created])
    result = results["denied"]
    assert result["AssessmentResult"] == "Explicit deny in a session policy"
    assert result["PolicyStateAt"]["Time"] == _at("08:30")
    assert result["RootCause"] is None  # no policy change: the session was made that way


def _federation(key: str, policy: dict | None) -> dict:
    """GetFederationToken by IAM user federator (the Stratus Red Team detonation's shape)."""
    sample = next(
        e for e in json.loads(SAMPLES.read_text())["Records"] if e["eventName"] == "GetFederationToken"
    )
    event = {k: v for k, v in sample.items() if k != "_expected"}
    event["eventID"], event["eventTime"] = f"federation-{key}", _at("08:00")
    event["requestParameters"] = {"name": "partner"}
    event["responseElements"] = {**event["responseElements"], "credentials": {"accessKeyId": key}}
    if policy is not None:
        event["requestParameters"]["policy"] = ct.text(policy)
    else:
        del event["responseElements"]["packedPolicySize"]
    return event


def _federated_denied(event_id: str, key: str) -> dict:
    event = _denied(event_id, key)
    event["userIdentity"] = {
        "type": "FederatedUser",
        "principalId": f"{MEMBER}:partner",
        "arn": f"arn:aws:sts::{MEMBER}:federated-user/partner",
        "accountId": MEMBER,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEUSER",
                "arn": f"arn:aws:iam::{MEMBER}:user/federator",
                "accountId": MEMBER,
                "userName": "federator",
            },
            "attributes": {"creationDate": _at("08:00"), "mfaAuthenticated": "false"},
        },
    }
    return event


def test_a_federated_user_is_capped_by_its_user_and_its_session_policy(tmp_path):
    everything = ct.doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    records = [
        _federation("ASIAFEDLIST", ct.list_only("data-bucket")),
        _federated_denied("list-only", "ASIAFEDLIST"),
        _federation("ASIAFEDNONE", None),
        _federated_denied("no-policy", "ASIAFEDNONE"),
        _federation("ASIAFEDALL", everything),
        _federated_denied("all", "ASIAFEDALL"),
    ]
    results = _analyze(tmp_path, records)
    # The user reads the bucket; the session policy does not allow it.
    assert results["list-only"]["AssessmentResult"] == "Missing allow in a session policy"
    # A federation token without a session policy may do nothing.
    assert results["no-policy"]["AssessmentResult"] == "Missing allow in a session policy"
    # With a session policy allowing everything, the user's own policies decide: they allow.
    assert results["all"]["AssessmentResult"] == "Allowed"
    assert not results["all"].get("ResultDetails", {}).get("UnknownPolicies")
    # Without the GetFederationToken call, the user's policies are unknown: no answer.
    alone = _analyze(tmp_path, [_federated_denied("all", "ASIAFEDALL")])["all"]
    assert alone["AssessmentResult"] == "Error"
    # Nor with a call that made another federated user with the key, which the reason says.
    other = _federation("ASIAFEDALL", everything)
    other["responseElements"]["federatedUser"] = {"arn": f"arn:aws:sts::{MEMBER}:federated-user/other"}
    reused = _analyze(tmp_path, [other, _federated_denied("all", "ASIAFEDALL")])["all"]
    assert reused["AssessmentResult"] == "Error"
    [session] = [u for u in reused["ResultDetails"]["UnknownPolicies"] if u["PolicyType"] == "session"]
    assert session["Reason"].endswith("or the one read with its key made another session")


# -- several snapshots -----------------------------------------------------------------------
def test_each_event_is_rebuilt_from_the_nearest_snapshot(tmp_path):
    """A change whose previous document was never logged, bracketed by two snapshots: only
    the snapshot from before it knows what was in force before it."""
    early, late = tmp_path / "early.json", tmp_path / "late.json"
    write_snapshot(_snapshot(_at("01:00"), reads=READS), early)
    write_snapshot(_snapshot(_at("09:00"), reads=ct.list_only("data-bucket")), late)
    cut = ct.put_role_policy(
        MEMBER, _at("04:00"), "App", "Reads", ct.list_only("data-bucket"), event_id="inline-cut"
    )
    records = [
        cut,
        _denied("early-denial", "ASIAX", _at("02:00")),
        _denied("late-denial", "ASIAX", _at("08:00")),
    ]
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": records}))

    def run(*snapshots: Path) -> dict:
        args = ["analyze", "--events-file", str(events), "--json"]
        for snapshot in snapshots:
            args += ["--snapshot", str(snapshot)]
        result = CliRunner().invoke(cli, [*args, "--history", str(events)], catch_exceptions=False)
        return {doc["EventId"]: doc for doc in json.loads(result.stdout)}

    only_late = run(late)
    # Rolled back over the cut from 09:00, the 02:00 state of Reads is unknown: partial.
    assert only_late["early-denial"]["AssessmentResult"] == "Error"
    both = run(early, late)
    early_result, late_result = both["early-denial"], both["late-denial"]
    assert early_result["AssessmentResult"] == "Allowed"  # Reads still allowed it at 02:00
    assert str(early) in early_result["PolicyStateAt"]["Source"]
    assert late_result["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert str(late) in late_result["PolicyStateAt"]["Source"]
    assert late_result["RootCause"]["EventId"] == "inline-cut"
    # A folder of snapshots is the same as naming each, and several snapshots alone
    # (without --history) explain each event at its own time too.
    folder = tmp_path / "snapshots"
    folder.mkdir()
    for path in (early, late):
        (folder / path.name).write_bytes(path.read_bytes())
    result = CliRunner().invoke(
        cli, ["analyze", "--events-file", str(events), "--json", "--snapshot", str(folder)]
    )
    by_id = {doc["EventId"]: doc for doc in json.loads(result.stdout)}
    assert by_id["early-denial"]["AssessmentResult"] == "Allowed"
    assert str(folder / "early.json") in by_id["early-denial"]["PolicyStateAt"]["Source"]
    assert by_id["late-denial"]["RootCause"]["EventId"] == "inline-cut"


def test_a_state_the_nearest_snapshot_cannot_know_comes_from_another(tmp_path, monkeypatch):
    """The cut at 07:00 lies nearer the 09:00 snapshot, from which what Reads said before
    it is unknown (only the new document is logged); the 01:00 snapshot knows it, rolled
    forward over the logged changes in between. The state before the cut comes from the
    snapshot that knows the policies the request depends on, so the cut is named."""
    early, late = tmp_path / "early.json", tmp_path / "late.json"
    write_snapshot(_snapshot(_at("01:00"), reads=READS), early)
    write_snapshot(_snapshot(_at("09:00"), reads=ct.list_only("data-bucket")), late)
    other = ct.doc({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})
    records = [
        # Another role's change: the cut's span starts at 06:00, nearer 09:00 than 01:00.
        ct.put_role_policy(MEMBER, _at("06:00"), "Other", "Queue", other, event_id="other"),
        ct.put_role_policy(
            MEMBER, _at("07:00"), "App", "Reads", ct.list_only("data-bucket"), event_id="inline-cut"
        ),
        _denied("denial", "ASIAX", _at("08:00")),
    ]
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": records}))
    args = ["analyze", "--events-file", str(events), "--json", "--history", str(events)]
    result = CliRunner().invoke(
        cli, [*args, "--snapshot", str(early), "--snapshot", str(late)], catch_exceptions=False
    )
    [document] = json.loads(result.stdout)
    assert document["AssessmentResult"] == "Missing allow in an identity-based policy"
    assert document["RootCause"]["EventId"] == "inline-cut"

    # Where no snapshot knows (both collected after the cut), a farther one on the same
    # side is not tried: it rolls back over every change the nearer one does (a folder of
    # nightly snapshots may hold dozens, each try a rebuilt state).
    nearer = tmp_path / "nearer.json"
    write_snapshot(_snapshot(_at("08:45"), reads=ct.list_only("data-bucket")), nearer)
    asked: list[str] = []
    state_before = PolicyTimeline.state_before

    def recorded(self, index, keys_of=None):
        asked.append(Path(self.snapshot.source).name)
        return state_before(self, index, keys_of)

    monkeypatch.setattr(PolicyTimeline, "state_before", recorded)
    result = CliRunner().invoke(cli, [*args, "--snapshot", str(nearer), "--snapshot", str(late)])
    [document] = json.loads(result.stdout)
    assert document["RootCause"] is None
    assert "nearer.json" in asked and "late.json" not in asked


def test_only_files_that_mention_sts_are_parsed_for_sessions(tmp_path, monkeypatch):
    import gzip

    from analyzer.events import readers

    monkeypatch.setattr(readers, "_CHUNK", 7)  # the needle straddles chunk boundaries
    created = ct.assume_role(MEMBER, _at("08:00"), "App", "worker", "ASIAGZ", policy=DENY_GET)
    plain, packed = tmp_path / "plain.json", tmp_path / "packed.json.gz"
    plain.write_text(json.dumps({"Records": [_denied("d", "ASIAGZ")]}))
    packed.write_bytes(gzip.compress(json.dumps({"Records": [created]}).encode()))
    assert not readers.may_contain(plain, b"sts.amazonaws.com")
    assert readers.may_contain(packed, b"sts.amazonaws.com")
    # Found in a folder whose other files were skipped unparsed.
    result = CliRunner().invoke(
        cli, ["analyze", "--events-file", str(tmp_path), "--json", "--snapshot", str(_written(tmp_path))]
    )
    [document] = json.loads(result.stdout)
    assert document["AssessmentResult"] == "Explicit deny in a session policy"


def _written(tmp_path: Path) -> Path:
    snapshot = tmp_path / "snapshot" / "snapshot.json"
    snapshot.parent.mkdir()
    write_snapshot(_snapshot(), snapshot)
    return snapshot


def test_a_missing_local_history_is_a_usage_error(tmp_path):
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": [_denied("d", "ASIAX")]}))
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "--events-file",
            str(events),
            "--snapshot",
            str(_written(tmp_path)),
            "--history",
            "nope/",
        ],
    )
    assert result.exit_code == 2
    assert "nope/: no such file or folder" in result.output


def test_a_snapshot_without_collected_at_among_several_is_named_and_left_out(tmp_path):
    dated, undated = tmp_path / "dated.json", tmp_path / "undated.json"
    write_snapshot(_snapshot(_at("09:00")), dated)
    data = _snapshot(_at("01:00"), reads=None)
    del data["collectedAt"]
    write_snapshot(data, undated)
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": [_denied("d", "ASIAX", _at("02:00"))]}))
    args = ["analyze", "--events-file", str(events), "--json", "--snapshot", str(dated)]
    result = CliRunner().invoke(cli, [*args, "--snapshot", str(undated)])
    assert f"warning: {undated} is not used" in result.stderr
    [document] = json.loads(result.stdout)
    # The dated snapshot (Reads allows the read) answered, not the undated one (no Reads).
    assert document["AssessmentResult"] == "Allowed"
    assert str(dated) in document["PolicyStateAt"]["Source"]
