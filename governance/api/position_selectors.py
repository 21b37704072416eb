"""What the positions, margin-event, rollout and what-if endpoints read.

Reads of the book that `governance.positions.selectors` does not offer: the annotated querysets
the pages are cut from (account codes and version numbers joined in, never one query per row),
and the what-if, which runs the engine exactly as the re-margining does and writes nothing.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import F, Prefetch, QuerySet, prefetch_related_objects

from governance.errors import NotFound, ValidationFailed
from governance.parameters.models import ParameterVersion, Subject, VersionState
from governance.positions.models import MarginEvent, MarketData, Position, Rollout
from governance.positions.remargin import position_compute
from governance.positions.selectors import margin_events_after, rollout_progress
from governance.positions.terms import terms_current

# Primary keys and sequence numbers are bigint: a larger number names nothing (and would
# overflow SQLite's INTEGER before the query could say so).
BIGINT_MAX = 2 ** 63 - 1

# Versions whose content is frozen and may yet be (or is) in force: what a what-if can try.
TRIABLE_STATES = (VersionState.SUBMITTED, VersionState.APPROVED, VersionState.SCHEDULED, VersionState.ACTIVE)


# --- positions --------------------------------------------------------------------------

def positions_query() -> QuerySet[Position]:
    """Positions with the account code and the stamp's version numbers joined in."""
    return Position.objects.annotate(account_code=F("account__code"),
                                     contract_version_number=F("contract_version__number"),
                                     exchange_version_number=F("exchange_version__number"))


def position_get(*, position_id: int) -> Position:
    position = positions_query().filter(pk=position_id).first() if position_id <= BIGINT_MAX else None
    if position is None:
        raise NotFound(f"no position {position_id}")
    return position


# --- margin events ----------------------------------------------------------------------

def margin_events_page(*, after: int, limit: int) -> tuple[list[MarginEvent], int]:
    """Events with seq > after, in seq order, and the cursor to ask with next: the last seq
    returned, or `after` again when there is nothing new yet."""
    events = margin_events_after(cursor=after, limit=limit)
    # one query per relation for the whole page, and only the version numbers (not the YAML)
    numbers = ParameterVersion.objects.only("id", "number")
    prefetch_related_objects(events, "account", Prefetch("contract_version", queryset=numbers),
                             Prefetch("exchange_version", queryset=numbers))
    return events, (events[-1].seq if events else after)


# --- rollouts ---------------------------------------------------------------------------

def rollouts_query() -> QuerySet[Rollout]:
    return Rollout.objects.annotate(contract_version_number=F("contract_version__number"),
                                    exchange_version_number=F("exchange_version__number"))


def rollout_view(rollout: Rollout) -> dict[str, Any]:
    """The rollout's progress, with the versions it applies and what superseded it."""
    return {**rollout_progress(rollout), "contract_version": rollout.contract_version_number,
            "exchange_version": rollout.exchange_version_number, "superseded_by": rollout.superseded_by_id}


def rollout_get(*, rollout_id: int) -> dict[str, Any]:
    rollout = rollouts_query().filter(pk=rollout_id).first() if rollout_id <= BIGINT_MAX else None
    if rollout is None:
        raise NotFound(f"no rollout {rollout_id}")
    return rollout_view(rollout)


def rollouts_of(*, ids: list[int]) -> list[dict[str, Any]]:
    return [rollout_view(r) for r in rollouts_query().filter(pk__in=ids).order_by("id")]


# --- what-if ----------------------------------------------------------------------------

def _proposal(*, version_id: int | None, symbol: str) -> dict[str, ParameterVersion]:
    """The `overrides` for terms_current: the proposed version in place of the active one."""
    if version_id is None:
        return {}
    version = (ParameterVersion.objects.select_related("subject").filter(pk=version_id).first()
               if version_id <= BIGINT_MAX else None)
    if version is None:
        raise NotFound(f"no parameter version {version_id}")
    key = version.subject.key
    problem = None
    if version.state not in TRIABLE_STATES:
        problem = (f"version {version_id} ({key} v{version.number}) is {version.state}: only a submitted, "
                   "approved, scheduled or active version can be tried")
    elif version.subject.kind == Subject.Kind.CONTRACT and key != symbol:
        problem = f"version {version_id} is a version of {key}, not of {symbol}"
    if problem:
        raise ValidationFailed(problem, details=[{"path": "version", "message": problem}])
    return {key: version}


def _version_numbers(*ids: int | None) -> dict[int, int]:
    return dict(ParameterVersion.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "number"))


def position_what_if(*, symbol: str, side: str, quantity: Decimal, entry_price: Decimal, isolated_margin: Decimal,
                     mark_price: Decimal | None = None, version_id: int | None = None) -> dict[str, Any]:
    """A position computed by the engine under the parameters in force (or with the proposed
    version `version_id` in place of its subject's active one), as the re-margining would
    compute it: at `mark_price`, else the contract's mark, else the entry price. Writes nothing."""
    overrides = _proposal(version_id=version_id, symbol=symbol)
    terms = terms_current(symbols=[symbol], overrides=overrides).get(symbol)
    if terms is None:
        raise NotFound(f"no active parameters for contract {symbol!r}")
    if mark_price is None:
        mark_price = MarketData.objects.filter(symbol=symbol).values_list("mark_price", flat=True).first()
    row = {"side": side, "quantity": quantity, "entry_price": entry_price, "isolated_margin": isolated_margin}
    computed = position_compute(row, terms, mark_price)  # the engine's own errors reach the client as they are
    numbers = _version_numbers(terms.contract_version_id, terms.exchange_version_id)
    return {"symbol": symbol, **row, "mark_price": mark_price, "margin": computed,
            "parameters": {"contract_version": numbers.get(terms.contract_version_id),
                           "exchange_version": numbers.get(terms.exchange_version_id),
                           "volatility_band": terms.band, "multiplier": terms.multiplier,
                           "proposed_version": version_id}}
