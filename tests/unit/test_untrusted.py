"""Text written by strangers is shown as data: on a rich console, in logs, in Markdown."""

import io
import json
import logging

import pytest
from rich.console import Console

from analyzer.render import render_result
from analyzer.untrusted import (
    JsonFormatter,
    VisibleFormatter,
    markdown_fence,
    markup_literal,
    visible,
)

MARKUP = "reports/[bold red]ALLOWED[/] [link=https://evil.example/x]open[/link] :warning:"
OSC8 = "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x07", "\\x07"),
        ("a\x00b", "a\\x00b"),
        ("\x9b2J", "\\x9b2J"),
        ("\x7f", "\\x7f"),
        ("line\nforged", "line\\nforged"),
        ("invoice\u202egpj.exe", "invoice\\u202egpj.exe"),
        ("\u2066admin\u2069", "\\u2066admin\\u2069"),
        ("\u2028", "\\u2028"),
        # Taking no room on screen, "a<ZWSP>b" read as "ab" (found by a held-out probe).
        ("a\u200bb", "a\\u200bb"),
        ("\ufeffadmin\u200d", "\\ufeffadmin\\u200d"),
        ("soft\u00adhyphen", "soft\\xadhyphen"),
        ("naïve 日本 ✓", "naïve 日本 ✓"),
        (None, ""),
    ],
)
def test_visible_shows_control_and_bidi_characters(raw, shown):
    assert visible(raw) == shown


def _rendered(document: dict) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=200, emoji=False)
    render_result(document, console)
    return buffer.getvalue()


def test_a_result_with_markup_and_escapes_in_every_field_prints_them_literally():
    document = {
        "EventId": OSC8,
        "AssessmentResult": "[blink]Allowed[/blink]",
        "ReasonCode": MARKUP,
        "Principal": "\x1b[2J" + MARKUP,
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/" + MARKUP,
        "ErrorMessage": "\u202e" + MARKUP,
        "Reasons": [
            {
                "Code": "EXPLICIT_DENY_IDENTITY",
                "PolicyType": "identity",
                "PolicyName": MARKUP,
                "AttachmentTargetArn": OSC8,
                "Sid": MARKUP,
                "Suggestion": MARKUP,
            }
        ],
        "Notes": [MARKUP],
        "MissingContextKeys": [MARKUP],
    }
    out = _rendered(document)
    assert "\x1b]8" not in out  # no hyperlink, neither from markup nor from the raw OSC 8
    assert "\x1b[2J" not in out and "\x07" not in out and "\u202e" not in out
    plain = Console(file=io.StringIO(), width=200, emoji=False)  # as terminal_console() makes
    with plain.capture() as captured:
        render_result(document, plain)
    text = captured.get()
    assert text.count("[bold red]ALLOWED[/]") >= 6
    assert "[link=https://evil.example/x]open[/link]" in text
    assert ":warning:" in text and "\u26a0" not in text
    assert "\\x1b]8;;https://evil.example/\\x07click" in text
    assert "\\u202e" in text


def test_markup_literal_escapes_brackets_after_showing_controls():
    assert markup_literal("[b]\x1b") == "\\[b]\\x1b"


def test_log_lines_show_data_as_data():
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "key %s", (MARKUP + OSC8,), None)
    text = VisibleFormatter("%(message)s").format(record)
    assert "\x1b" not in text and "\x07" not in text and MARKUP in text
    line = JsonFormatter().format(record)
    assert "\x1b" not in line and json.loads(line)["message"] == "key " + MARKUP + OSC8


def test_a_fence_is_longer_than_any_backtick_run_inside():
    assert markdown_fence('{"a": "b"}') == "```"
    assert markdown_fence("x ```` y") == "`````"


def test_terminal_tables_wrap_long_names_instead_of_cutting_them():
    name = "DenyUnapprovedRegionsForEveryWorkloadInTheOrganization" * 2
    document = {
        "EventId": "e",
        "AssessmentResult": "Explicit deny in a service-control policy",
        "ReasonCode": "EXPLICIT_DENY_SCP",
        "Reasons": [
            {
                "Code": "EXPLICIT_DENY_SCP",
                "PolicyType": "scp",
                "PolicyName": name,
                "AttachmentTargetArn": "ou-abcd-12345678",
                "Sid": name,
            }
        ],
    }
    console = Console(file=io.StringIO(), width=80, emoji=False)
    with console.capture() as captured:
        render_result(document, console)
    text = captured.get()
    assert "…" not in text
    assert name in "".join(line.split("│")[2].strip() for line in text.splitlines() if line.count("│") >= 4)


