"""Progress when stderr is not a terminal: a line every few seconds, not silence."""

import time

from analyzer.render import progress


def test_progress_writes_lines_when_not_on_a_terminal(capsys):
    seen = ""
    with progress("[bold]working[/bold]...", every=0.01):
        for _ in range(3000):  # wait for the first line, however loaded the machine is
            seen += capsys.readouterr().err
            if seen:
                break
            time.sleep(0.01)
    seen += capsys.readouterr().err
    lines = seen.splitlines()
    assert lines and all(line.startswith("working... (") for line in lines)
