"""The session policies a temporary session was created with, from the call that created it.

``AssumeRole``, ``AssumeRoleWithWebIdentity``, ``AssumeRoleWithSAML`` and
``GetFederationToken`` accept an inline session policy (``requestParameters.policy``, a
JSON string, logged in full) and up to ten managed session policies
(``requestParameters.policyArns``: ``[{"arn": ...}]``). The session's permissions are the
intersection of its identity policies and those session policies
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session).
CloudTrail logs the new session's temporary access key id in
``responseElements.credentials.accessKeyId``, and every later call of that session
carries it in ``userIdentity.accessKeyId``: that key is how a denied event finds the
call that created its session (see ``tests/data/history/README.md`` for the public
samples these shapes were checked against), provided that call made the caller's session:
its ``assumedRoleUser``/``federatedUser`` ARN is the caller's ``userIdentity.arn`` (the
same account, role or federated user, and session name). A call that made another session
with the same key is not the caller's, whatever its policies: the key is text written by
strangers like the rest.

A session whose policies the log cannot show is recorded as such, never as "no session
policy": CloudTrail replaces request parameters over its size limit with
``{"omitted": true, "reason": "requestParameters too large", ...}``; a logged policy
text may be unreadable; and ``responseElements.packedPolicySize`` (the packed size of
the session policies and tags passed) can say something was passed that the request
parameters do not show. Everything here is read from event text written by strangers:
values are kept as text and compared, never interpreted beyond JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analyzer.arn import Arn
from analyzer.events.caller import Caller
from analyzer.events.context import parse_time
from analyzer.events.fields import json_object, optional_text
from analyzer.events.records import EventRecord, ReadProblem

SESSION_EVENT_NAMES = frozenset(
    {"AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML", "GetFederationToken"}
)
# Calls whose every input is a logged request parameter: for them a packed policy size
# with no policy and no tag in the request means a policy the log does not show. (SAML
# and web identity sessions also take tags from the assertion or token, which are not
# request parameters, so a packed size there proves nothing.)
_ALL_INPUTS_LOGGED = frozenset({"AssumeRole", "GetFederationToken"})
_TAG_PARAMETERS = ("tags", "principalTags", "incomingTransitiveTags", "transitiveTagKeys")
# A session's ARN without its partition (``111122223333:assumed-role/App/worker``): the
# caller's ARN may be rebuilt with the partition of its region (``events/caller.py``), and
# ``sql/denials.sql`` reads the same part, up to a line break, with the same pattern.
_SESSION = re.compile(r"arn:[^:]*:sts::(.+)")
# The callers a session-creating call makes: a role session, a federated user.
_SESSION_CALLERS = frozenset({"AssumedRole", "FederatedUser"})


@dataclass(frozen=True, slots=True)
class SessionPolicies:
    """The session policies of one temporary session, as the call that created it logged them.

    ``inline`` is the inline session policy's JSON text, ``managed_arns`` the managed
    session policies; both empty when the caller passed none (the session is then
    capped by its identity policies alone). ``unknown`` says why the session's policies
    cannot be known, when they cannot.
    """

    access_key_id: str
    event_id: str
    event_name: str
    event_time: datetime | None
    account: str | None  # the account of the session (the role's, or the federating user's)
    session_arn: str | None
    created_by: str | None  # the caller of the creating call (for GetFederationToken, the IAM user)
    inline: str | None = None
    managed_arns: tuple[str, ...] = ()
    unknown: str | None = None

    @property
    def has_policies(self) -> bool:
        """Whether the session was created with session policies (known or not)."""
        return bool(self.inline or self.managed_arns or self.unknown)

    @property
    def federated(self) -> bool:
        """A federated user session (``GetFederationToken``): its identity policies are those
        of the IAM user that called it (``created_by``), and without a session policy it
        may do nothing at all
        (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetFederationToken.html)."""
        return self.event_name == "GetFederationToken"

    @property
    def matters(self) -> bool:
        """Whether the session can change an answer: it has session policies (known or
        not), or it is a federated user's (no session policy: it may do nothing at all)."""
        return self.has_policies or self.federated

    @property
    def session(self) -> str | None:
        """The session the call made, as ``SessionIndex`` matches callers to it."""
        return _session(self.session_arn)

    @property
    def origin(self) -> str:
        """The creating call, for notes and policy names: ``AssumeRole 1a2b... at 2024-...``."""
        when = self.event_time.strftime("%Y-%m-%dT%H:%M:%SZ") if self.event_time else "an unknown time"
        return f"{self.event_name} {self.event_id} at {when}"


def _session(arn: str | None) -> str | None:
    match = _SESSION.match(arn) if arn else None
    return match[1] if match else None


def _omitted(request: Any) -> bool:
    """CloudTrail's marker for request parameters dropped for size
    (``{"omitted": true, "reason": "requestParameters too large", "originalSize": ...}``)."""
    if not isinstance(request, Mapping):
        return False
    flag = request.get("omitted")
    return (
        flag is True or str(flag).lower() == "true" or request.get("reason") == "requestParameters too large"
    )


def _managed_arns(raw: Any) -> tuple[tuple[str, ...], bool]:
    """The ARNs of ``policyArns`` (``[{"arn": ...}]``; a bare string list is accepted too)
    and whether every entry could be read."""
    if raw is None:
        return (), True
    items = raw if isinstance(raw, list) else [raw]
    arns: list[str] = []
    readable = True
    for item in items:
        arn = optional_text(item.get("arn") or item.get("Arn")) if isinstance(item, Mapping) else None
        arn = arn or (optional_text(item) if isinstance(item, str) else None)
        if arn is None:
            readable = False
        else:
            arns.append(arn)
    return tuple(dict.fromkeys(arns)), readable


