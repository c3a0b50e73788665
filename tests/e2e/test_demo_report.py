"""``access-undenied demo`` end to end: its report names the policy change of the demo's data.

The demo's traffic.yaml has a change (an SCP attached to the Prod OU on the window's second
day), the denials it causes and a later change that fixes them (the SCP narrowed on the
third day); the real command generates the logs, runs the pipeline (which records the
changes in ``changes/`` and the root cause and fix in ``reasons/``) and writes the report,
whose first section must name that change, and only it, behind those denials, and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import main
from analyzer.demo import DEFAULT_START
from analyzer.demo.traffic import scenarios, traffic
from analyzer.report import build_report

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--events", "2000", "--out", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def test_the_demo_report_names_the_change_behind_its_new_denials(out):
    change, fix = traffic().changes
    last, fixing = change.steps[-1], fix.steps[-1]
    caused = {s.actor.role_arn for s in scenarios() if s.after == change.name}
    data = build_report(str(out / "results"))
    new = data.new_denials
    assert new.first_run and new.root_causes
    explained = [group for group in new.listed if group.root_cause is not None]
    assert {group.principal_arn for group in explained} == caused
    assert new.explained == len(explained)  # no other group is blamed on a change
    for group in explained:
        cause = group.root_cause
        assert (cause.event_name, cause.changed_by, cause.target_arn) == (
            last.call.name,
            change.actor.arn,
            last.call.params["targetId"],
        )
        assert cause.event_time == change.time(last, DEFAULT_START, 3) and cause.logged
        assert group.assessment_result == "Explicit deny in a service-control policy"
        fixed_by = group.fixed_by
        assert fixed_by is not None and fixed_by.logged
        assert (fixed_by.event_name, fixed_by.changed_by) == (fixing.call.name, fix.actor.arn)
        assert fixed_by.event_time == fix.time(fixing, DEFAULT_START, 3)
    page = (out / "report.html").read_text(encoding="utf-8")
    section = page[page.index('data-section="new-denials"') : page.index('data-section="fixes"')]
    assert f'data-root-cause="{explained[0].root_cause.event_id}"' in section
    assert "AttachPolicy" in section and change.actor.arn in section
    assert f'data-fixed-by="{explained[0].fixed_by.event_id}"' in section and "UpdatePolicy" in section
    # Already fixed: neither a policy to add nor a deny to review, and the report says so.
    assert data.fixed_since is not None and data.fixed_since.entries == len(explained)
    assert data.fixed_since.events == sum(group.event_count for group in explained)
    assert all(spot.policy_name != "ProtectQueues" for spot in data.hot_spots)
    assert "data-fixed-since" in page
