"""The results file exists only when complete: an interrupted run leaves no partial output."""

import json

import pytest

from analyzer.results_file import ResultsFile


def test_an_interrupted_run_leaves_no_output_file(tmp_path):
    path = tmp_path / "out.json"
    with pytest.raises(KeyboardInterrupt), ResultsFile(path) as writer:
        writer.write({"EventId": "a"})
        writer.write({"EventId": "b"})
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_results_are_flushed_to_the_partial_file_as_they_come(tmp_path):
    path = tmp_path / "out.json"
    with ResultsFile(path) as writer:
        writer.write({"EventId": "a"})
        assert '"EventId": "a"' in writer.partial.read_text()
        assert not path.exists()
    assert json.loads(path.read_text()) == [{"EventId": "a"}]
