"""The margin terms in force per contract: active versions, multipliers and band, as the engine needs them.

Built once per chunk from the active versions and the market data; the set-based
re-margining and the impact preview both consume these, and the engine is their reference.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from threading import Lock
from typing import Iterable

from django.db.models import Q

from governance.margin import Schedule, Tier, VolatilityBand, multiplier_resolve, schedule_build
from governance.parameters.models import ParameterVersion, Subject, VersionState
from governance.parameters.selectors import version_data
from governance.positions.models import MarketData
from governance.rulefiles import ContractRules, ExchangeRules


@dataclass(frozen=True)
class ContractTerms:
    symbol: str
    contract_size: Decimal
    tick_size: Decimal
    margin_call_threshold: Decimal
    band: int | None  # None: built without the volatility band (answers about the past)
    multiplier: Decimal
    schedule: Schedule
    contract_version_id: int
    exchange_version_id: int | None
    leverages: tuple[Decimal, ...] = ()  # as published, before the multiplier (exact SQL needs them)


def terms_build(*, contract: ContractRules, exchange: ExchangeRules | None, realized_volatility: Decimal | None,
                contract_version_id: int, exchange_version_id: int | None, with_band: bool = True) -> ContractTerms:
    """`with_band=False` leaves the volatility band out (multiplier = global x group): realized
    volatility is not kept over time, so a past band cannot be told."""
    group = exchange.group_of(contract.symbol) if exchange else None
    applied = multiplier_resolve(
        bands=contract.volatility_bands if with_band else [VolatilityBand(Decimal(0), Decimal(1))],
        realized_volatility=realized_volatility if with_band else None,
        global_multiplier=exchange.global_multiplier if exchange else Decimal(1),
        group=group.name if group else None, group_multiplier=group.multiplier if group else Decimal(1))
    schedule = schedule_build(tiers=[Tier(t.floor, t.cap, t.max_leverage, t.maintenance_margin_rate)
                                     for t in contract.tiers], multiplier=applied.effective)
    threshold = contract.margin_call_threshold
    if threshold is None:
        threshold = exchange.default_margin_call_threshold if exchange else Decimal("0.8")
    return ContractTerms(contract.symbol, contract.contract_size, contract.tick_size, threshold,
                         applied.band if with_band else None,
                         applied.effective, schedule, contract_version_id, exchange_version_id,
                         tuple(t.max_leverage for t in contract.tiers))


def terms_current(*, symbols: Iterable[str] | None = None,
                  overrides: dict[str, ParameterVersion] | None = None) -> dict[str, ContractTerms]:
    """Terms of every contract with an active version (or of `symbols`).

    `overrides` replaces the active version of a subject (a contract symbol, or 'exchange')
    by another version: what the terms would be if it were active (the impact preview).
    """
    overrides = overrides or {}
    # Every rollout chunk calls this: the versions in force are read as ids and hashes, and a
    # version's content only when its terms are not built yet in this process (below).
    active = ParameterVersion.objects.filter(state=VersionState.ACTIVE)
    if symbols is not None:
        symbols = list(symbols)
        active = active.filter(Q(subject__kind=Subject.Kind.EXCHANGE) | Q(subject__key__in=symbols))
    by_symbol: dict[str, tuple[int, str]] = {}
    exchange: tuple[int, str] | None = None
    for pk, content_hash, kind, key in active.values_list("pk", "content_hash", "subject__kind", "subject__key"):
        if kind == Subject.Kind.EXCHANGE:
            exchange = (pk, content_hash)
        else:
            by_symbol[key] = (pk, content_hash)
    for key, version in overrides.items():
        if key == Subject.EXCHANGE_KEY:
            exchange = (version.pk, version.content_hash)
        elif symbols is None or key in symbols:
            by_symbol[key] = (version.pk, version.content_hash)
    vols = dict(MarketData.objects.filter(symbol__in=list(by_symbol)).values_list("symbol", "realized_volatility"))
    keys = {symbol: (*version, *(exchange or (None, None)), vols.get(symbol)) for symbol, version in by_symbol.items()}
    built = {symbol: _BUILT.get(key) for symbol, key in keys.items()}
    missing = [symbol for symbol, terms in built.items() if terms is None]
    if missing:
        built.update(_terms_build_missing(
            keys={symbol: keys[symbol] for symbol in missing}, vols=vols, exchange_pk=exchange and exchange[0],
            overrides={version.pk: version for version in overrides.values()}))
    return {symbol: terms for symbol, terms in built.items() if terms is not None}


def _terms_build_missing(*, keys: dict[str, tuple], vols: dict[str, Decimal | None], exchange_pk: int | None,
                         overrides: dict[int, ParameterVersion]) -> dict[str, ContractTerms | None]:
    """Build (and keep) the terms of `keys`' contracts, from the stored content of their versions."""
    wanted = {key[0] for key in keys.values()} | ({exchange_pk} if exchange_pk else set())
    versions = {pk: v for pk, v in overrides.items() if pk in wanted}
    versions.update(ParameterVersion.objects.in_bulk([pk for pk in wanted if pk not in versions]))
    exchange_data = version_data(versions[exchange_pk]) if exchange_pk else None
    exchange = ExchangeRules.from_data(exchange_data) if exchange_data else None
    out: dict[str, ContractTerms | None] = {}
    for symbol, key in keys.items():
        data = version_data(versions[key[0]])
        out[symbol] = _BUILT.put(key, terms_build(
            contract=ContractRules.from_data(data), exchange=exchange, realized_volatility=vols.get(symbol),
            contract_version_id=key[0], exchange_version_id=exchange_pk)) if data else None
    return out


class _BuiltTerms:
    """Terms built per process, by the versions and realized volatility they were built from.

    Stored versions never change (the content is frozen from submission), so the same key
    always builds the same terms; every chunk of a rollout would otherwise build each
    contract's schedule again (~10 ms of a worker's CPU per chunk at 50 contracts).
    """

    def __init__(self, size: int) -> None:
        self._size, self._items, self._lock = size, OrderedDict(), Lock()

    def get(self, key: tuple) -> ContractTerms | None:
        with self._lock:
            terms = self._items.get(key)
            if terms is not None:
                self._items.move_to_end(key)
            return terms

    def put(self, key: tuple, terms: ContractTerms) -> ContractTerms:
        with self._lock:
            self._items[key] = terms
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return terms


_BUILT = _BuiltTerms(size=4096)
