"""Expected denials: rules whose denials the report and the pipeline leave out.

Some denials are intended (a CI job probing for a bucket, a scanner walking
every region). A suppression file names them so that they stop crowding the
report and the least-privilege backlog, while their counts stay visible per
rule. The file is YAML::

    suppressions:
      - principal: "arn:aws:iam::*:role/ci-*"     # AWS-style * and ? wildcards
        action: "s3:GetBucket*"                   # case-insensitive, like IAM actions
        resource: "arn:aws:s3:::probe-*"
        account: "111111111111"                   # quote it: YAML reads digits as a number
        reason: "CI checks that probe buckets do not exist"   # required
        expires: 2026-06-30                       # optional, last day the rule applies

Omitted patterns match anything; a rule must give at least one. Principal and
resource patterns match ARN segment by segment (a ``*`` in the account segment
never spans a colon), as IAM's ``ArnLike`` does. An expired rule is not applied
and is reported as a warning, so that forgotten exceptions resurface.

The pipeline and the report share one matcher: ``Suppressions.rule_for`` in
Python, ``Suppressions.filter_arrow`` for an Arrow table and
``Suppressions.register`` for a DuckDB SQL expression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.engine.matching import Wildcard
from analyzer.errors import SuppressionError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

PATTERN_FIELDS = ("principal", "action", "resource", "account")
"""The pattern fields of a rule, in the order ``rule_for`` takes their values."""

TABLE_COLUMNS = ("principal_arn", "action", "resource_arn", "account_id")
"""The pipeline-table columns the pattern fields are matched against."""

_FIELDS = frozenset({*PATTERN_FIELDS, "reason", "expires"})


def _compile(field_name: str, pattern: str) -> Wildcard:
    if field_name in ("principal", "resource"):
        return Wildcard.arn(pattern)
    return Wildcard.plain(pattern, ignore_case=field_name == "action")


@dataclass(frozen=True, slots=True)
class Rule:
    """One expected denial. ``index`` is the rule's 1-based position in its file."""

    index: int
    reason: str
    principal: str = "*"
    action: str = "*"
    resource: str = "*"
    account: str = "*"
    expires: date | None = None
    _wildcards: tuple[Wildcard, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        wildcards = tuple(_compile(name, getattr(self, name)) for name in PATTERN_FIELDS)
        object.__setattr__(self, "_wildcards", wildcards)

    def expired(self, today: date) -> bool:
        return self.expires is not None and self.expires < today

    def matches(
        self, principal: str | None, action: str | None, resource: str | None, account: str | None
    ) -> bool:
        """A missing value (no resource, say) is matched only by a ``*`` pattern."""
        values = (principal, action.lower() if action else action, resource, account)
        return all(
            wildcard.matches_everything or (value is not None and wildcard.matches(value))
            for wildcard, value in zip(self._wildcards, values, strict=True)
        )

    def describe(self) -> str:
        """The rule's non-default patterns, for reports and warnings."""
        parts = [f"{name}={getattr(self, name)}" for name in PATTERN_FIELDS if getattr(self, name) != "*"]
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Suppressions:
    """The rules of one file, split into those in force and those expired."""

    source: str = ""
    active: tuple[Rule, ...] = ()
    expired: tuple[Rule, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(
            f"{self.source}: rule {rule.index} expired on {rule.expires} and is not applied ({rule.reason})"
            for rule in self.expired
        )

    def rule_for(
        self, principal: str | None, action: str | None, resource: str | None, account: str | None
    ) -> Rule | None:
        """The first active rule matching the denial group, or None."""
        for rule in self.active:
            if rule.matches(principal, action, resource, account):
                return rule
        return None

    def filter_arrow(self, table: pa.Table) -> pa.Table:
        """The rows of ``table`` that no active rule suppresses.

        ``table`` needs the columns ``TABLE_COLUMNS`` (the ``reasons`` and
        ``denials`` tables have them; filter groups before building the backlog,
        which has no action or resource per row).
        """
        import pyarrow as pa

        if not self.active:
            return table
        columns = [table.column(name).to_pylist() for name in TABLE_COLUMNS]
        keep = [self.rule_for(*values) is None for values in zip(*columns, strict=True)]
        return table.filter(pa.array(keep, type=pa.bool_()))

    def register(self, con: duckdb.DuckDBPyConnection, name: str = "suppression_rule") -> str:
        """Make suppressions usable in SQL on ``con``; return the SQL expression to use.

        The expression gives the index of the first active rule that matches a
        row with the columns ``TABLE_COLUMNS`` (NULL when none does): filter with
        ``WHERE <expr> IS NULL``. It registers a scalar function ``name``
        (principal, action, resource, account) -> INTEGER backed by ``rule_for``,
        memoised because many rows share one denial group. Without active rules
        nothing is registered and the expression is a typed NULL.
        """
        if not self.active:
            return "CAST(NULL AS INTEGER)"
        import duckdb
        from duckdb.func import SPECIAL

        @lru_cache(maxsize=65536)
        def rule_index(
            principal: str | None, action: str | None, resource: str | None, account: str | None
        ) -> int | None:
            rule = self.rule_for(principal, action, resource, account)
            return rule.index if rule else None

        varchar = duckdb.sqltype("VARCHAR")

        def rule_index_udf(
            principal: str | None, action: str | None, resource: str | None, account: str | None
        ) -> int | None:
            return rule_index(principal, action, resource, account)

        con.create_function(
            name,
            rule_index_udf,
            [varchar] * 4,
            duckdb.sqltype("INTEGER"),
            null_handling=SPECIAL,
            side_effects=False,
        )
        return f"{name}({', '.join(TABLE_COLUMNS)})"


def _pattern(raw: Mapping[str, Any], name: str, where: str) -> str:
    value = raw.get(name, "*")
    if not isinstance(value, str) or not value:
        hint = " (quote account ids)" if name == "account" else ""
        raise SuppressionError(f"{where}: '{name}' must be a non-empty string{hint}, got {value!r}")
    return value


def _expires(raw: Mapping[str, Any], where: str) -> date | None:
    value = raw.get("expires")
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise SuppressionError(f"{where}: 'expires' must be a date (YYYY-MM-DD), got {value!r}")


def parse_rule(raw: Any, index: int, source: str) -> Rule:
    """One rule from its YAML mapping; errors name the file and the rule's index."""
    where = f"{source}: rule {index}"
    if not isinstance(raw, Mapping):
        raise SuppressionError(
            f"{where}: must be a mapping with 'reason' and patterns, got {type(raw).__name__}"
        )
    unknown = sorted(str(key) for key in raw if key not in _FIELDS)
    if unknown:
        raise SuppressionError(
            f"{where}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(_FIELDS))}"
        )
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise SuppressionError(f"{where}: 'reason' is required: say why these denials are expected")
    if not any(name in raw for name in PATTERN_FIELDS):
        raise SuppressionError(
            f"{where}: give at least one of {', '.join(PATTERN_FIELDS)}; "
            "a rule without patterns would hide every denial"
        )
    patterns = {name: _pattern(raw, name, where) for name in PATTERN_FIELDS}
    return Rule(index=index, reason=reason.strip(), expires=_expires(raw, where), **patterns)


def parse_suppressions(document: Any, source: str, today: date) -> Suppressions:
    """Suppressions from a parsed YAML document (``{"suppressions": [...]}``)."""
    if document is None:
        document = {"suppressions": []}
    if not isinstance(document, Mapping) or set(document) != {"suppressions"}:
        raise SuppressionError(f"{source}: expected a mapping with a single key 'suppressions'")
    items = document["suppressions"] or []
    if not isinstance(items, list):
        raise SuppressionError(f"{source}: 'suppressions' must be a list of rules")
    rules = [parse_rule(raw, index, source) for index, raw in enumerate(items, start=1)]
    return Suppressions(
        source=source,
        active=tuple(rule for rule in rules if not rule.expired(today)),
        expired=tuple(rule for rule in rules if rule.expired(today)),
    )


def load_suppressions(path: str | Path, today: date | None = None) -> Suppressions:
    """Read a suppression file; ``today`` (UTC by default) decides which rules expired."""
    import yaml

    path = Path(path)  # the pipeline's settings hold it as text
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SuppressionError(f"{path}: cannot read: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise SuppressionError(f"{path}: not valid YAML: {error}".replace("\n", " ")) from error
    return parse_suppressions(document, str(path), today or datetime.now(UTC).date())
