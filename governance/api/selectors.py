"""What the parameter endpoints read, from one snapshot.

Every function answers for a `When`: now (the active versions and the current realized
volatility), or a past answer on the two timelines of `governance.parameters.history`.
ETags are computed from the same content hashes the bodies are built from, before any body.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Iterator

from django.db import connection, transaction
from django.db.models import Prefetch, QuerySet

from governance.api.invalidation import PARAMETERS, process_cache
from governance.errors import NotFound, ValidationFailed
from governance.margin.numbers import decimal_text
from governance.parameters.assessment import changes_assess
from governance.parameters.history import versions_in_force, versions_scheduled
from governance.parameters.models import Approval, ParameterVersion, Subject, VersionState
from governance.parameters.policy import policy_current
from governance.parameters.selectors import version_data
from governance.positions.models import MarketData
from governance.positions.terms import ContractTerms, terms_build
from governance.rulefiles import ContractRules, ExchangeRules


@contextmanager
def snapshot() -> Iterator[None]:
    """Every read inside sees one database snapshot: never an old contract version with a new
    exchange-wide one, or a half-applied activation."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


@dataclass(frozen=True)
class When:
    """Now, or `as_of` (effective time) as the system had recorded it by `recorded_by`."""

    as_of: datetime | None = None
    recorded_by: datetime | None = None

    @property
    def now(self) -> bool:
        return self.as_of is None and self.recorded_by is None

    @property
    def key(self) -> tuple:
        return (self.as_of and self.as_of.isoformat(), self.recorded_by and self.recorded_by.isoformat())


NOW = When()


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def _hashes(when: When) -> dict[str, tuple[int, str]]:
    """subject key -> (number, content hash) of the versions in force."""
    if when.now:
        return {key: (number, content_hash) for key, number, content_hash in ParameterVersion.objects.filter(
            state=VersionState.ACTIVE).values_list("subject__key", "number", "content_hash")}
    return {key: (v.number, v.content_hash) for key, v in _versions(when).items()}


def _versions(when: When, keys: list[str] | None = None) -> dict[str, ParameterVersion]:
    if when.now:
        versions = ParameterVersion.objects.filter(state=VersionState.ACTIVE).select_related("subject")
        if keys is not None:
            versions = versions.filter(subject__key__in=keys)
        return {v.subject.key: v for v in versions}
    return versions_in_force(at=when.as_of or when.recorded_by, recorded_by=when.recorded_by, subject_keys=keys)


def _volatility(symbol: str, when: When) -> Decimal | None:
    if not when.now:
        return None  # not kept over time: past answers leave the band out
    return MarketData.objects.filter(symbol=symbol).values_list("realized_volatility", flat=True).first()


def _missing(symbol: str, when: When) -> NotFound:
    if when.now:
        return NotFound(f"no active parameters for contract {symbol!r}")
    return NotFound(f"no parameters for contract {symbol!r} in force at {(when.as_of or when.recorded_by).isoformat()}"
                    + (f" as recorded by {when.recorded_by.isoformat()}" if when.recorded_by else ""))


def _timestamps(version: ParameterVersion) -> dict[str, Any]:
    return {"effective_at": version.effective_at, "activated_at": version.activated_at}


# -- contracts ---------------------------------------------------------------------------------

def contracts_etag(*, when: When = NOW) -> str:
    return _digest(when.key, *sorted(_hashes(when).items()))


def contracts_list(*, when: When = NOW) -> list[dict]:
    versions = _versions(when)
    return [{"symbol": key, "version": v.number, "content_hash": v.content_hash, **_timestamps(v)}
            for key, v in sorted(versions.items()) if v.subject.kind == Subject.Kind.CONTRACT]


# What one contract's answer now is built of, in one statement (so one snapshot, with no
# transaction around it): the contract's and the exchange-wide versions in force, and the
# realized volatility that picks the band. Polling clients mostly get a 304 from this alone.
_IN_FORCE_NOW = f"""
SELECT 'v', s.key, v.number, v.content_hash, v.activated_at FROM {ParameterVersion._meta.db_table} v
JOIN {Subject._meta.db_table} s ON s.id = v.subject_id
WHERE v.state = %(active)s AND (s.key = %(exchange)s OR (s.key = %(symbol)s AND s.kind = %(contract)s))
UNION ALL
SELECT 'm', symbol, NULL, CAST(realized_volatility AS TEXT), NULL FROM {MarketData._meta.db_table} WHERE symbol = %(symbol)s"""


