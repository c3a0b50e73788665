"""The pipeline's SQL: read from ``sql/``, written once in Athena's dialect.

Athena runs the text as written (parameters bound as literals: pyathena does not
bind named parameters in that syntax); DuckDB runs sqlglot's transpilation with
its own ``$name`` parameters. Both come from the same file, so both engines
compute the same thing.

What the project knows as data is rendered in rather than copied: the
pseudo-function ``is_access_denied(column)`` becomes the test of AWS's
access-denied codes from ``analyzer/data/denial_messages.json`` (the list the
event readers use), case-insensitive like theirs; ``is_policy_change(source, name)``
becomes the test of the (eventSource, eventName) pairs ``analyzer/history/changes.py``
recognises as policy changes (its registry, ``recognised_events``);
``is_session_creation(source, name)`` the test of the session-creating STS calls
``analyzer/events/sessions.py`` reads session policies from;
``without_encoded_message(text)`` becomes ``text`` with EC2's encoded authorization
message (``analyzer/events/messages.py``'s pattern) replaced by a fixed marker; the select-list
item ``row_columns()`` becomes the scan's flat columns, ``analyzer/events/fields.py``'s
``ROW_COLUMNS`` (``useridentity.sessioncontext.sessionissuer.arn AS issuer_arn``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources

import sqlglot
from sqlglot import exp

from analyzer.events.fields import LIST_SEPARATOR, ROW_COLUMNS, RowColumn
from analyzer.events.messages import encoded_message_regex
from analyzer.events.records import denial_codes
from analyzer.events.sessions import SESSION_EVENT_NAMES
from analyzer.history.changes import recognised_events

READ_DIALECT = "athena"


DENIAL_TEST = "is_access_denied"
CHANGE_TEST = "is_policy_change"
SESSION_TEST = "is_session_creation"
ENCODED_MESSAGE_REMOVAL = "without_encoded_message"
ENCODED_MESSAGE_MARKER = "<encoded message>"
STS = "sts.amazonaws.com"
# Sessions are read this long before the denials' window: a federation token lives up to
# 36 hours, a role session up to 12
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetFederationToken.html).
SESSION_LOOKBACK = timedelta(hours=36)
# CloudTrail files a log under the day it delivers it, "typically within an average of about
# 5 minutes" of its events, "not guaranteed"
# (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/how-cloudtrail-works.html):
# a denial at 23:58 is in the next day's folder. The scan reads the files delivered up to
# this long after its end (the next day's folder, its files named for that first hour), or
# the denial is read by neither that night's run (the folder is another day's) nor the
# next (the event is outside its window).
LATE_DELIVERY = timedelta(hours=1)
ROW_COLUMNS_ITEM = "row_columns"


def denial_condition(column: exp.Expression) -> exp.Expression:
    """``column`` is one of AWS's access-denied codes: an exact code (any case) or a
    match of one of the patterns (``regexp_like`` searches, as Python's ``re.search``)."""
    codes = denial_codes()
    exact = exp.In(
        this=exp.Lower(this=column.copy()), expressions=[exp.Literal.string(code) for code in codes.exact]
    )
    pattern = "(?i)" + "|".join(f"(?:{p})" for p in codes.patterns)
    regexp = exp.RegexpLike(this=column.copy(), expression=exp.Literal.string(pattern))
    return exp.Paren(this=exp.Or(this=exact, expression=regexp))


def change_condition(source: exp.Expression, name: exp.Expression) -> exp.Expression:
    """(``source``, ``name``) is an event ``analyzer.history.changes`` recognises as a policy
    change: an exact name of its service, or a match of the service's versioned names."""
    recognised = recognised_events()
    tests: list[exp.Expression] = []
    for service in sorted({*recognised.names, *recognised.patterns}):
        alternatives: list[exp.Expression] = []
        if names := recognised.names.get(service):
            alternatives.append(
                exp.In(this=name.copy(), expressions=[exp.Literal.string(n) for n in sorted(names)])
            )
        if pattern := recognised.patterns.get(service):
            alternatives.append(exp.RegexpLike(this=name.copy(), expression=exp.Literal.string(pattern)))
        tests.append(
            exp.Paren(
                this=exp.and_(
                    exp.EQ(this=source.copy(), expression=exp.Literal.string(service)),
                    exp.or_(*alternatives),
                )
            )
        )
    return exp.Paren(this=exp.or_(*tests))


def session_condition(source: exp.Expression, name: exp.Expression) -> exp.Expression:
    """(``source``, ``name``) is a call that creates a temporary session."""
    names = [exp.Literal.string(n) for n in sorted(SESSION_EVENT_NAMES)]
    return exp.Paren(
        this=exp.and_(
            exp.EQ(this=source.copy(), expression=exp.Literal.string(STS)),
            exp.In(this=name.copy(), expressions=names),
        )
    )


def without_encoded_message(text: exp.Expression) -> exp.Expression:
    """``text`` with each encoded authorization message replaced by one marker: two messages
    that differ only in it read the same, one with it and one without do not."""
    return exp.RegexpReplace(
        this=text.copy(),
        expression=exp.Literal.string(encoded_message_regex()),
        replacement=exp.Literal.string(ENCODED_MESSAGE_MARKER),
    )


def column_sql(column: RowColumn) -> str:
    """Athena's expression for one flat column: the struct path (``useridentity.arn``), or
    for a field of a list's items, the items' values joined by ``LIST_SEPARATOR``, an empty
    string standing for an item without it (so the columns of one list line up)."""
    path = column.athena_path
    if column.listed is None:
        return ".".join(path)
    items, field = ".".join(path[: column.listed]), ".".join(path[column.listed :])
    separator = f"chr({ord(LIST_SEPARATOR)})"
    return f"array_join(transform({items}, r -> coalesce(r.{field}, '')), {separator})"


def row_columns() -> list[exp.Expression]:
    """The scan's flat columns, each ``<expression> AS <name>``."""
    return [
        exp.Alias(
            this=sqlglot.parse_one(column_sql(column), read=READ_DIALECT),
            alias=exp.to_identifier(column.name),
        )
        for column in ROW_COLUMNS
    ]


def _expand_row_columns(select: exp.Select) -> exp.Select:
    items: list[exp.Expression] = []
    for item in select.expressions:
        if isinstance(item, exp.Anonymous) and str(item.this).lower() == ROW_COLUMNS_ITEM:
            items.extend(row_columns())
        else:
            items.append(item)
    return select.select(*items, append=False, copy=False)  # the same node: its children are rendered next


def _render(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Select):
        return _expand_row_columns(node)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == DENIAL_TEST:
        return denial_condition(node.expressions[0])
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == CHANGE_TEST:
        return change_condition(*node.expressions)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == SESSION_TEST:
        return session_condition(*node.expressions)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == ENCODED_MESSAGE_REMOVAL:
        return without_encoded_message(node.expressions[0])
    return node


@cache
def athena_sql(name: str) -> str:
    """The text of ``sql/<name>.sql`` (installed as ``analyzer/sql``), rendered."""
    text = (resources.files("analyzer") / "sql" / f"{name}.sql").read_text()
    pseudo = (DENIAL_TEST, CHANGE_TEST, SESSION_TEST, ENCODED_MESSAGE_REMOVAL, ROW_COLUMNS_ITEM)
    if not any(item in text for item in pseudo):
        return text
    tree = sqlglot.parse_one(text, read=READ_DIALECT).transform(_render)
    return tree.sql(dialect=READ_DIALECT, pretty=True)


@cache
def duckdb_sql(name: str) -> str:
    return sqlglot.transpile(athena_sql(name), read=READ_DIALECT, write="duckdb")[0]


def athena_with_literals(name: str, params: dict[str, str]) -> str:
    """The Athena text with each ``:param`` replaced by a string literal."""
    tree = sqlglot.parse_one(athena_sql(name), read=READ_DIALECT)

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name in params:
            return exp.Literal.string(params[node.name])
        return node

    return tree.transform(bind).sql(dialect=READ_DIALECT)


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_window(
    since: date | None, until: date | None, snapshots_collected: Iterable[datetime] = ()
) -> dict[str, str]:
    """The parameters of denials.sql: ISO bounds of the denials (until exclusive), of the
    policy changes, of the session-creating calls, and the partition days the scan reads.

    Sessions are read from ``SESSION_LOOKBACK`` before the window to its end: a denial's
    session may have been created that long before it.

    Changes are read over the denials' window and, when a snapshot was collected outside
    it (``snapshots_collected``, their ``collectedAt``), up to that moment as well:
    rebuilding the policies at a denial's time from a snapshot needs every change in
    between, before (forward) or after (backward) the window. Only that stretch is read,
    in the same scan.
    """
    collected = list(snapshots_collected)
    params = dict(_OPEN)  # a side without a bound reads every time: a clock's or a forger's too
    if since is not None:
        window_start = datetime.combine(since, time.min, UTC)
        changes_start = min([window_start, *collected])
        sessions_start = window_start - SESSION_LOOKBACK
        params.update(
            since=since.isoformat(),
            changes_since=_instant(changes_start),
            sessions_since=_instant(sessions_start),
            since_day=min(changes_start, sessions_start).date().strftime("%Y/%m/%d"),
        )
    if until is not None:
        window_end = datetime.combine(until, time.min, UTC)
        # A change at a snapshot's second is in it, or in the logs: read it.
        changes_end = max([window_end, *(moment + timedelta(seconds=1) for moment in collected)])
        last_day = (changes_end - timedelta(microseconds=1) + LATE_DELIVERY).date()
        params.update(
            until=until.isoformat(),
            changes_until=_instant(changes_end),
            until_day=last_day.strftime("%Y/%m/%d"),
        )
    return params


# The bounds of a window's open side. Times are compared as text: every time sorts after ""
# and before "~". Days are partition days (Athena's projection reads them as dates). An
# unbounded run read 1970 to tomorrow only, and left a denial dated otherwise out unsaid
# (differential held-out probe).
_OPEN = {
    "since": "",
    "until": "~",
    "changes_since": "",
    "changes_until": "~",
    "sessions_since": "",
    "since_day": "0001/01/01",
    "until_day": "9999/12/31",
}


def delivered_by(params: dict[str, str]) -> datetime:
    """The latest delivery a ``time_window`` can need a file of: ``LATE_DELIVERY`` after
    its last event."""
    end = datetime.strptime(params["changes_until"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return end + LATE_DELIVERY


def scanned_days(params: dict[str, str]) -> tuple[date, date]:
    """The first and the last day (inclusive) a ``time_window`` reads: the log files to list."""
    first, last = (datetime.strptime(params[key], "%Y/%m/%d").date() for key in ("since_day", "until_day"))
    return first, last
