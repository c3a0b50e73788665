"""The report leads with what to fix first (issue 17 item 7), checked in Chromium's DOM.

One run whose missing allows need every kind of fix — identity policy, bucket policy
(cross-account), key policy, trust policy, permissions boundary, SCP — and explicit
denies with suggested edits; ``--top 3`` cuts every list, so "other" rows must appear.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from report_tables import Group, deny_edit, fix_to_add, write_results
from test_hostile_report import Dom
from test_report_chromium import CHROMIUM, _chromium

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary")

DAY = "2025-03-02"
APP = "arn:aws:iam::111111111111:role/App"
OTHER = "arn:aws:iam::222222222222:role/Partner"
BUCKET = "arn:aws:s3:::shared-data"
KEY = "arn:aws:kms:us-east-1:111111111111:key/k1"
TARGET_ROLE = "arn:aws:iam::111111111111:role/Target"
SCP = "arn:aws:organizations::999999999999:policy/o-abc/service_control_policy/p-1"
OU = "ou-abcd-12345678"
MISSING = "Missing allow in an identity-based policy"
DENY = "Explicit deny in a service-control policy"

GROUPS = {
    g.key: g
    for g in [
        Group(
            "identity",
            APP,
            "s3:GetObject",
            f"{BUCKET}/a",
            MISSING,
            "identity",
            fix=fix_to_add("identity", APP, "s3:GetObject", f"{BUCKET}/a"),
        ),
        Group(
            "bucket",
            OTHER,
            "s3:PutObject",
            f"{BUCKET}/b",
            "Missing allow in a resource-based policy in cross-account access",
            "resource",
            fix=fix_to_add("resource", BUCKET, "s3:PutObject", f"{BUCKET}/b", Principal={"AWS": OTHER}),
        ),
        Group(
            "key",
            APP,
            "kms:Decrypt",
            KEY,
            "Missing allow in a resource-based policy",
            "resource",
            fix=fix_to_add("resource", KEY, "kms:Decrypt", "*", Principal={"AWS": APP}),
        ),
        Group(
            "trust",
            APP,
            "sts:AssumeRole",
            TARGET_ROLE,
            "Missing allow in a resource-based policy",
            "resource",
            fix=fix_to_add("resource", TARGET_ROLE, "sts:AssumeRole", None, Principal={"AWS": APP}),
        ),
        Group(
            "boundary",
            APP,
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:111111111111:q",
            "Missing allow in a permissions boundary policy",
            "permissionsBoundary",
            fix=fix_to_add(
                "permissionsBoundary", APP, "sqs:SendMessage", "arn:aws:sqs:us-east-1:111111111111:q"
            ),
        ),
        Group(
            "scp",
            APP,
            "ec2:RunInstances",
            None,
            "Missing allow in a service-control policy",
            "scp",
            fix=fix_to_add("scp", OU, "ec2:RunInstances", None),
        ),
        *[
            Group(
                f"deny-{i}",
                APP,
                f"s3:Put{i}",
                f"{BUCKET}/d{i}",
                DENY,
                "scp",
                SCP,
                "DenyRegions",
                f"Deny{i}",
                target=OU,
                fix=deny_edit(
                    OU,
                    SCP,
                    f"Change the request: use us-east-1 (Deny{i})",
                    {"Sid": f"Deny{i}", "Effect": "Deny", "Action": f"s3:Put{i}", "Resource": "*"},
                ),
            )
            for i in range(5)
        ],
    ]
}
# Events per group: the fixes rank as identity 9 > key 7 > trust 6 > boundary 5 > ...
COUNTS = {
    DAY: {
        "identity": 9,
        "bucket": 3,
        "key": 7,
        "trust": 6,
        "boundary": 5,
        "scp": 4,
        **{f"deny-{i}": 5 - i for i in range(5)},
    }
}
KINDS = {"identity policy", "resource policy", "key policy", "trust policy", "permissions boundary", "SCP"}


def _report(results: Path, top: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", "report", "--results", str(results), "--top", str(top), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return write_results(
        tmp_path_factory.mktemp("backlog") / "out", runs=(DAY,), groups=GROUPS, counts=COUNTS
    )


def _dom(results: Path, tmp_path: Path, top: int) -> tuple[Dom, str]:
    page = tmp_path / f"report-{top}.html"
    _report(results, top, "--html", str(page))
    run = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    dom = Dom()
    dom.feed(run.stdout)
    return dom, run.stdout


def test_after_the_new_denials_comes_every_fix_ranked_by_events(results, tmp_path):
    dom, html = _dom(results, tmp_path, top=10)
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert headings[:3] == [
        "New denials tonight and the change behind each",
        "What to fix first",
        "Explicit denies to review",
    ]
    fixes = dom.tags("article")
    fixes = [attrs for attrs in fixes if "data-fix" in attrs]
    assert {attrs["data-kind"] for attrs in fixes} == KINDS
    events = [int(attrs["data-events"]) for attrs in fixes]
    assert events == sorted(events, reverse=True) and events[0] == 9
    # Each fix names its attachment target and carries a copyable, parseable policy.
    targets = re.findall(r'data-fix="\d+".*?data-target="">(.*?)</span>', html, re.S)
    assert set(targets) == {APP, BUCKET, KEY, TARGET_ROLE, OU}
    policies = re.findall(r'<pre id="fix-\d+">(.*?)</pre>', html, re.S)
    assert len(policies) == len(fixes)
    key_policy = next(
        json.loads(p.replace("&#34;", '"').replace("&quot;", '"')) for p in policies if "kms:Decrypt" in p
    )
    assert key_policy["Statement"][0]["Principal"] == {"AWS": APP}


def test_hot_spots_name_the_target_and_the_suggested_edit(results, tmp_path):
    _, html = _dom(results, tmp_path, top=10)
    section = html[html.index('data-section="hot-spots"') :]
    section = section[: section.index("</section>")]
    assert section.count(f'data-target="">{OU}</td>') == 5
    assert "Change the request: use us-east-1 (Deny0)" in section


def test_cut_lists_end_with_an_other_row(results, tmp_path):
    _, html = _dom(results, tmp_path, top=3)
    fixes = html[html.index('data-section="fixes"') :]
    fixes = fixes[: fixes.index("</section>")]
    assert fixes.count("data-fix=") == 3
    other = re.search(
        r"<p data-other=\"\">other: (\d+) more policies for .*?"
        r'data-value="(\d+)"',
        fixes,
        re.S,
    )
    assert other and other.groups() == ("3", str(3 + 5 + 4))  # bucket, boundary, scp
    spots = html[html.index('data-section="hot-spots"') :]
    spots = spots[: spots.index("</section>")]
    assert re.search(r"other \(2 more statements\).*?data-value=\"3\"", spots, re.S)
    actions = html[html.index('data-breakdown="top_actions"') :]
    actions = actions[: actions.index("</section>")]
    assert re.search(r'data-label="other \(8\)" data-other=""', actions)


def test_chart_labels_are_legible_and_whole(results, tmp_path):
    _, html = _dom(results, tmp_path, top=10)
    sizes = {float(size) for size in re.findall(r"font-size: ([\d.]+)px", html)}
    assert sizes and min(sizes) >= 10  # SVG user units are points here
    for width in re.findall(r'<svg [^>]*width="([\d.]+)pt"', html):
        assert float(width) * 96 / 72 <= 1050  # never scaled down by the page
    texts = "".join(re.findall(r"<text[^>]*>(.*?)</text>", html, re.S))
    assert "…" not in texts
    chart = html[html.index('data-breakdown="by_result"') :]
    chart = chart[: chart.index("</svg>")]
    labels = "".join(re.findall(r"<text[^>]*>(.*?)</text>", chart, re.S))
    assert "Missing allow in a resource-based policy in cross-account access".replace(
        " ", ""
    ) in labels.replace(" ", "").replace("\n", "")