def contract_etag(*, symbol: str, when: When = NOW) -> str:
    """From what the body is built of: the numbers and content hashes of the contract's and the
    exchange-wide versions (a rollback to earlier content is another version) and the realized
    volatility that picks the band."""
    if when.now:
        with connection.cursor() as cursor:
            cursor.execute(_IN_FORCE_NOW, {"active": VersionState.ACTIVE, "exchange": Subject.EXCHANGE_KEY,
                                           "symbol": symbol, "contract": Subject.Kind.CONTRACT})
            rows = cursor.fetchall()
        # the activation time too: the answer shows it (and a test database reuses numbers)
        hashes = {key: (number, content_hash, str(at)) for kind, key, number, content_hash, at in rows if kind == "v"}
        volatility = next((text for kind, _, _, text, _ in rows if kind == "m"), None)
        volatility = None if volatility is None else Decimal(volatility).normalize()
    else:
        hashes, volatility = _hashes(when), None
    if symbol not in hashes or symbol == Subject.EXCHANGE_KEY:
        raise _missing(symbol, when)
    return _digest(when.key, hashes[symbol], hashes.get(Subject.EXCHANGE_KEY), volatility)


# symbol -> the ETag of its answer now, per process; a new epoch at every committed change of
# versions, subjects or a realized volatility (governance.api.invalidation)
ETAGS_NOW = process_cache("contract-etags", PARAMETERS, size=4096)


def contract_etag_now(symbol: str) -> str:
    """`contract_etag` now, remembered until the next change of what it is computed from (a
    contract without parameters is not remembered: it raises NotFound each time)."""
    return ETAGS_NOW.get_or_load(symbol, lambda: contract_etag(symbol=symbol))


def contract_terms(*, symbol: str, when: When = NOW) -> tuple[ContractTerms, ParameterVersion, ParameterVersion | None]:
    versions = _versions(when, [symbol, Subject.EXCHANGE_KEY])
    version, exchange_version = versions.get(symbol), versions.get(Subject.EXCHANGE_KEY)
    if version is None or version.subject.kind != Subject.Kind.CONTRACT:
        raise _missing(symbol, when)
    exchange_data = version_data(exchange_version) if exchange_version else None
    terms = terms_build(contract=ContractRules.from_data(version_data(version)),
                        exchange=ExchangeRules.from_data(exchange_data) if exchange_data else None,
                        realized_volatility=_volatility(symbol, when), contract_version_id=version.pk,
                        exchange_version_id=exchange_version.pk if exchange_version else None, with_band=when.now)
    return terms, version, exchange_version


class Bodies:
    """Answers already built, by their ETag: an ETag names everything its body is built of, so
    the same ETag is the same body. Per process, the most recent `size`."""

    def __init__(self, size: int = 512):
        self.size, self._bodies, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key: tuple, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._bodies:
                self._bodies.move_to_end(key)
                return self._bodies[key]
        body = build()
        with self._lock:
            self._bodies[key] = body
            while len(self._bodies) > self.size:
                self._bodies.popitem(last=False)
        return body


BODIES = Bodies()


def contract_parameters(*, symbol: str, when: When = NOW) -> dict:
    terms, version, exchange = contract_terms(symbol=symbol, when=when)
    return {"symbol": symbol, "version": version.number, "content_hash": version.content_hash, **_timestamps(version),
            "exchange_version": exchange.number if exchange else None,
            "contract_size": decimal_text(terms.contract_size), "tick_size": decimal_text(terms.tick_size),
            "margin_call_threshold": decimal_text(terms.margin_call_threshold), "volatility_band": terms.band,
            "multiplier": decimal_text(terms.multiplier),
            "tiers": [{"tier": t.number, "floor": decimal_text(t.floor), "cap": decimal_text(t.cap),
                       "max_leverage": decimal_text(t.max_leverage),
                       "initial_margin_rate": decimal_text(t.initial_margin_rate),
                       "maintenance_margin_rate": decimal_text(t.maintenance_margin_rate),
                       "maintenance_amount": decimal_text(t.maintenance_amount)} for t in terms.schedule]}


# -- exchange-wide adjustments ------------------------------------------------------------------

def exchange_etag(*, when: When = NOW) -> str:
    hashes = _hashes(when)
    if Subject.EXCHANGE_KEY not in hashes:
        raise NotFound("no exchange-wide adjustments in force" + ("" if when.now else " at that time"))
    # the number too: a rollback to earlier content is another version, and the answer names it
    return _digest("exchange", *hashes[Subject.EXCHANGE_KEY])


def exchange_parameters(*, when: When = NOW) -> dict:
    version = _versions(when, [Subject.EXCHANGE_KEY]).get(Subject.EXCHANGE_KEY)
    if version is None:
        raise NotFound("no exchange-wide adjustments in force" + ("" if when.now else " at that time"))
    rules = ExchangeRules.from_data(version_data(version))
    return {"version": version.number, "content_hash": version.content_hash, **_timestamps(version),
            "global_multiplier": decimal_text(rules.global_multiplier),
            "default_margin_call_threshold": decimal_text(rules.default_margin_call_threshold),
            "groups": [{"name": g.name, "multiplier": decimal_text(g.multiplier), "members": list(g.members)}
                       for g in rules.groups]}