def _inline_text(raw: Any) -> tuple[str | None, bool]:
    """The inline session policy as JSON text, and whether it is a readable document."""
    if raw is None or raw == "":
        return None, True
    if isinstance(raw, Mapping):
        return json.dumps(raw, sort_keys=True), True
    if not isinstance(raw, str):
        return None, False
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return None, False
    return (raw, True) if isinstance(parsed, dict) else (None, False)


def _packed_size(response: Mapping[str, Any]) -> int | None:
    value = response.get("packedPolicySize")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def session_created(record: EventRecord) -> SessionPolicies | None:
    """The session a successful session-creating call made, with its session policies;
    None for any other event (a failed call made no session)."""
    raw = record.event
    if optional_text(raw.get("eventSource")) != "sts.amazonaws.com" or record.error_code is not None:
        return None
    name = optional_text(raw.get("eventName"))
    if name not in SESSION_EVENT_NAMES:
        return None
    response = json_object(raw.get("responseElements"))
    key = optional_text(json_object(response.get("credentials")).get("accessKeyId"))
    if key is None:
        return None
    request_raw = raw.get("requestParameters")
    request = json_object(request_raw)
    identity = json_object(raw.get("userIdentity"))
    user = json_object(response.get("assumedRoleUser")) or json_object(response.get("federatedUser"))
    session_arn = optional_text(user.get("arn"))
    parsed = Arn.parse(session_arn) if session_arn else None
    account = (parsed.account_id if parsed else None) or optional_text(raw.get("recipientAccountId"))
    unknown = None
    inline = None
    managed: tuple[str, ...] = ()
    if _omitted(request_raw):
        unknown = (
            "CloudTrail omitted the request parameters of the call that created the session "
            "(too large), so its session policies are not in the log"
        )
    else:
        inline, inline_readable = _inline_text(request.get("policy"))
        managed, managed_readable = _managed_arns(request.get("policyArns"))
        packed = _packed_size(response)
        if not inline_readable:
            unknown = (
                "the session policy logged by the call that created the session is not a readable policy"
            )
        elif not managed_readable:
            unknown = "a managed session policy logged by the call that created the session names no ARN"
        elif (
            name in _ALL_INPUTS_LOGGED
            and packed
            and inline is None
            and not managed
            and not any(request.get(tag) for tag in _TAG_PARAMETERS)
        ):
            unknown = (
                f"the call that created the session reports session policies or tags "
                f"(packedPolicySize {packed}%) that its logged request parameters do not show"
            )
    return SessionPolicies(
        access_key_id=key,
        event_id=optional_text(raw.get("eventID")) or f"{record.source}#{record.index}",
        event_name=name,
        event_time=parse_time(optional_text(raw.get("eventTime"))),
        account=account,
        session_arn=session_arn,
        created_by=optional_text(identity.get("arn")),
        inline=inline,
        managed_arns=managed,
        unknown=unknown,
    )


_Key = tuple[str, str]  # (temporary access key id, session)


class SessionIndex:
    """The sessions created among the events read, by temporary access key id and session
    (``SessionPolicies.session``): whether a caller's creating call was read (``read``: a
    compact set of all of them), and the sessions whose policies can change an answer
    (``get``; ``SessionPolicies.matters``), which are few. A caller is matched by its key and
    its session (``_caller_key``): a call that made another role's or account's session,
    or another session name, with the caller's key is not its creating call, and the caller's
    session is then not read (held-out probe: such a call's deny-all session policy was taken
    for the caller's). An ``AssumeRole`` is logged both in the caller's account and in the
    role's with the same key: the first one read is kept."""

    def __init__(self, sessions: Iterable[SessionPolicies] = ()):
        self._by_key: dict[_Key, SessionPolicies] = {}
        self._read: set[_Key] = set()
        for session in sessions:
            self.add(session)

    def add(self, session: SessionPolicies) -> None:
        if (made := session.session) is None:
            return  # names no session: no caller's
        key = (session.access_key_id, made)
        self._read.add(key)
        if session.matters:
            self._by_key.setdefault(key, session)

    def get(self, caller: Caller) -> SessionPolicies | None:
        """The session ``caller`` signed with, when its policies matter."""
        key = _caller_key(caller)
        return self._by_key.get(key) if key else None

    def read(self, caller: Caller) -> bool:
        """Whether the call that created ``caller``'s session was read, with session policies
        or without."""
        key = _caller_key(caller)
        return key is not None and key in self._read

    def __len__(self) -> int:
        return len(self._by_key)

    def access_key_ids(self) -> list[str]:
        """The access key ids of the sessions held (those whose policies matter)."""
        return list(dict.fromkeys(key for key, _ in self._by_key))

    def tap(self, items: Iterable[EventRecord | ReadProblem]) -> Iterator[EventRecord | ReadProblem]:
        """Pass read items through, adding every session created among them: one pass over
        the logs serves both this index and whoever reads the items next."""
        for item in items:
            if isinstance(item, EventRecord):
                session = session_created(item)
                if session is not None:
                    self.add(session)
            yield item

    def add_records(self, items: Iterable[EventRecord | ReadProblem]) -> None:
        """Every session created among read events (problems and other events are skipped)."""
        for _ in self.tap(items):
            pass


def _caller_key(caller: Caller) -> _Key | None:
    """The caller's temporary key and the session it belongs to, as its creating call names
    it (the role session's or federated user's ARN); None for other callers (an IAM user's
    temporary key comes from GetSessionToken, which takes no session policy)."""
    session = _session(caller.arn) if caller.identity_type in _SESSION_CALLERS else None
    return (caller.access_key_id, session) if caller.access_key_id and session else None
