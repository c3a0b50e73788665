"""The demo generator: its snapshot loads, its logs have AWS's layouts, and every denial in
them is caused by the generated policies (checked through the real CloudTrail mapping,
snapshot resolver and engine, not through the generator's own tables)."""

import gzip
import json
import re

import pyarrow.parquet as pq
import pytest

from analyzer.analysis import explain_request
from analyzer.demo import DemoError, generate
from analyzer.demo.data import DemoDataError, _substitute  # the one place names are resolved
from analyzer.demo.org import demo_organization
from analyzer.demo.traffic import CREATED, EVENT_ID, REQUEST_ID, TIME, Template, scenarios, templates
from analyzer.events.mapping import map_event
from analyzer.events.readers import read_events
from analyzer.events.records import EventRecord
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


def _concrete(template: Template) -> EventRecord:
    text = (
        json.dumps(template.event)
        .replace(TIME, "2026-11-22T17:05:09Z")
        .replace(CREATED, "2026-11-22T17:00:00Z")
        .replace(EVENT_ID, "e")
        .replace(REQUEST_ID, "r")
    )
    return EventRecord("demo", 0, json.loads(text))


def _codes(template: Template, snapshot) -> list[str]:
    """The reason code of every request the project's mapping derives from the event, as the
    analysis decides it (snapshot context keys and the VPC endpoint's policy included)."""
    mapped = map_event(_concrete(template))
    if not mapped.actions:
        return ["INVALID_ACTION"]
    return [explain_request(request, snapshot_resolver(snapshot))[0].code for request in mapped.requests()]


def _label(template: Template) -> str:
    identity = template.event["userIdentity"]
    who = identity.get("arn") or identity.get("invokedBy") or identity.get("principalId")
    return f"{template.event['eventName']}:{'/'.join(who.rsplit('/', 2)[-2:])}"


@pytest.mark.parametrize("template", CATALOG.denied, ids=[f"{t.code}:{_label(t)}" for t in CATALOG.denied])
def test_denials_are_caused_by_the_generated_policies(template, snapshot):
    assert set(_codes(template, snapshot)) == {template.code}


@pytest.mark.parametrize("template", CATALOG.allowed, ids=[_label(t) for t in CATALOG.allowed])
def test_allowed_traffic_is_allowed(template, snapshot):
    assert set(_codes(template, snapshot)) == {"ALLOWED"}


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
