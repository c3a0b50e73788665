"""The demo generator: its snapshot loads, its logs have AWS's layouts, and every denial in
them is caused by the generated policies (checked through the real CloudTrail mapping,
snapshot resolver and engine, not through the generator's own tables)."""

import gzip
import json
import re
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from analyzer.analysis import explain_request
from analyzer.demo import DEFAULT_START, DemoError, generate
from analyzer.demo.data import DemoDataError, _substitute  # the one place names are resolved
from analyzer.demo.org import demo_organization
from analyzer.demo.traffic import CREATED, EVENT_ID, REQUEST_ID, TIME, Template, scenarios, templates, traffic
from analyzer.events.mapping import map_event
from analyzer.events.readers import read_events
from analyzer.events.records import EventRecord
from analyzer.history.changes import policy_changes
from analyzer.history.timeline import PolicyTimeline
from analyzer.snapshot import load_snapshot, snapshot_resolver

EVENTS = 2_000
ORGANIZATION = demo_organization()
MANAGEMENT, ORG_ID, SANDBOX = (ORGANIZATION.names[n] for n in ("MANAGEMENT", "ORG_ID", "SANDBOX"))
# Every AssessmentResult a snapshot can explain (session and VPC endpoint policies are not in
# snapshots, so the demo cannot cause those).
EXPECTED_CODES = {
    "EXPLICIT_DENY_SCP",
    "NO_ALLOW_SCP",
    "EXPLICIT_DENY_RCP",
    "EXPLICIT_DENY_RESOURCE",
    "NO_ALLOW_IDENTITY",
    "EXPLICIT_DENY_IDENTITY",
    "NO_ALLOW_BOUNDARY",
    "EXPLICIT_DENY_BOUNDARY",
    "NO_ALLOW_RESOURCE_CROSS_ACCOUNT",
    "NO_RESOURCE_POLICY_CROSS_ACCOUNT",
    "NO_ALLOW_IDENTITY_AND_RESOURCE_CROSS_ACCOUNT",
    "NO_ALLOW_RESOURCE_REQUIRED",
    "EXPLICIT_DENY_ENDPOINT",
    "NO_ALLOW_ENDPOINT",
    "INVALID_ACTION",
    "AWS_RULE_MANAGED_POLICY",
    "AWS_RULE_SERVICE_LINKED_ROLE",
    "AWS_RULE_RESERVED_ROLE",
    "AWS_RULE_KMS_ALIAS",
    "AWS_RULE_MANAGED_KEY",
}
_JSON_PATH = re.compile(
    rf"AWSLogs/{ORG_ID}/(?P<account>\d{{12}})/CloudTrail/(?P<region>[a-z0-9-]+)/(?P<y>\d{{4}})/(?P<m>\d\d)/"
    r"(?P<d>\d\d)/(?P=account)_CloudTrail_(?P=region)_(?P=y)(?P=m)(?P=d)T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$"
)
CATALOG = templates()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo"), events=EVENTS, seed=7)


@pytest.fixture(scope="module")
def snapshot(demo):
    return load_snapshot(demo.snapshot)


@pytest.fixture(scope="module")
def json_events(demo):
    events = []
    for path in sorted(demo.json_root.rglob("*.json.gz")):
        if "CloudTrail-Digest" in path.parts:
            continue
        assert _JSON_PATH.search(path.as_posix()), path
        records = json.loads(gzip.decompress(path.read_bytes()))["Records"]
        account, region = _JSON_PATH.search(path.as_posix()).group("account", "region")
        assert all(r["recipientAccountId"] == account and r["awsRegion"] == region for r in records)
        events.extend(records)
    return events


def test_snapshot_loads_with_the_organization(snapshot):
    assert snapshot.organization.management_account_id == MANAGEMENT
    assert len(snapshot.account_ids) == 7  # six in the organization, one partner
    path = [node.name for node in snapshot.organization.path(SANDBOX)]
    assert path == ["Root", "Sandbox", "acme-sandbox"]
    sandbox_ou = snapshot.organization.path(SANDBOX)[1]
    assert [p.name for p in sandbox_ou.policies] == ["SandboxAllowList", "RCPFullAWSAccess"]


