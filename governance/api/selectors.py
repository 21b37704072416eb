"""What the API reads: the parameters in force, from one snapshot."""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Iterator

from django.db import connection, transaction

from governance.errors import NotFound
from governance.margin.numbers import decimal_text
from governance.parameters.models import ParameterVersion, Subject, VersionState
from governance.positions.models import MarketData
from governance.positions.terms import terms_current


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


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def _active() -> dict[str, tuple[int, str]]:
    return {key: (number, content_hash) for key, number, content_hash in ParameterVersion.objects.filter(
        state=VersionState.ACTIVE).values_list("subject__key", "number", "content_hash")}


def contracts_etag() -> str:
    return _digest(*sorted(_active().items()))


def contracts_active() -> list[dict]:
    versions = ParameterVersion.objects.filter(state=VersionState.ACTIVE, subject__kind=Subject.Kind.CONTRACT)
    return [{"symbol": v.subject.key, "version": v.number, "content_hash": v.content_hash,
             "activated_at": v.activated_at} for v in versions.select_related("subject").order_by("subject__key")]


def contract_etag(*, symbol: str) -> str:
    """From what the body is built of: the contract's and the exchange-wide content hashes and the
    realized volatility that picks the band."""
    active = _active()
    if symbol not in active:
        raise NotFound(f"no active parameters for contract {symbol!r}")
    volatility = MarketData.objects.filter(symbol=symbol).values_list("realized_volatility", flat=True).first()
    return _digest(active[symbol][1], active.get(Subject.EXCHANGE_KEY), volatility)


def contract_parameters(*, symbol: str) -> dict:
    terms = terms_current(symbols=[symbol]).get(symbol)
    if terms is None:
        raise NotFound(f"no active parameters for contract {symbol!r}")
    version = ParameterVersion.objects.get(pk=terms.contract_version_id)
    exchange = ParameterVersion.objects.filter(pk=terms.exchange_version_id).first()
    return {"symbol": symbol, "version": version.number, "content_hash": version.content_hash,
            "exchange_version": exchange.number if exchange else None,
            "contract_size": decimal_text(terms.contract_size), "tick_size": decimal_text(terms.tick_size),
            "margin_call_threshold": decimal_text(terms.margin_call_threshold), "volatility_band": terms.band,
            "multiplier": decimal_text(terms.multiplier),
            "tiers": [{"tier": t.number, "floor": decimal_text(t.floor), "cap": decimal_text(t.cap),
                       "max_leverage": decimal_text(t.max_leverage), "initial_margin_rate": decimal_text(t.initial_margin_rate),
                       "maintenance_margin_rate": decimal_text(t.maintenance_margin_rate),
                       "maintenance_amount": decimal_text(t.maintenance_amount)} for t in terms.schedule]}
