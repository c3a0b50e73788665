"""``analyze`` on a real pseudo-terminal, fed the hostile corpus (issue 19 item 5).

The CLI runs as a child process whose stdout and stderr are a pty, so rich believes
it talks to a terminal and emits its own colours. Whatever the events say, the bytes
that reach the terminal may hold rich's own colour codes (SGR, ``ESC [ ... m``) and
nothing else a terminal would obey: no hyperlink (OSC 8), no clear screen, no title,
no bell, no NUL, no C1 control, no bidi override, and the markup in the data is shown
as text.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import sys
import termios
from pathlib import Path

import pytest
from hostile_corpus import PAYLOADS, write

ROOT = Path(__file__).resolve().parents[2]
_SGR = re.compile(rb"\x1b\[[0-9;]*m")  # select graphic rendition: rich's own styling


def _on_a_pty(*args: str) -> tuple[int, bytes]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; its exit code and bytes."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(TERM="xterm-256color", AWS_EC2_METADATA_DISABLED="true", COLUMNS="160", LINES="50")
        env.pop("NO_COLOR", None)
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "analyzer", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


@pytest.fixture(scope="module")
def terminal(tmp_path_factory) -> tuple[int, bytes, str]:
    corpus = write(tmp_path_factory.mktemp("hostile"))
    code, raw = _on_a_pty(
        "analyze", "--events-file", str(corpus.events_dir), "--snapshot", str(corpus.snapshot)
    )
    return code, raw, _SGR.sub(b"", raw).decode("utf-8", errors="replace")


def test_rich_styled_the_output_so_the_check_is_meaningful(terminal):
    _, raw, _ = terminal
    assert _SGR.search(raw), "rich did not think it was on a terminal"


def test_nothing_but_colour_codes_reaches_the_terminal(terminal):
    _, _, text = terminal
    assert "\x1b" not in text  # no OSC 8 link, ESC[2J, title, raw colours of the data's
    for forbidden in ("\x07", "\x00", "\x9b", "\u202e", "\u2066", "\u2067", "\u2069"):
        assert forbidden not in text, repr(forbidden)


def test_markup_and_escapes_in_the_data_are_shown_as_text(terminal):
    _, raw, text = terminal
    flat = re.sub(r"\s*[│┃|]\s*|\n\s*", "", text)  # undo the table's wrapping
    assert "[bold red]ALLOWED[/]" in flat
    assert "[link=https://evil.example/x]open[/link]" in flat
    assert ":warning: :thumbs_up:" in flat
    assert "\\x1b]8;;https://evil.example/osc\\x07click here" in flat
    assert "\\x1b[2J" in flat and "invoice\\u202eexe.pdf" in flat and "bell\\x07nul\\x00end" in flat
    assert "ok\\nerror: forged line\\r\\nwarning: another" in flat
    assert b"evil.example" not in b"".join(re.findall(rb"\x1b\]8;[^\x07\x1b]*", raw))


def test_the_hostile_file_name_in_a_warning_is_shown_literally(terminal):
    _, _, text = terminal
    warnings = [line for line in text.splitlines() if line.startswith("warning: ")]
    assert any(
        "broken-\\x1b[2J\\x1b[Hscreen clearedreports∕[bold red]ALLOWED[∕]" in line for line in warnings
    ), warnings


def test_every_event_is_answered(terminal):
    code, _, text = terminal
    assert code in (0, 1)  # 1: the broken file is bad input (issue 17 item 5)
    assert text.count("╭") == 2 * len(PAYLOADS)  # one panel per event