def test_logs_have_the_delivery_layout_and_count(demo, json_events):
    assert len(json_events) == demo.events
    assert demo.json_files == len(
        [p for p in demo.json_root.rglob("*.json.gz") if "CloudTrail-Digest" not in p.parts]
    )
    assert demo.digest_files == len(list(demo.json_root.rglob("CloudTrail-Digest/**/*.json.gz")))
    assert len({e["eventID"] for e in json_events}) == demo.events
    assert all(e["eventTime"] < "2026-11-24" and e["eventTime"] >= "2026-11-21" for e in json_events)
    types = {e["userIdentity"]["type"] for e in json_events}
    assert {"IAMUser", "AssumedRole", "AWSService", "Root", "AWSAccount"} <= types
    assert not any(
        placeholder in json.dumps(e)
        for e in json_events[:200]
        for placeholder in (TIME, CREATED, EVENT_ID, REQUEST_ID)
    )


def test_the_project_reader_skips_digests(demo):
    items = list(read_events(demo.json_root))
    assert len(items) == demo.events
    assert all(isinstance(item, EventRecord) for item in items)


def test_every_denial_kind_appears(demo, json_events):
    assert set(demo.denials_by_code) == EXPECTED_CODES == {s.code for s in scenarios()}
    denied = [e for e in json_events if e.get("errorCode")]
    assert len(denied) == demo.denials == round(EVENTS * 0.05)
    assert demo.denial_groups <= len(CATALOG.denied)


def test_parquet_holds_the_same_events(demo, json_events):
    by_id = {e["eventID"]: e for e in json_events}
    rows = pq.read_table(demo.parquet_root).to_pylist()
    assert {row["eventid"] for row in rows} == set(by_id)
    for row in rows[:300]:
        event = by_id[row["eventid"]]
        assert row["useridentity"]["type"] == event["userIdentity"]["type"]
        assert row["readonly"] == str(event["readOnly"]).lower()
        for column, key in (
            ("requestparameters", "requestParameters"),
            ("additionaleventdata", "additionalEventData"),
        ):
            assert (row[column] and json.loads(row[column])) == event.get(key)


def test_parquet_reads_back_as_the_json_events(demo, json_events):
    """Through the project's Athena-row reader a row is the JSON event again, except for
    managementEvent (the Athena table has no column for it), sessionCredentialFromConsole
    (the reader makes it a boolean) and additionalEventData (the reader re-cases its keys)."""
    by_id = {e["eventID"]: e for e in json_events}
    parquet_events = [item.event for item in read_events(demo.parquet_root)]
    assert len(parquet_events) == demo.events
    skipped = {"managementEvent", "sessionCredentialFromConsole", "additionalEventData"}
    for event in parquet_events[:300]:
        expected = {k: v for k, v in by_id[event["eventID"]].items() if k not in skipped and v is not None}
        assert {k: v for k, v in event.items() if k not in skipped} == expected


def test_same_seed_same_files_whatever_the_workers(tmp_path):
    one = generate(tmp_path / "one", events=300, seed=3, days=1, workers=1)
    two = generate(tmp_path / "two", events=300, seed=3, days=1, workers=2)
    files = sorted(p.relative_to(one.json_root) for p in one.json_root.rglob("*.gz"))
    assert files == sorted(p.relative_to(two.json_root) for p in two.json_root.rglob("*.gz"))
    assert all((one.json_root / f).read_bytes() == (two.json_root / f).read_bytes() for f in files)
    assert one.denials_by_code == two.denials_by_code


def test_refuses_to_replace_folders_it_did_not_write(tmp_path):
    (tmp_path / "cloudtrail").mkdir()
    (tmp_path / "cloudtrail" / "mine.json").write_text("{}")
    with pytest.raises(DemoError, match="not written by the demo"):
        generate(tmp_path, events=10)


def test_rerun_replaces_its_own_logs(tmp_path):
    generate(tmp_path, events=100, days=1)
    again = generate(tmp_path, events=50, days=1, seed=8)
    assert len(list(read_events(again.json_root))) == 50


