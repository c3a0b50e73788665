"""The report's first section: tonight's new denials and the policy change behind each.

Small result tables (tests/report_tables.py) with and without the root-cause columns and
the ``changes/`` table: results written before they existed still render and say nothing
is known; a change row is shown as the change table logs it, escaped as data.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from report_tables import APP, DEV, GROUPS, LATEST, PREVIOUS, SCP, change_row, write_results

from analyzer.report import build_report, render_html, render_markdown
from analyzer.report.render import charts
from analyzer.untrusted import markdown_text

ADMIN = "arn:aws:sts::999999999999:assumed-role/AWSReservedSSO_Admin_1/erin@example.com"
OU = "ou-abcd-12345678"
KMS_DENY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "DenyKms", "Effect": "Deny", "Action": "kms:*", "Resource": "*"}],
}
CAUSE = change_row(
    "ev-update", datetime(2025, 3, 1, 21, 30, tzinfo=UTC), ADMIN, "UpdatePolicy", "scp", SCP, OU,
    json.dumps(KMS_DENY, separators=(",", ":")),
)  # fmt: skip
FIX = change_row(
    "ev-detach", datetime(2025, 3, 2, 5, 0, tzinfo=UTC), ADMIN, "DetachPolicy", "scp", SCP, OU, None
)
GONE = change_row(  # named by reasons/, its changes/ partition since removed
    "ev-gone", datetime(2025, 2, 27, 8, 0, tzinfo=UTC), ADMIN, "AttachPolicy", "scp", SCP, OU, None
)
SUMMARY = "added Deny kms:* on * (Sid DenyKms) to organization policy of p-1"
EXPLAINED = {
    **GROUPS,
    "g-kms": replace(GROUPS["g-kms"], root_cause="ev-update", fixed_by="ev-detach", summary=SUMMARY),
    "g-put": replace(GROUPS["g-put"], root_cause="ev-gone"),
}


@pytest.fixture(scope="module")
def explained(tmp_path_factory) -> Path:
    root = write_results(tmp_path_factory.mktemp("out"), groups=EXPLAINED, changes=(CAUSE, FIX, GONE))
    shutil.rmtree(root / "changes" / "dt=2025-02-27")
    return root


def _by_action(report) -> dict:
    return {group.action: group for group in report.new_denials.listed}


def test_results_without_root_causes_still_render_and_say_nothing_is_known(tmp_path):
    report = build_report(str(write_results(tmp_path)))
    new = report.new_denials
    assert (new.first_run, new.root_causes, new.groups, new.explained) == (False, False, 2, 0)
    assert [(g.action, g.event_count, g.root_cause) for g in new.listed] == [
        ("kms:Decrypt", 4, None),
        ("s3:PutObject", 1, None),
    ]
    page, markdown = render_html(report), render_markdown(report)
    assert 'data-history="absent"' in page and "nothing is known" in markdown
    assert "No logged policy change explains it" not in page + markdown


def test_each_new_group_names_the_logged_change_behind_it(explained):
    new = build_report(str(explained)).new_denials
    assert (new.root_causes, new.groups, new.explained) == (True, 2, 2)
    kms = _by_action(build_report(str(explained)))["kms:Decrypt"]
    assert (kms.principal_arn, kms.event_count, kms.assessment_result) == (
        APP,
        4,
        "Explicit deny in a service-control policy",
    )
    cause = kms.root_cause
    assert (cause.event_id, cause.event_time, cause.changed_by, cause.event_name) == (
        "ev-update",
        CAUSE.event_time,
        ADMIN,
        "UpdatePolicy",
    )
    assert (cause.policy_type, cause.policy_arn, cause.target_arn, cause.logged) == ("scp", SCP, OU, True)
    assert json.loads(cause.document) == KMS_DENY and "\n" in cause.document  # pretty-printed
    assert cause.summary == SUMMARY
    assert (kms.fixed_by.event_id, kms.fixed_by.event_name) == ("ev-detach", "DetachPolicy")


def test_a_change_missing_from_the_changes_table_shows_what_reasons_recorded(explained):
    put = _by_action(build_report(str(explained)))["s3:PutObject"]
    assert put.principal_arn == DEV
    cause = put.root_cause
    assert (cause.event_id, cause.event_time, cause.changed_by, cause.event_name) == (
        "ev-gone",
        GONE.event_time,
        ADMIN,
        "AttachPolicy",
    )
    assert (cause.logged, cause.policy_arn, cause.document, cause.summary) == (False, None, None, None)
    assert put.fixed_by is None


def test_html_leads_with_the_new_denials_and_their_changes(explained):
    page = render_html(build_report(str(explained)))
    assert page.index('data-section="new-denials"') < page.index('data-section="fixes"')
    assert 'data-root-cause="ev-update"' in page and 'data-fixed-by="ev-detach"' in page
    assert "UpdatePolicy" in page and "2025-03-01 21:30:00 UTC" in page and OU in page
    assert f"<div data-summary>{SUMMARY}</div>" in page
    assert "not in changes/" in page  # ev-gone
    assert 'data-history="absent"' not in page


def test_markdown_leads_with_the_new_denials_and_their_changes(explained):
    markdown = render_markdown(build_report(str(explained)))
    section = markdown[markdown.index("## New denials tonight") : markdown.index("## What to fix first")]
    assert f"Change behind it: {markdown_text(SUMMARY)}: UpdatePolicy of scp" in section
    assert "Fixed by: DetachPolicy" in section
    assert "2025-03-01 21:30:00 UTC" in section and '"DenyKms"' in section


def test_a_group_no_logged_change_explains_says_so(tmp_path):
    new = build_report(str(write_results(tmp_path, changes=()))).new_denials
    assert (new.root_causes, new.groups, new.explained) == (True, 2, 0)
    report = build_report(str(tmp_path))
    assert render_html(report).count("No logged policy change explains it.") == 2
    assert render_markdown(report).count("No logged policy change explains it.") == 2


def test_a_first_run_lists_every_group_of_the_window(tmp_path):
    report = build_report(str(write_results(tmp_path, runs=(LATEST,), changes=(CAUSE,))))
    new = report.new_denials
    assert new.first_run and new.groups == 6  # every group of the run, none suppressed here
    assert [g.event_count for g in new.listed] == sorted((g.event_count for g in new.listed), reverse=True)
    assert "First run" in render_html(report) and "First run" in render_markdown(report)


def test_groups_a_change_explains_come_first(tmp_path):
    groups = {**GROUPS, "g-put": replace(GROUPS["g-put"], root_cause="ev-update")}
    new = build_report(str(write_results(tmp_path, runs=(LATEST,), groups=groups, changes=(CAUSE,))), top=2)
    assert [(g.action, g.event_count) for g in new.new_denials.listed] == [
        ("s3:PutObject", 1),
        ("s3:ListBucket", 6),
    ]


def test_top_bounds_the_list_and_counts_the_rest(tmp_path):
    new = build_report(str(write_results(tmp_path, runs=(LATEST,))), top=2).new_denials
    assert len(new.listed) == 2
    assert (new.rest.entries, new.rest.events) == (4, 20 - sum(g.event_count for g in new.listed))


def test_no_previous_new_groups(tmp_path):
    root = write_results(
        tmp_path, runs=(PREVIOUS, LATEST), counts={PREVIOUS: {"g-get": 1}, LATEST: {"g-get": 2}}
    )
    report = build_report(str(root))
    assert report.new_denials.groups == 0
    assert "No new denials." in render_html(report) and "No new denials." in render_markdown(report)


# --- a change row written by strangers -----------------------------------------------------------

HOSTILE = change_row(
    "<script>document.documentElement.setAttribute('data-pwned','id')</script>",
    datetime(2025, 3, 1, 22, 0, tzinfo=UTC),
    "\"><img src=x onerror=\"document.documentElement.setAttribute('data-pwned','by')\">",
    "[open](https://evil.example/md) ![img](https://evil.example/p.png) | cell",
    "scp\u202etxt.exe",
    '<a href="https://evil.example/a">policy</a>',
    "javascript:document.documentElement.setAttribute('data-pwned','url')",
    json.dumps(
        {"Statement": "</pre><svg onload=\"document.documentElement.setAttribute('pwned','svg')\">```"}
    ),
)


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    groups = {
        **GROUPS,
        "g-kms": replace(
            GROUPS["g-kms"],
            root_cause=HOSTILE.event_id,
            fixed_by=HOSTILE.event_id,
            summary=HOSTILE.changed_by,
        ),
    }
    return build_report(str(write_results(tmp_path_factory.mktemp("out"), groups=groups, changes=(HOSTILE,))))


def test_a_hostile_change_row_is_html_text(hostile):
    assert hostile.new_denials.listed[0].root_cause.event_name == HOSTILE.event_name
    page = render_html(hostile)
    parser = Elements()
    parser.feed(page)
    assert not [tag for tag, _ in parser.tags if tag in {"img", "a", "iframe"}]
    assert len([tag for tag, _ in parser.tags if tag == "svg"]) == len(
        [c for c in charts(hostile).values() if c]
    )
    assert len([tag for tag, _ in parser.tags if tag == "script"]) == 2  # the report's own two
    assert not [attrs for _, attrs in parser.tags if any(name.startswith("on") for name in attrs)]
    assert not [attrs for _, attrs in parser.tags if any("javascript:" in (v or "") for v in attrs.values())]
    assert "\u202e" not in page and "\\u202e" in page
    assert "&lt;script&gt;" in page


def test_a_hostile_change_row_is_markdown_text(hostile):
    markdown = render_markdown(hostile)
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    inline = [child for token in tokens for child in (token.children or [])]
    assert not [t for t in inline if t.type in {"link_open", "image", "html_inline"}]
    assert not [t for t in tokens if t.type == "html_block"]
    assert "\u202e" not in markdown
    fences = [t for t in tokens if t.type == "fence"]
    assert any("</pre><svg" in t.content for t in fences)  # the document stays inside its code block