def test_a_proposed_policy_wraps_at_the_terminal_width_instead_of_being_cut():
    resource = "arn:aws:s3:::reports-" + "a" * 150 + "/*"
    document = {
        "EventId": "e",
        "AssessmentResult": "Missing allow in an identity-based policy",
        "ReasonCode": "NO_ALLOW_IDENTITY",
        "Reasons": [],
        "ResultDetails": {
            "PoliciesToAdd": [
                {
                    "AttachmentTargetArn": "arn:aws:iam::111111111111:role/App",
                    "PolicyType": "identity",
                    "Policy": {
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource}]
                    },
                }
            ]
        },
    }
    console = Console(file=io.StringIO(), width=80, emoji=False)
    with console.capture() as captured:
        render_result(document, console)
    assert resource in "".join(line.strip() for line in captured.get().splitlines())


def _print_summary(**fields) -> None:
    """``run``'s summary of a one-denial run, with the given fields."""
    from analyzer.pipeline.stages import Summary
    from flows.run_command import print_summary

    counts = dict(files=1, denials=1, changes=0, groups=1, root_causes=0, backlog_principals=0)
    print_summary(Summary(run_date="2026-11-24", suppressed_groups=0, **counts, **fields))


def test_the_run_summary_shows_data_as_data(capsys):
    _print_summary(
        snapshot_id="snap" + OSC8,
        by_result={MARKUP: 1},
        problems=[f"s3://b/{MARKUP}: unreadable"],
        warnings=["\x1b[2J" + MARKUP],
        outputs=[f"out/{MARKUP}"],
        timings={"scan": 0.5},
    )
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert err.count("[bold red]ALLOWED[/]") >= 3 and "\\x1b[2J" in err


def test_each_run_warning_is_one_line_however_long_without_a_terminal(capsys):
    """A nightly's stderr goes to a file read with grep: a warning naming a long S3 key must
    not be wrapped at 80 columns (found by a held-out probe of damaged logs)."""
    path = "/logs/AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail/us-east-1/2026/11/22/" + "x" * 90 + ".json.gz"
    _print_summary(
        snapshot_id="snap",
        by_result={},
        problems=[f"{path}: truncated gzip; events before the damage were read"],
        warnings=[f"{path}: another warning"],
        outputs=[f"out/{'y' * 120}"],
        timings={},
    )
    lines = capsys.readouterr().err.splitlines()
    assert f"warning: {path}: truncated gzip; events before the damage were read" in lines
    assert f"warning: {path}: another warning" in lines
    assert f"wrote out/{'y' * 120}" in lines


def test_dollars_in_markdown_are_not_githubs_math():
    """GitHub renders "$...$" as math, whose \\color and \\phantom restyle or hide the
    data (held-out probe): the dollar is escaped."""
    from analyzer.untrusted import markdown_text

    assert markdown_text("a $x_y$ b") == "a \\$x\\_y\\$ b"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("see http://evil.example/x", "see http\\://evil.example/x"),
        ("HTTPS://A.example", "HTTPS\\://A.example"),
        ("(www.evil.example)", "\\(www\\.evil.example\\)"),
        ("arn:aws:iam::111111111111:user/www", "arn:aws:iam::111111111111:user/www"),
    ],
)
def test_a_bare_url_in_markdown_is_not_an_autolink(raw, shown):
    """GitHub's extended autolinks make a bare "https://..." or "www...." a live link; a
    backslash before the colon or the dot stops them and renders as the character (checked
    with cmark-gfm; found by a held-out probe of hostile logs)."""
    from analyzer.untrusted import markdown_text

    assert markdown_text(raw) == shown


@pytest.mark.parametrize(
    "hidden",
    [
        "\u034f",  # combining grapheme joiner
        "\u115f",  # Hangul choseong filler
        "\u1160",  # Hangul jungseong filler
        "\u3164",  # Hangul filler
        "\uffa0",  # halfwidth Hangul filler
        "\ufe0f",  # variation selector 16
        "\U000e0100",  # variation selector 17
        "\U000e0041",  # tag latin capital letter A
        "\U000e0001",  # language tag
        "\u2065",  # unassigned, default ignorable
        "\ufff9",  # interlinear annotation anchor
        "\ufffa",
        "\ufffb",
        "\u17b4",  # Khmer vowel inherent AQ
        "\u180b",  # Mongolian free variation selector
        "\U0001d173",  # musical symbol begin beam
        "\ue000",  # private use
        "\U0010ffff",  # noncharacter (unassigned)
        "\ud800",  # lone surrogate (from surrogateescape)
    ],
)
def test_every_character_that_takes_no_room_is_escaped(hidden):
    """Default_Ignorable_Code_Point, Cc/Cf/Cs/Co/Cn/Zl/Zp and the Hangul fillers render as
    nothing: "ad<U+3164>min" must not read as "admin" (found by a held-out probe)."""
    shown = visible(f"ad{hidden}min")
    assert shown != "admin" and hidden not in shown
    code = ord(hidden)
    assert shown == "ad" + (f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}") + "min"