# --- the policies really decide what the traffic says ------------------------------------------


def _concrete(
    template: Template, when: datetime = datetime(2026, 11, 22, 17, 5, 9, tzinfo=UTC)
) -> EventRecord:
    text = (
        json.dumps(template.event)
        .replace(TIME, f"{when:%Y-%m-%dT%H:%M:%SZ}")
        .replace(CREATED, f"{when:%Y-%m-%dT%H}:00:00Z")
        .replace(EVENT_ID, f"e-{template.event['eventName']}-{when:%H%M%S}")
        .replace(REQUEST_ID, "r")
    )
    return EventRecord("demo", 0, json.loads(text))


# The demo window the tests reason about, and when each of its policy changes happens in it.
WINDOW = traffic().change_window(DEFAULT_START, 3)


@pytest.fixture(scope="module")
def timeline(snapshot):
    """The snapshot and the data's policy changes, as the history package rebuilds the
    policies of any time from them."""
    records = [
        _concrete(template, change.time(step, DEFAULT_START, 3)) for change, step, template in CATALOG.changes
    ]
    return PolicyTimeline(snapshot, list(policy_changes(records)))


def _when(template: Template) -> datetime:
    """A time at which the template's event may happen: before the change its call stops at,
    after the change its denial starts with, else the snapshot's default."""
    if template.until:
        return WINDOW[template.until][0] - timedelta(minutes=5)
    if template.after:
        return WINDOW[template.after][1] + timedelta(minutes=5)
    return datetime(2026, 11, 22, 17, 5, 9, tzinfo=UTC)


def _codes(template: Template, timeline) -> list[str]:
    """The reason code of every request the project's mapping derives from the event, as the
    analysis decides it (snapshot context keys and the VPC endpoint's policy included), with
    the policies in force at a time the event may happen (the history's time travel)."""
    when = _when(template)
    mapped = map_event(_concrete(template, when))
    if not mapped.actions:
        return ["INVALID_ACTION"]
    resolver = snapshot_resolver(timeline.state_at(when).snapshot)
    return [explain_request(request, resolver)[0].code for request in mapped.requests()]


def _label(template: Template) -> str:
    identity = template.event["userIdentity"]
    who = identity.get("arn") or identity.get("invokedBy") or identity.get("principalId")
    return f"{template.event['eventName']}:{'/'.join(who.rsplit('/', 2)[-2:])}"


@pytest.mark.parametrize("template", CATALOG.denied, ids=[f"{t.code}:{_label(t)}" for t in CATALOG.denied])
def test_denials_are_caused_by_the_generated_policies(template, timeline):
    assert set(_codes(template, timeline)) == {template.code}


@pytest.mark.parametrize("template", CATALOG.allowed, ids=[_label(t) for t in CATALOG.allowed])
def test_allowed_traffic_is_allowed(template, timeline):
    assert set(_codes(template, timeline)) == {"ALLOWED"}


def test_around_eighty_apis():
    apis = {(t.event["eventSource"], t.event["eventName"]) for t in CATALOG.allowed}
    assert len(apis) >= 80


def test_a_name_the_data_does_not_define_is_named_in_the_error():
    with pytest.raises(DemoDataError, match=r"traffic.yaml: unknown name \$\{NO_SUCH_BUCKET\}"):
        _substitute("arn:aws:s3:::${NO_SUCH_BUCKET}", {"PROD": "333333333333"}, "traffic.yaml")


def test_a_call_on_something_that_is_not_an_arn_is_a_data_error():
    from analyzer.demo.traffic import _call

    with pytest.raises(DemoDataError, match=r"traffic.yaml: 'orders-queue' is not an ARN"):
        _call({"sqs": "SendMessage", "queue": "orders-queue"}, demo_organization())


def test_every_scenario_names_a_reason_the_registry_knows():
    from analyzer.explain.registry import registry

    for scenario in scenarios():
        assert scenario.code in registry()


# --- a policy change during the window ---------------------------------------------------------


