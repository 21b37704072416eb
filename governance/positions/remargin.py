"""Set-based re-margining of a range of positions: one SQL statement per chunk.

On PostgreSQL the margin math runs in the statement itself, in exact `numeric`,
mirroring `governance.margin` (its reference; tests compare the two on thousands of
positions): tier by notional, requirements rounded on the exchange's side, the
liquidation tier found by the surplus at each cap, the liquidation price rounded to the
tick towards the entry price. The same statement stamps the versions applied and
appends a margin event for every status change, so a chunk is all or nothing and
running it twice changes nothing the second time.

SQLite (the embedded default) has no exact decimal arithmetic: there the engine computes
the chunk in Python and one UPDATE ... FROM (VALUES ...) writes it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from governance.margin import NotionalBeyondTiers, Position as EnginePosition, requirements_compute
from governance.positions.models import PositionStatus
from governance.positions.terms import ContractTerms

# A status change that is not news: a new position computed for the first time as healthy.
_QUIET = ("pending", "healthy")


@dataclass(frozen=True)
class ChunkResult:
    positions: int
    events: int


def _terms_json(terms: dict[str, ContractTerms]) -> tuple[str, str]:
    contracts, tiers = [], []
    for t in terms.values():
        contracts.append({"symbol": t.symbol, "contract_size": str(t.contract_size), "tick": str(t.tick_size),
                          "threshold": str(t.margin_call_threshold), "band": t.band,
                          "multiplier": str(t.multiplier), "cv": t.contract_version_id, "ev": t.exchange_version_id})
        for tier, leverage in zip(t.schedule, t.leverages, strict=True):
            # the initial rate multiplier / leverage may not terminate: SQL divides last, exactly
            capped = tier.initial_margin_rate == 1
            tiers.append({"symbol": t.symbol, "number": tier.number, "floor": str(tier.floor), "cap": str(tier.cap),
                          "imr_num": "1" if capped else str(t.multiplier), "imr_den": "1" if capped else str(leverage),
                          "mmr": str(tier.maintenance_margin_rate), "cum": str(tier.maintenance_amount)})
    return json.dumps(contracts), json.dumps(tiers)


# The computation, shared by the re-margining UPDATE and the impact preview's SELECT.
# Mirrors governance/margin: requirements.py, liquidation.py, numbers.py.
COMPUTE_CTES = """
c AS (
  SELECT * FROM jsonb_to_recordset(%(contracts)s::jsonb) AS c(
    symbol text, contract_size numeric, tick numeric, threshold numeric, band int, multiplier numeric,
    cv bigint, ev bigint)
), t AS (
  SELECT * FROM jsonb_to_recordset(%(tiers)s::jsonb) AS t(
    symbol text, number int, floor numeric, cap numeric, imr_num numeric, imr_den numeric, mmr numeric,
    cum numeric)
), p AS (
  SELECT p.id, p.account_id, p.symbol, p.side, p.status AS old_status, p.entry_price AS ep,
         p.isolated_margin AS wb, p.quantity * c.contract_size AS q,
         COALESCE(m.mark_price, p.entry_price) AS px,
         p.initial_margin AS old_im, p.maintenance_margin AS old_mm, p.liquidation_price AS old_lp,
         c.tick, c.threshold, c.band, c.multiplier, c.cv, c.ev
  FROM positions_position p
  JOIN c ON c.symbol = p.symbol
  LEFT JOIN positions_marketdata m ON m.symbol = p.symbol
  WHERE p.id BETWEEN %(first)s AND %(last)s AND (%(ids)s::bigint[] IS NULL OR p.id = ANY(%(ids)s::bigint[]))
), r AS (
  SELECT p.*, p.q * p.px AS notional, t.number AS tier,
         CEIL((p.q * p.px * t.imr_num)::numeric(200, 80) / t.imr_den * 100000000) * 0.00000001 AS im,
         CEIL((p.q * p.px * t.mmr - t.cum) * 100000000) * 0.00000001 AS mm,
         FLOOR((p.wb + CASE WHEN p.side = 'long' THEN p.q * (p.px - p.ep) ELSE p.q * (p.ep - p.px) END)
               * 100000000) * 0.00000001 AS bal
  FROM p LEFT JOIN t ON t.symbol = p.symbol AND p.q * p.px <= t.cap AND (p.q * p.px > t.floor OR t.number = 1)
), l AS (
  SELECT DISTINCT ON (p.id) p.id,
         CASE WHEN p.side = 'long'
              THEN (p.wb + t.cum - p.q * p.ep)::numeric(200, 80) / (p.q * (t.mmr - 1))
              ELSE (p.wb + t.cum + p.q * p.ep)::numeric(200, 80) / (p.q * (1 + t.mmr)) END AS lp_exact
  FROM p JOIN t ON t.symbol = p.symbol
  WHERE NOT (p.side = 'long' AND p.wb >= p.q * p.ep)
    AND CASE WHEN p.side = 'long'
             THEN p.wb + (t.cap - p.q * p.ep) - (t.cap * t.mmr - t.cum) >= 0
             ELSE p.wb + (p.q * p.ep - t.cap) - (t.cap * t.mmr - t.cum) <= 0 END
  ORDER BY p.id, t.number
), x AS (
  SELECT r.*,
         CASE WHEN r.tier IS NOT NULL AND r.bal > 0
              THEN CEIL(r.mm::numeric(200, 80) / r.bal * 100000000) * 0.00000001 END AS ratio,
         CASE WHEN r.tier IS NULL OR l.lp_exact IS NULL THEN NULL
              WHEN l.lp_exact < r.ep THEN CEIL(l.lp_exact / r.tick) * r.tick
              ELSE FLOOR(l.lp_exact / r.tick) * r.tick END AS lp
  FROM r LEFT JOIN l ON l.id = r.id
), s AS (
  SELECT x.*,
         CASE WHEN x.tier IS NULL THEN 'beyond_tiers'
              WHEN x.bal <= 0 OR x.ratio >= 1 THEN 'liquidatable'
              WHEN x.ratio >= x.threshold THEN 'margin_call'
              ELSE 'healthy' END AS new_status
  FROM x
)"""

_PG_REMARGIN = "WITH " + COMPUTE_CTES + """, u AS (
  UPDATE positions_position AS pp SET
    notional = s.notional, tier = s.tier, initial_margin = s.im, maintenance_margin = s.mm,
    margin_balance = CASE WHEN s.tier IS NULL THEN NULL ELSE s.bal END, margin_ratio = s.ratio,
    liquidation_price = s.lp, status = s.new_status, contract_version_id = s.cv, exchange_version_id = s.ev,
    volatility_band = s.band, multiplier = s.multiplier, rollout_id = %(rollout)s, computed_at = %(now)s
  FROM s WHERE pp.id = s.id
  RETURNING pp.id, pp.account_id, pp.symbol, s.old_status, pp.status, pp.margin_ratio,
            pp.contract_version_id, pp.exchange_version_id
), e AS (
  INSERT INTO positions_marginevent (position_id, account_id, symbol, old_status, new_status, margin_ratio,
                                     contract_version_id, exchange_version_id, rollout_id, at)
  SELECT id, account_id, symbol, old_status, status, margin_ratio, contract_version_id, exchange_version_id,
         %(rollout)s, %(now)s
  FROM u WHERE old_status <> status AND NOT (old_status = %(quiet_old)s AND status = %(quiet_new)s)
  ORDER BY id
  RETURNING 1
)
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM e)"""


def chunk_remargin(*, first_id: int, last_id: int, terms: dict[str, ContractTerms], rollout_id: int | None,
                   now: datetime, ids: list[int] | None = None) -> ChunkResult:
    """Re-margin positions with first_id <= id <= last_id (and in `ids`, when given) of the
    contracts in `terms`.

    Call inside a transaction. Positions of contracts outside `terms` are not touched.
    """
    if not terms:
        return ChunkResult(0, 0)
    if connection.vendor == "postgresql":
        contracts, tiers = _terms_json(terms)
        with connection.cursor() as cursor:
            cursor.execute(_PG_REMARGIN, {"contracts": contracts, "tiers": tiers, "first": first_id,
                                          "last": last_id, "ids": ids, "rollout": rollout_id, "now": now,
                                          "quiet_old": _QUIET[0], "quiet_new": _QUIET[1]})
            positions, events = cursor.fetchone()
        return ChunkResult(positions, events)
    return _chunk_remargin_by_engine(first_id=first_id, last_id=last_id, terms=terms, rollout_id=rollout_id, now=now,
                                     ids=ids)


def position_compute(row: dict, terms: ContractTerms, mark_price: Decimal | None) -> dict:
    """One position through the engine: the columns the re-margining writes."""
    position = EnginePosition(side=row["side"], quantity=Decimal(row["quantity"]),
                              entry_price=Decimal(row["entry_price"]), isolated_margin=Decimal(row["isolated_margin"]),
                              contract_size=terms.contract_size, mark_price=mark_price)
    out = {"contract_version_id": terms.contract_version_id, "exchange_version_id": terms.exchange_version_id,
           "volatility_band": terms.band, "multiplier": terms.multiplier}
    try:
        result = requirements_compute(position=position, schedule=terms.schedule,
                                      margin_call_threshold=terms.margin_call_threshold, tick_size=terms.tick_size)
    except NotionalBeyondTiers:
        return {**out, "notional": position.size * position.price, "tier": None, "initial_margin": None,
                "maintenance_margin": None, "margin_balance": None, "margin_ratio": None, "liquidation_price": None,
                "status": PositionStatus.BEYOND_TIERS.value}
    return {**out, "notional": result.notional, "tier": result.tier, "initial_margin": result.initial_margin,
            "maintenance_margin": result.maintenance_margin, "margin_balance": result.margin_balance,
            "margin_ratio": result.margin_ratio, "liquidation_price": result.liquidation_price,
            "status": result.status}


_COLUMNS = ("notional", "tier", "initial_margin", "maintenance_margin", "margin_balance", "margin_ratio",
            "liquidation_price", "status", "contract_version_id", "exchange_version_id", "volatility_band",
            "multiplier")


def _sql_value(value):
    return str(value) if isinstance(value, Decimal) else value


def _chunk_remargin_by_engine(*, first_id: int, last_id: int, terms: dict[str, ContractTerms],
                              rollout_id: int | None, now: datetime, ids: list[int] | None) -> ChunkResult:
    from governance.positions.models import MarketData, Position

    marks = dict(MarketData.objects.filter(symbol__in=list(terms)).values_list("symbol", "mark_price"))
    scope = Position.objects.filter(id__gte=first_id, id__lte=last_id, symbol__in=list(terms))
    if ids is not None:
        scope = scope.filter(id__in=ids)
    rows = list(scope.values(
        "id", "account_id", "symbol", "side", "quantity", "entry_price", "isolated_margin", "status"))
    if not rows:
        return ChunkResult(0, 0)
    computed = [(row, position_compute(row, terms[row["symbol"]], marks.get(row["symbol"]))) for row in rows]
    events = 0
    for start in range(0, len(computed), _SQLITE_BATCH):  # SQLite caps the variables of one statement
        events += _engine_rows_write(computed[start:start + _SQLITE_BATCH], rollout_id=rollout_id, now=now)
    return ChunkResult(len(rows), events)


_SQLITE_BATCH = 1000


def _engine_rows_write(computed: list[tuple[dict, dict]], *, rollout_id: int | None, now: datetime) -> int:
    params: list = []
    for row, values in computed:
        params.extend([row["id"], *(_sql_value(values[c]) for c in _COLUMNS)])
    placeholders = ", ".join(["(" + ", ".join(["%s"] * (len(_COLUMNS) + 1)) + ")"] * len(computed))
    assignments = ", ".join(f"{c} = v.column{i + 2}" for i, c in enumerate(_COLUMNS))
    events = [(row, values) for row, values in computed
              if row["status"] != values["status"] and (row["status"], values["status"]) != _QUIET]
    with connection.cursor() as cursor:
        if events:
            event_rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(events))
            cursor.execute(
                "INSERT INTO positions_marginevent (position_id, account_id, symbol, old_status, new_status, "
                "margin_ratio, contract_version_id, exchange_version_id, rollout_id, at) VALUES " + event_rows,
                [x for row, v in events for x in (row["id"], row["account_id"], row["symbol"], row["status"],
                                                   v["status"], _sql_value(v["margin_ratio"]),
                                                   v["contract_version_id"], v["exchange_version_id"], rollout_id,
                                                   now)])
        cursor.execute(
            f"UPDATE positions_position SET {assignments}, rollout_id = %s, computed_at = %s "
            f"FROM (VALUES {placeholders}) AS v WHERE positions_position.id = v.column1",
            [rollout_id, now, *params])
    return len(events)