# -- versions, content, diff, schedule ---------------------------------------------------------

def subject_require(*, key: str) -> Subject:
    subject = Subject.objects.filter(key=key).first()
    if subject is None:
        raise NotFound(f"no contract {key!r}" if key != Subject.EXCHANGE_KEY else "no exchange-wide versions yet")
    return subject


def versions_of(*, subject: Subject, states: list[str] | None = None) -> QuerySet[ParameterVersion]:
    versions = subject.versions.select_related("author", "rollback_of").order_by("-number")
    return versions.filter(state__in=states) if states else versions


def version_of(*, subject: Subject, number: int) -> ParameterVersion:
    approvals = Prefetch("approvals", queryset=Approval.objects.select_related("approver").order_by("pk"))
    version = (subject.versions.select_related("author", "rollback_of", "subject").prefetch_related(approvals)
               .filter(number=number).first())
    if version is None:
        raise NotFound(f"no version {number} of {subject.key}")
    return version


def version_etag(version: ParameterVersion) -> str:
    """Content, state and the approvals (an approval below the quorum does not touch the version)."""
    approvals = [(a.pk, a.revoked_at) for a in version.approvals.all()]
    return _digest(version.content_hash, version.state, version.updated_at, *approvals)


def _plain(value: Any) -> Any:
    """Parsed rule content for JSON: decimals as exact strings."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def version_content(version: ParameterVersion) -> Any:
    data = version_data(version)
    return _plain(data) if data is not None else None


def versions_diff(*, subject: Subject, old: ParameterVersion, new: ParameterVersion) -> dict:
    """Field by field, each change judged against the policy's guardrails as a change from `old`."""
    old_data, new_data = version_data(old), version_data(new)
    if old_data is None or new_data is None:
        broken = old if old_data is None else new
        raise ValidationFailed(f"version {broken.number} of {subject.key} does not parse: no diff", details=[])
    assessment = changes_assess(old=old_data, new=new_data, policy=policy_current())
    return {"subject": subject.key, "from_version": old.number, "to_version": new.number,
            "changes": [{"path": c.path, "old": _plain(c.old), "new": _plain(c.new),
                         "relative_change": decimal_text(c.relative_change) if c.relative_change is not None else None,
                         "parameter": c.parameter, "direction": c.direction, "beyond_step": c.beyond_step}
                        for c in assessment.changes]}


def schedule_etag() -> str:
    return _digest("schedule", *versions_scheduled().values_list("pk", "state", "effective_at", "content_hash"))


def schedule_list() -> list[dict]:
    return [{"subject": v.subject.key, "kind": v.subject.kind, "version": v.number, "state": v.state,
             "content_hash": v.content_hash, "approved_at": v.approved_at, "effective_at": v.effective_at,
             "emergency": v.emergency} for v in versions_scheduled()]


# -- the exchange-compatible leverage brackets ---------------------------------------------------

def _number(value: Decimal) -> int | float:
    """A JSON number, as that endpoint gives them (exact for rule values: at most 15 digits)."""
    return int(value) if value == value.to_integral_value() else float(value)


def brackets_etag(*, symbol: str | None, when: When = NOW) -> str:
    if symbol is not None:
        return _digest("brackets", contract_etag(symbol=symbol, when=when))
    volatilities = sorted(MarketData.objects.values_list("symbol", "realized_volatility")) if when.now else []
    return _digest("brackets", contracts_etag(when=when), *volatilities)


def leverage_brackets(*, symbol: str, when: When = NOW) -> dict:
    """One contract's tiers in force in the shape of a large exchange's public leverage-bracket
    endpoint: `initialLeverage` is the whole leverage the tier allows after the multipliers,
    rates and the maintenance amount (`cum`) are the effective ones."""
    terms, _, _ = contract_terms(symbol=symbol, when=when)
    return {"symbol": symbol, "notionalCoef": 1.0, "brackets": [
        {"bracket": t.number, "initialLeverage": max(1, int(t.max_leverage)), "notionalCap": _number(t.cap),
         "notionalFloor": _number(t.floor), "maintMarginRatio": _number(t.maintenance_margin_rate),
         "cum": float(t.maintenance_amount)} for t in terms.schedule]}


def leverage_brackets_all(*, when: When = NOW) -> list[dict]:
    return [leverage_brackets(symbol=c["symbol"], when=when) for c in contracts_list(when=when)]
