"""Every evaluation case must be decided as its ``expected`` says.

Cases are data (spec/cases.md): the shared conformance suite (read from
../shared when present, and from the copy in tests/data so the repository's
tests run on their own) plus the topic files in tests/cases/.
"""

import json
from pathlib import Path

import pytest

from analyzer.cases import simulate

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "conformance"
CASE_FILES = sorted(
    [
        *SHARED.glob("*.json"),
        *(ROOT / "tests/data/conformance").glob("*.json"),
        *(ROOT / "tests/cases").glob("*.json"),
    ]
)


def _cases():
    for path in CASE_FILES:
        label = path.relative_to(path.parents[1])
        for case in json.loads(path.read_text()):
            yield pytest.param(case, id=f"{label}::{case['name']}")


def test_case_files_exist():
    assert any(p.parent.name == "cases" for p in CASE_FILES)
    assert any(p.parent.name == "conformance" for p in CASE_FILES)


@pytest.mark.parametrize("case", list(_cases()))
def test_case(case):
    [outcome] = simulate([case])
    assert outcome.error is None, outcome.error
    assert outcome.mismatch is None, outcome.mismatch


def test_repository_copy_matches_shared_conformance():
    """The copy under tests/data must not drift from the shared suite."""
    if not SHARED.is_dir():
        pytest.skip("no ../shared checkout next to the repository")
    for path in SHARED.glob("*.json"):
        copy = ROOT / "tests/data/conformance" / path.name
        assert copy.exists(), f"{path.name} is not copied into tests/data/conformance"
        assert json.loads(copy.read_text()) == json.loads(path.read_text())