@pytest.mark.parametrize(
    "text",
    [
        "naïve café",  # precomposed
        "nai\u0308ve cafe\u0301",  # combining marks on a visible base
        "日本語 한국어 हिन्दी ไทย",
        "\U0001f600 \u2764 \U0001f44d\U0001f3fd 1\u20e3",  # emoji, skin tone, keycap mark on a base
        "\u3000ideographic space",
    ],
)
def test_ordinary_visible_text_stays_readable(text):
    assert visible(text) == text


def test_a_combining_mark_with_no_visible_base_is_escaped():
    """A mark at the start of a value (or after a space) lands on whatever is printed before
    it, such as the quote or colon of the message, and is not seen as part of the value."""
    assert visible("\u0301x") == "\\u0301x"
    assert visible("a \u0301x") == "a \\u0301x"
    assert visible("\x1b\u0301") == "\\x1b\\u0301"


def test_a_real_escape_and_its_four_characters_read_differently():
    """A value holding ESC and one holding the text "\\x1b" must not read the same (found by a
    held-out probe): a backslash of the data's is shown doubled, like Python's repr."""
    assert visible("\x1b") == "\\x1b"
    assert visible("\\x1b") == "\\\\x1b"
    assert visible("C:\\temp\\n") == "C:\\\\temp\\\\n"
    assert markup_literal("\\[b]") == "\\\\\\\\\\[b]"
    plain = Console(file=io.StringIO(), width=200, emoji=False)
    with plain.capture() as captured:
        plain.print(markup_literal("a\\[b]\\") + " " + markup_literal("\x1b"))
    assert captured.get() == "a\\\\[b]\\\\ \\x1b\n"


def test_a_pretty_printed_json_document_keeps_its_own_escapes():
    """JSON escapes a backslash of the data's itself: the policy shown in a report stays the
    JSON that can be copied, ``\\u202e`` and ``\\\\`` as JSON wrote them."""
    from analyzer.untrusted import visible_lines

    document = json.dumps({"Sid": "a\u202e\\x1b"}, indent=2)
    assert visible_lines(document) == document
    assert visible_lines("{\n\x1b\n}") == "{\n\\x1b\n}"


def test_markdown_shows_the_data_backslash_doubled_once():
    """Escaped once for Markdown: ``\\\\x1b`` (the text) renders as ``\\\\x1b``, ESC as ``\\x1b``."""
    from markdown_it import MarkdownIt

    from analyzer.untrusted import markdown_text

    assert MarkdownIt("commonmark").renderInline(markdown_text("\\x1b|\x1b")) == "\\\\x1b|\\x1b"


def test_a_shortened_value_says_it_was_cut_and_never_splits_an_escape():
    """eventIDs and JSON in messages were cut silently, and ``json.dumps(value)[:60]`` could
    end in half of ``\\u202e`` (found by a held-out probe)."""
    from analyzer.untrusted import shortened

    assert shortened("abc", 3) == "abc"
    assert shortened("abcdef", 3) == "abc… (3 more characters)"
    text = json.dumps("a\u202e" * 30)
    cut = shortened(text, 10)
    assert cut.startswith('"a\\u202ea') and cut.endswith(f"… ({len(text) - 9} more characters)")
    assert shortened('"\\ud83d\\ude00x', 8) == '"… (13 more characters)'


def test_a_broken_record_names_a_long_event_id_as_cut():
    from analyzer.events.readers import _as_record

    problem = _as_record("f.json", 0, {"eventID": "e" * 200})
    assert problem.event_id == "e" * 128 + "… (72 more characters)"


def test_an_unusable_change_shows_its_value_cut_with_a_marker():
    from analyzer.history.changes import UnusableChange, _read_change

    record = type("R", (), {"event": {"eventTime": ["\u202e" * 20]}})()
    with pytest.raises(UnusableChange) as caught:
        _read_change(record, "PutRolePolicy", None)
    message = str(caught.value)
    assert "more characters)" in message and not message.split("…")[0].endswith("\\u20")


def test_an_unmappable_records_long_event_id_is_cut_with_a_marker(tmp_path):
    """The mapping's warning for a record it cannot read cut a long eventID silently."""
    import json

    from analyzer.events import ReadProblem
    from analyzer.events.mapping import denied_events

    event = {
        "eventVersion": "1.10",
        "eventTime": "2026-11-24T10:00:00Z",
        "eventID": "x" * 200,
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "errorCode": "AccessDenied",
        "userIdentity": "not an object",
    }
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"Records": [event]}))
    [problem] = [item for item in denied_events(path) if isinstance(item, ReadProblem)]
    assert problem.event_id == "x" * 128 + "… (72 more characters)"