def test_the_logs_hold_each_policy_change_and_its_before_and_after(json_events):
    """Every change event of the data is in the logs at its time, as the management account
    logs Organizations calls; the calls a change stops happen only before it, the denials it
    causes only after it, and the denials a later change fixes only before that one."""
    written = [
        e for e in json_events if e["eventSource"] == "organizations.amazonaws.com" and not e.get("readOnly")
    ]
    assert [(e["eventName"], e["eventTime"]) for e in sorted(written, key=lambda e: e["eventTime"])] == [
        (step.call.name, f"{change.time(step, DEFAULT_START, 3):%Y-%m-%dT%H:%M:%SZ}")
        for change, step, _ in CATALOG.changes
    ]
    assert {(e["recipientAccountId"], e["awsRegion"]) for e in written} == {(MANAGEMENT, "us-east-1")}
    stopped = {
        (t.event["eventName"], t.event["userIdentity"]["arn"]): t.until for t in CATALOG.allowed if t.until
    }
    started = {
        (t.event["eventName"], t.event["userIdentity"]["arn"]): t.after for t in CATALOG.denied if t.after
    }
    fixed = {
        (t.event["eventName"], t.event["userIdentity"]["arn"]): t.until for t in CATALOG.denied if t.until
    }
    assert stopped and started and fixed
    denied_while = 0
    for event in json_events:
        key = (event["eventName"], event["userIdentity"].get("arn"))
        when = datetime.fromisoformat(event["eventTime"])
        if key in stopped and not event.get("errorCode"):
            assert when < WINDOW[stopped[key]][0], event["eventTime"]
        if key in started and event.get("errorCode"):
            assert when > WINDOW[started[key]][1], event["eventTime"]
        if key in fixed and event.get("errorCode"):
            assert when < WINDOW[fixed[key]][0], event["eventTime"]
            denied_while += 1
    assert denied_while
    # The first version of the policy is in its CreatePolicy event; the snapshot holds the fix.
    [created] = [e for e in written if e["eventName"] == "CreatePolicy"]
    [updated] = [e for e in written if e["eventName"] == "UpdatePolicy"]
    assert "sqs:Delete*" in created["requestParameters"]["content"]
    assert "sqs:Delete*" not in updated["requestParameters"]["content"]
    assert (
        updated["requestParameters"]["policyId"]
        == created["responseElements"]["policy"]["policySummary"]["id"]
    )


def test_the_history_names_the_change_behind_each_of_its_denials(demo):
    """Through the history package (the logs' own change events over the snapshot), each
    denial of a scenario that starts with a change is explained at its time, its root cause
    is that change's last event, made by the change's actor, and the change that fixed it
    is named too (the snapshot, collected after the fix, no longer denies it)."""
    from analyzer.events import denied_events
    from analyzer.history.changes import read_changes
    from analyzer.history.root_cause import investigate

    changes, problems = read_changes([demo.json_root])
    assert not problems
    timeline = PolicyTimeline(load_snapshot(demo.snapshot), changes)
    by_name = {change.name: change for change in traffic().changes}
    after = {(s.call.name, s.actor.role_arn): s for s in scenarios() if s.after}
    checked = 0
    for event in denied_events([demo.json_root]):
        result = investigate(event, timeline).to_json()
        scenario = after.get((event.event_name, result["Principal"]))
        if scenario is None:
            continue
        change = by_name[scenario.after]
        cause = result["RootCause"]
        assert result["AssessmentResult"] == "Explicit deny in a service-control policy"
        assert cause["EventName"] == change.steps[-1].call.name
        assert cause["EventTime"] == f"{change.time(change.steps[-1], DEFAULT_START, 3):%Y-%m-%dT%H:%M:%SZ}"
        assert cause["ChangedBy"] == change.actor.arn
        assert cause["AttachmentTargetArn"] == change.steps[-1].call.params["targetId"]
        fix = by_name[scenario.until]
        fixed_by = result["FixedBy"]
        assert (fixed_by["EventName"], fixed_by["ChangedBy"]) == (fix.steps[-1].call.name, fix.actor.arn)
        assert fixed_by["EventTime"] == f"{fix.time(fix.steps[-1], DEFAULT_START, 3):%Y-%m-%dT%H:%M:%SZ}"
        checked += 1
    assert checked >= 2
